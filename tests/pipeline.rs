//! Consume-transform-produce stages (`output_topic`): what the histories
//! show beyond the verdicts. Input offsets become committed only through a
//! transaction's commit marker; a zombie member is refused by the group
//! coordinator and its transaction aborted; a member taking over a
//! partition waits for a transaction that holds its offsets to end
//! (KIP-447's `UNSTABLE_OFFSET_COMMIT`).

mod common;

use common::{load, parse_with};
use faultline::Registry;
use faultline_models::event::{AbortReason, EventKind};
use faultline_models::{Event, GroupId, NodeId};

/// Seeds per scenario.
const SEEDS: u64 = 20;

fn run(dir: &str, name: &str, seed: u64) -> faultline::Run {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(dir)
        .join(format!("{name}.toml"));
    let (_, setup) = load(&path);
    let run = faultline::run(&setup, seed);
    let unmet = common::unmet(&path, seed, &run);
    assert!(unmet.is_empty(), "{}", unmet.join("\n"));
    run
}

/// The node of a stage member by name.
fn node(run: &faultline::Run, name: &str) -> NodeId {
    run.sim.world.layout().node_by_name(name).expect("a node")
}

#[test]
fn a_stage_commits_input_offsets_only_with_its_transactions() {
    let enricher = GroupId(0);
    for seed in 0..SEEDS {
        let run = run("kafka", "eos-pipeline", seed);
        let events = &run.sim.history.events;
        let mut commits = 0;
        for (i, e) in events.iter().enumerate() {
            let EventKind::CommitAccepted {
                group, consumer, ..
            } = e.kind
            else {
                continue;
            };
            if group != enricher {
                continue;
            }
            commits += 1;
            // The marker that committed it is written at the same instant,
            // by the same member's transaction, just before.
            let marker = events[..i].iter().rev().take_while(|m| m.time == e.time).any(|m| {
                matches!(m.kind, EventKind::TxnMarker { producer, commit: true, .. } if producer == consumer)
            });
            assert!(marker, "seed {seed}: commit {i} without a commit marker");
        }
        assert!(commits > 0, "seed {seed}: the stage commits");
    }
}

#[test]
fn a_zombie_member_is_refused_and_its_transaction_aborted() {
    for seed in 0..SEEDS {
        let run = run("incidents", "eos-zombie-fenced", seed);
        let c1 = node(&run, "c1");
        let events = &run.sim.history.events;
        let rejected = events
            .iter()
            .position(
                |e| matches!(e.kind, EventKind::CommitRejected { consumer, .. } if consumer == c1),
            )
            .unwrap_or_else(|| panic!("seed {seed}: c1's offsets are refused"));
        let aborted = events[rejected..].iter().any(|e| {
            matches!(
                e.kind,
                EventKind::TxnAborted {
                    producer,
                    reason: AbortReason::Producer,
                    ..
                } if producer == c1
            )
        });
        assert!(aborted, "seed {seed}: c1 aborts its transaction");
        assert!(
            events
                .iter()
                .any(|e| matches!(e.kind, EventKind::RecordAborted { .. })),
            "seed {seed}: the zombie's outputs are aborted"
        );
    }
}

#[test]
fn an_unfenced_zombie_commits_the_same_outputs_again() {
    let run = run("incidents", "eos-zombie-unfenced", 1);
    let first = &run.checked.findings[0];
    assert!(
        first
            .summary
            .starts_with("the output of m81 was committed 2 times by stage enricher"),
        "{}",
        first.summary
    );
    let why = first.explanation.last().expect("an explanation");
    assert!(
        why.starts_with("c1 sent the input offsets to its transaction with the group id only"),
        "{why}"
    );
}

/// c1 crashes with a transaction open that holds its input offsets, and
/// stays down; c2 takes its partition over at the rebalance but waits for
/// the transaction to time out before it reads from the committed offsets
/// (the Java client retries the whole offset fetch).
const WAITS: &str = r#"name = "a new owner waits for pending transactional offsets"
seed = 1

[topology]
brokers = 1
topics = [{ name = "orders", partitions = 2 }, { name = "payments", partitions = 2 }]

[workload]
topic = "orders"
records = 100
keys = 5
rate_per_sec = 100

[[consumers]]
group = "enricher"
members = 2
handler = "forward"
auto_offset_reset = "earliest"
output_topic = "payments"
max_poll_records = 10
session_timeout_ms = 3000
heartbeat_interval_ms = 500
max_poll_interval_ms = 10000
request_timeout_ms = 1000
transaction_timeout_ms = 8000

[[faults.timeline]]
at_ms = 3000
crash = "c1"
point = "after-handle-before-commit"
restart_after_ms = 30000

"#;

