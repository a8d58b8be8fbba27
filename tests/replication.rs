//! The replication incidents (`scenarios/incidents/`): each meets its
//! `expect` across a range of seeds, and each safe twin, under the same
//! faults, holds every invariant across a wider one. `faultline explore`
//! checks thousands of seeds (see the README); these ranges keep the test
//! suite fast.

mod common;

use common::{load, unmet};

/// `(incident, its safe twin)`.
const PAIRS: [(&str, &str); 8] = [
    ("acks1-failover", "acks1-failover-acks-all"),
    ("unclean-election", "unclean-election-disabled"),
    ("isr-shrink-isolate", "isr-shrink-isolate-min-isr-2"),
    ("retry-reorder", "retry-reorder-idempotent"),
    ("retry-duplicate", "retry-duplicate-idempotent"),
    ("producer-restart", "producer-restart-transactional"),
    ("zombie-producer", "zombie-producer-fenced"),
    ("read-uncommitted-aborted", "read-committed-aborted"),
];

/// Seeds per incident and per safe twin.
const INCIDENT_SEEDS: u64 = 40;
const TWIN_SEEDS: u64 = 100;

fn misses(name: &str, seeds: u64) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/incidents")
        .join(format!("{name}.toml"));
    let (_, setup) = load(&path);
    (0..seeds)
        .flat_map(|seed| unmet(&path, seed, &faultline::run(&setup, seed)))
        .collect()
}

#[test]
fn incidents_meet_their_expectations_across_seeds() {
    let failures: Vec<String> = PAIRS
        .iter()
        .map(|(incident, _)| *incident)
        .flat_map(|incident| misses(incident, INCIDENT_SEEDS))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn safe_twins_hold_every_invariant_across_seeds() {
    let mut twins: Vec<&str> = PAIRS.iter().map(|(_, twin)| *twin).collect();
    twins.sort_unstable();
    twins.dedup();
    let failures: Vec<String> = twins
        .iter()
        .flat_map(|twin| misses(twin, TWIN_SEEDS))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
