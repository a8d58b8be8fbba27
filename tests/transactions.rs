//! Transactions (`scenarios/incidents/`): what the histories show beyond
//! the verdicts. A restarted transactional producer keeps its producer id
//! and bumps its epoch, and the coordinator aborts its open transaction; a
//! zombie instance is fenced and appends nothing after it learns so; a
//! read_committed consumer is never handed an aborted record, and the
//! markers take offsets.

mod common;

use common::load;
use faultline_models::NodeId;
use faultline_models::event::{AbortReason, EventKind};

/// Seeds per scenario.
const SEEDS: u64 = 20;

fn run(name: &str, seed: u64) -> faultline::Run {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/incidents")
        .join(format!("{name}.toml"));
    let (_, setup) = load(&path);
    faultline::run(&setup, seed)
}

#[test]
fn a_restarted_transactional_producer_keeps_its_id_and_bumps_its_epoch() {
    for seed in 0..SEEDS {
        let run = run("producer-restart-transactional", seed);
        let events = &run.sim.history.events;
        let inits: Vec<(u32, u16)> = events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::ProducerInitialized { pid, epoch, .. } => Some((pid, epoch)),
                _ => None,
            })
            .collect();
        assert_eq!(inits.len(), 2, "seed {seed}: {inits:?}");
        assert_eq!(
            inits[0].0, inits[1].0,
            "seed {seed}: the producer id is kept"
        );
        assert!(inits[1].1 > inits[0].1, "seed {seed}: the epoch is bumped");
        assert!(
            events.iter().any(|e| matches!(
                e.kind,
                EventKind::TxnAborted {
                    reason: AbortReason::Init,
                    ..
                }
            )),
            "seed {seed}: the open transaction is aborted at the new initialization"
        );
    }
}

#[test]
fn a_zombie_is_fenced_and_appends_nothing_afterwards() {
    let p1 = NodeId(0);
    for seed in 0..SEEDS {
        let run = run("zombie-producer-fenced", seed);
        let events = &run.sim.history.events;
        let fenced = events
            .iter()
            .position(|e| matches!(e.kind, EventKind::Fenced { producer, .. } if producer == p1))
            .unwrap_or_else(|| panic!("seed {seed}: p1 learns it is fenced"));
        assert!(
            !events[fenced..]
                .iter()
                .any(|e| matches!(e.kind, EventKind::Appended { producer, .. } if producer == p1)),
            "seed {seed}: nothing of p1 is appended once it is fenced"
        );
    }
}

/// Markers and aborts name the instance whose transaction they end: the
/// abort at p2's initialization ends p1's transaction, and every commit
/// after it is p2's.
#[test]
fn markers_name_the_instance_whose_transaction_they_end() {
    let (p1, p2) = (NodeId(0), NodeId(1));
    for seed in 0..SEEDS {
        let run = run("zombie-producer-fenced", seed);
        let events = &run.sim.history.events;
        let init2 = events
            .iter()
            .position(|e| {
                matches!(e.kind, EventKind::ProducerInitialized { producer, .. } if producer == p2)
            })
            .unwrap_or_else(|| panic!("seed {seed}: p2 takes over"));
        for e in &events[..init2] {
            if let EventKind::TxnMarker { producer, .. } | EventKind::TxnAborted { producer, .. } =
                e.kind
            {
                assert_eq!(producer, p1, "seed {seed}: before p2's init, {e:?}");
            }
        }
        let commits: Vec<NodeId> = events[init2..]
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::TxnMarker {
                    producer,
                    commit: true,
                    ..
                } => Some(producer),
                _ => None,
            })
            .collect();
        assert!(!commits.is_empty(), "seed {seed}: p2 commits");
        assert!(
            commits.iter().all(|&p| p == p2),
            "seed {seed}: every commit after p2's init is p2's: {commits:?}"
        );
    }
}

#[test]
fn read_committed_skips_aborted_records_and_markers_take_offsets() {
    for seed in 0..SEEDS {
        let run = run("read-committed-aborted", seed);
        let events = &run.sim.history.events;
        let aborted: Vec<_> = events
            .iter()
            .filter_map(|e| e.kind.aborted_record())
            .collect();
        assert!(!aborted.is_empty(), "seed {seed}: a transaction is aborted");
        for e in events {
            match e.kind {
                EventKind::Delivered {
                    partition, offset, ..
                } => assert!(
                    !aborted.contains(&(partition, offset)),
                    "seed {seed}: an aborted record was delivered"
                ),
                EventKind::TxnMarker {
                    partition, offset, ..
                } => assert!(
                    !events.iter().any(|d| matches!(d.kind,
                        EventKind::Appended { partition: p, offset: o, .. } if p == partition && o == offset)),
                    "seed {seed}: a marker has an offset of its own"
                ),
                _ => {}
            }
        }
    }
}

/// A commit marker on a partition led by a broker other than the
/// coordinator answers the fetches parked there: the committed records are
/// delivered well within `fetch_max_wait` (500 ms) of the marker.
#[test]
fn a_commit_wakes_fetches_parked_on_other_brokers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/regressions/txn-wake-after-markers.toml");
    let (_, setup) = load(&path);
    for seed in 0..10 {
        let run = faultline::run(&setup, seed);
        let events = &run.sim.history.events;
        let mut markers = 0;
        for (i, e) in events.iter().enumerate() {
            let EventKind::TxnMarker {
                partition,
                offset,
                commit: true,
                ..
            } = e.kind
            else {
                continue;
            };
            let delivered = events[i..].iter().find(|d| {
                matches!(d.kind, EventKind::Delivered { partition: p, offset: o, .. } if p == partition && o < offset)
            });
            if let Some(d) = delivered {
                markers += 1;
                assert!(
                    d.time.since(e.time) < faultline_models::SimTime::from_ms(100),
                    "seed {seed}: {partition:?} delivered {:?} after its commit marker",
                    d.time.since(e.time)
                );
            }
        }
        assert!(markers > 0, "seed {seed}: no commit was delivered");
    }
}