#[test]
fn a_new_owner_waits_for_a_transaction_holding_its_offsets() {
    let (_, setup) = parse_with("waits.toml", WAITS, &Registry::with_built_ins());
    for seed in 0..SEEDS {
        let run = faultline::run(&setup, seed);
        let events: &[Event] = &run.sim.history.events;
        let (c1, c2) = (node(&run, "c1"), node(&run, "c2"));
        let crash = events
            .iter()
            .position(|e| matches!(e.kind, EventKind::Crashed { node, .. } if node == c1))
            .unwrap_or_else(|| panic!("seed {seed}: c1 crashes in a transaction"));
        let timeout = events
            .iter()
            .position(|e| {
                matches!(e.kind, EventKind::TxnAborted { producer, reason: AbortReason::Timeout, .. } if producer == c1)
            })
            .unwrap_or_else(|| panic!("seed {seed}: c1's open transaction times out"));
        let taken_over = events[crash..]
            .iter()
            .position(|e| matches!(e.kind, EventKind::GenerationStarted { .. }))
            .map(|i| crash + i)
            .unwrap_or_else(|| panic!("seed {seed}: the group rebalances"));
        assert!(
            taken_over < timeout,
            "seed {seed}: the rebalance comes first"
        );
        let read = events[taken_over..]
            .iter()
            .position(|e| matches!(e.kind, EventKind::Delivered { consumer, .. } if consumer == c2))
            .map(|i| taken_over + i)
            .unwrap_or_else(|| panic!("seed {seed}: c2 reads after the rebalance"));
        assert!(
            read > timeout,
            "seed {seed}: c2 read at event {read}, before c1's transaction ended at {timeout}"
        );
    }
}

/// Two stages in a chain: the second reads the first's transactional
/// output, whose partitions end in commit markers. Its committed offsets
/// must step over them (it commits positions), or it never drains.
const CHAIN: &str = r#"name = "two chained stages"
seed = 1

[topology]
brokers = 1
topics = [{ name = "orders", partitions = 2 }, { name = "a", partitions = 2 }, { name = "b", partitions = 2 }]

[workload]
topic = "orders"
records = 50
keys = 5
rate_per_sec = 100

[[consumers]]
group = "s1"
handler = "forward"
auto_offset_reset = "earliest"
output_topic = "a"

[[consumers]]
group = "s2"
topic = "a"
handler = "forward"
auto_offset_reset = "earliest"
output_topic = "b"

[[consumers]]
group = "ledger"
topic = "b"
handler = "process-then-commit"
auto_offset_reset = "earliest"
isolation_level = "read_committed"

[expect]
hold = ["no-loss", "exactly-once", "per-key-order", "idempotent", "liveness", "aborted-read"]
"#;

#[test]
fn chained_stages_commit_past_the_markers_and_drain() {
    let (_, setup) = parse_with("chain.toml", CHAIN, &Registry::with_built_ins());
    for seed in 0..SEEDS {
        let run = faultline::run(&setup, seed);
        let unmet = common::unmet(std::path::Path::new("chain.toml"), seed, &run);
        assert!(unmet.is_empty(), "{}", unmet.join("\n"));
        let s2 = GroupId(1);
        let a0 = run
            .sim
            .world
            .layout()
            .partitions
            .iter()
            .position(|p| p.name == "a-0")
            .map(|i| faultline_models::PartitionId(i as u16))
            .expect("a-0");
        assert_eq!(
            run.sim.world.committed(s2, a0),
            Some(run.sim.world.visible_end(a0)),
            "seed {seed}: s2's committed offset is the log end, past the last marker"
        );
    }
}

/// A member that sends more than 2^20 requests before it restarts: its
/// transactional requests after the restart are new ones to the
/// coordinator, not copies of old ones (they are numbered apart).
const MANY_REQUESTS: &str = r#"name = "a member restarts after a million requests"
seed = 1

[topology]
brokers = 1
topics = [{ name = "orders", partitions = 32 }, { name = "payments", partitions = 1 }]

[workload]
topic = "orders"
records = 150
keys = 10
rate_per_sec = 1

[[consumers]]
group = "enricher"
handler = "forward"
auto_offset_reset = "earliest"
output_topic = "payments"
fetch_max_wait_ms = 1
request_timeout_ms = 1000

[[faults.timeline]]
at_ms = 130000
crash = "c1"
restart_after_ms = 100

[expect]
hold = ["no-loss", "exactly-once", "liveness"]

[limits]
liveness_ms = 30000
events_max = 50000000
"#;

#[test]
fn a_member_restarting_after_a_million_requests_initializes_again() {
    let (_, setup) = parse_with("many.toml", MANY_REQUESTS, &Registry::with_built_ins());
    let run = faultline::run(&setup, 1);
    let unmet = common::unmet(std::path::Path::new("many.toml"), 1, &run);
    assert!(unmet.is_empty(), "{}", unmet.join("\n"));
    let inits = run
        .sim
        .history
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ProducerInitialized { .. }))
        .count();
    assert_eq!(inits, 2, "initialized at start and after the restart");
}
