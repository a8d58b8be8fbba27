//! The group-protocol scenarios (`scenarios/kafka/`): each incident meets
//! its `expect` across a range of seeds, its twin holds every invariant
//! across the same faults, and the histories show why (rebalances, or a
//! static member's rejoin without one).

mod common;

use common::{load, unmet};
use faultline_models::SimTime;
use faultline_models::event::EventKind;

/// `(incident, its twin)`.
const PAIRS: [(&str, &str); 1] = [("restart-rebalance", "restart-static-member")];

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
            .expect("the scenario restarts c1");
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
