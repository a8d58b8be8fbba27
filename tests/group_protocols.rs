//! The group-protocol scenarios (`scenarios/kafka/`): each incident meets
//! its `expect` across a range of seeds, its twin holds every invariant
//! across the same faults, and the histories show why (rebalances, a
//! static member's rejoin without one, or a cooperative rebalance that
//! keeps the unmoved partitions flowing).

mod common;

use common::{load, unmet};
use faultline_models::event::{Event, EventKind};
use faultline_models::{NodeId, SimTime};

/// `(incident, its twin)`.
const PAIRS: [(&str, &str); 2] = [
    ("restart-rebalance", "restart-static-member"),
    ("scale-out-eager", "scale-out-cooperative"),
];

/// Seeds per scenario.
const SEEDS: u64 = 30;

fn path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/kafka")
        .join(format!("{name}.toml"))
}

/// Per seed: generations started, static rejoins, and records handed to
/// any handler more than a second after the restart.
type Counts = (usize, usize, usize);

/// Unmet expectations over `seeds`, and per seed its [`Counts`].
fn runs(name: &str, seeds: u64) -> (Vec<String>, Vec<Counts>) {
    let path = path(name);
    let (_, setup) = load(&path);
    let mut misses = Vec::new();
    let mut counts = Vec::new();
    for seed in 0..seeds {
        let run = faultline::run(&setup, seed);
        misses.extend(unmet(&path, seed, &run));
        let events = &run.sim.history.events;
        let count = |f: fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
        let restarted = events
            .iter()
            .find(|e| matches!(e.kind, EventKind::Restarted { .. }))
            .map(|e| e.time)
            .expect("the scenario restarts a consumer");
        let later = events
            .iter()
            .filter(|e| {
                matches!(e.kind, EventKind::Delivered { .. })
                    && e.time > restarted + SimTime::from_ms(1_000)
            })
            .count();
        counts.push((
            count(|k| matches!(k, EventKind::GenerationStarted { .. })),
            count(|k| matches!(k, EventKind::StaticMemberRejoined { .. })),
            later,
        ));
    }
    (misses, counts)
}

#[test]
fn incidents_and_twins_meet_their_expectations_across_seeds() {
    let mut failures = Vec::new();
    for (incident, twin) in PAIRS {
        failures.extend(runs(incident, SEEDS).0);
        failures.extend(runs(twin, SEEDS).0);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The dynamic restart starts a rebalance that nobody consumes through
/// (it waits for the old member's session to expire, after the liveness
/// bound, so no second generation starts); the static restart keeps
/// generation 1, shows one rejoin, and both members go on consuming.
#[test]
fn a_static_restart_keeps_the_generation_and_a_dynamic_one_stops_the_group() {
    let (_, dynamic) = runs("restart-rebalance", 10);
    let (_, fixed) = runs("restart-static-member", 10);
    for (seed, &(generations, rejoins, later)) in dynamic.iter().enumerate() {
        assert_eq!((generations, rejoins, later), (1, 0, 0), "seed {seed}");
    }
    for (seed, &(generations, rejoins, later)) in fixed.iter().enumerate() {
        assert_eq!((generations, rejoins), (1, 1), "seed {seed}");
        assert!(later > 0, "seed {seed}: nothing consumed after the restart");
    }
}

/// What one run of a scale-out scenario shows: the generations started
/// after c3 came up, the incremental revokes and assigns, and the longest
/// stretch in which c1 (neither slow nor new) handled nothing, from c3's
/// start until the last of those generations.
struct ScaleOut {
    generations: usize,
    revokes: usize,
    assigns: usize,
    c1_stop: SimTime,
}

fn scale_out(name: &str, seed: u64) -> ScaleOut {
    let (_, setup) = load(&path(name));
    let run = faultline::run(&setup, seed);
    let names = run.sim.names();
    let c1 = (0..u16::MAX)
        .map(NodeId)
        .find(|&n| names.node(n) == "c1")
        .expect("the scenario has a c1");
    let events: &[Event] = &run.sim.history.events;
    let joined = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Restarted { .. }))
        .map(|e| e.time)
        .expect("c3 comes up");
    let started: Vec<SimTime> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::GenerationStarted { .. }) && e.time > joined)
        .map(|e| e.time)
        .collect();
    let done = *started.last().expect("the join completes a rebalance");
    let mut c1_stop = SimTime::ZERO;
    let mut last = joined;
    for e in events {
        if let EventKind::Delivered { consumer, .. } = e.kind
            && consumer == c1
            && e.time > joined
            && e.time <= done
        {
            c1_stop = c1_stop.max(e.time.since(last));
            last = e.time;
        }
    }
    c1_stop = c1_stop.max(done.since(last));
    let count = |f: fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
    ScaleOut {
        generations: started.len(),
        revokes: count(|k| matches!(k, EventKind::IncrementalRevoke { .. })),
        assigns: count(|k| matches!(k, EventKind::IncrementalAssign { .. })),
        c1_stop,
    }
}

/// When c3 joins while c2 is busy with a slow batch, the eager rebalance
/// takes one generation and c1 handles nothing for seconds (it revoked
/// everything and waits for c2); the cooperative one takes two (a revoke
/// round, then an assign round handing c3 the two partitions c1 and c2
/// gave up), and c1 never stops for long.
#[test]
fn an_eager_rebalance_stops_every_member_and_a_cooperative_one_does_not() {
    for seed in 0..10 {
        let eager = scale_out("scale-out-eager", seed);
        assert_eq!(
            (eager.generations, eager.revokes, eager.assigns),
            (1, 0, 0),
            "eager, seed {seed}"
        );
        assert!(
            eager.c1_stop >= SimTime::from_ms(2_000),
            "eager, seed {seed}: c1 stopped for only {}",
            eager.c1_stop
        );
        let coop = scale_out("scale-out-cooperative", seed);
        assert_eq!(
            (coop.generations, coop.revokes, coop.assigns),
            (2, 2, 2),
            "cooperative, seed {seed}"
        );
        assert!(
            coop.c1_stop < SimTime::from_ms(500),
            "cooperative, seed {seed}: c1 stopped for {}",
            coop.c1_stop
        );
    }
}
