//! The bundled scenarios: each meets its `expect` across a range of seeds,
//! and each gives byte-identical output when run twice with one seed.

mod common;

use common::{artifacts, bundled, load};

/// Seeds tried per scenario, besides the file's own.
const SEEDS: u64 = 12;

/// Scenarios with more records than this (the long-run benchmark) are run
/// with their own seed only, and compared run against run in memory rather
/// than through `history.jsonl`, to keep the test suite fast; the standard
/// scenario covers the same settings across seeds.
const LONG_RUN_RECORDS: u32 = 10_000;

fn long_run(setup: &faultline::Setup) -> bool {
    setup.spec().workload.records > LONG_RUN_RECORDS
}

#[test]
fn every_bundled_scenario_meets_its_expectations_across_seeds() {
    let mut failures = Vec::new();
    for path in bundled() {
        let (_, setup) = load(&path);
        let seeds = if long_run(&setup) { 0 } else { SEEDS };
        for seed in std::iter::once(setup.seed).chain(0..seeds) {
            let run = faultline::run(&setup, seed);
            if !run.verdict.pass {
                let missed: Vec<_> = run
                    .verdict
                    .judgements
                    .iter()
                    .filter(|j| !j.met)
                    .map(|j| {
                        format!(
                            "{} (expected {}, {} violations)",
                            j.invariant.name(),
                            j.expect.name(),
                            j.violations
                        )
                    })
                    .collect();
                failures.push(format!(
                    "faultline run {} --seed {seed}: {}",
                    path.display(),
                    missed.join(", ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "expectations not met:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_bundled_scenario_is_byte_identical_when_run_twice() {
    for path in bundled() {
        let (loaded, setup) = load(&path);
        if long_run(&setup) {
            let a = faultline::run(&setup, setup.seed);
            let b = faultline::run(&setup, setup.seed);
            assert!(
                a.sim.history.events == b.sim.history.events && a.checked == b.checked,
                "{}: two runs differ",
                path.display()
            );
            continue;
        }
        for seed in [setup.seed, 7] {
            let (h1, r1) = artifacts(&loaded, &setup, seed);
            let (h2, r2) = artifacts(&loaded, &setup, seed);
            assert!(!h1.is_empty(), "{}: empty history", path.display());
            assert!(
                h1 == h2,
                "{} seed {seed}: history.jsonl differs between two runs",
                path.display()
            );
            assert_eq!(
                r1,
                r2,
                "{} seed {seed}: result.json differs between two runs",
                path.display()
            );
        }
    }
}

#[test]
fn different_seeds_give_different_histories() {
    // A seed must matter: otherwise "reproduce by seed" means nothing.
    let path = bundled()
        .into_iter()
        .find(|p| p.ends_with("bench/standard.toml"))
        .expect("the standard scenario is bundled");
    let (loaded, setup) = load(&path);
    let (a, _) = artifacts(&loaded, &setup, 1);
    let (b, _) = artifacts(&loaded, &setup, 2);
    assert!(a != b);
}

#[test]
fn teaching_scenarios_violate_what_they_teach_and_nothing_else() {
    use faultline::setup::Expect;
    for path in bundled() {
        let (_, setup) = load(&path);
        let run = faultline::run(&setup, setup.seed);
        for j in &run.verdict.judgements {
            match j.expect {
                Expect::Violate => assert!(
                    j.violations > 0,
                    "{}: {} held",
                    path.display(),
                    j.invariant.name()
                ),
                Expect::Hold => assert_eq!(
                    j.violations,
                    0,
                    "{}: {} violated",
                    path.display(),
                    j.invariant.name()
                ),
                Expect::Allow => {}
            }
        }
        // Every finding carries a witness from the history.
        for f in &run.checked.findings {
            assert!(
                !f.witness.is_empty(),
                "{}: finding without witness: {}",
                path.display(),
                f.summary
            );
            assert!(!f.explanation.is_empty());
            assert!(f.witness.iter().all(|&i| i < run.sim.history.events.len()));
        }
    }
}

/// Shrunk findings kept as regressions (`tests/regressions/`): each must
/// now meet its expectations with its own seed.
#[test]
fn saved_regressions_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/regressions exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let (_, setup) = common::load(&path);
        let run = faultline::run(&setup, setup.seed);
        assert!(
            run.verdict.pass,
            "{}: {:?}",
            path.display(),
            run.checked.findings.first().map(|f| &f.summary)
        );
    }
}

/// A duplicate that a producer's restart put in the log is explained as
/// such (not as a retry), with the producer's crash in the witness.
#[test]
fn a_duplicate_from_a_producer_restart_is_explained_by_the_crash() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/incidents/producer-restart.toml");
    let (_, setup) = common::load(&path);
    let run = faultline::run(&setup, 0);
    let f = run
        .checked
        .findings
        .iter()
        .find(|f| f.invariant == faultline::Invariant::ExactlyOnce)
        .expect("the incident violates exactly-once");
    let last = f.explanation.last().unwrap();
    assert!(
        last.contains("its producer crashed before the send was answered"),
        "{last}"
    );
    let events = &run.sim.history.events;
    let names = run.sim.names();
    assert!(
        f.witness.iter().any(|&i| matches!(
            events[i].kind,
            faultline::models::event::EventKind::Crashed { node, .. } if names.node(node) == "p1"
        )),
        "the producer's crash is in the witness: {:?}",
        f.explanation
    );
}

#[test]
fn the_index_shortcuts_of_exactly_once_and_per_key_order_never_hide_a_finding() {
    use faultline::checkers::{Index, exactly_once, per_key_order};
    let mut judged = 0;
    for path in bundled() {
        let (_, setup) = load(&path);
        if long_run(&setup) {
            continue;
        }
        for seed in std::iter::once(setup.seed).chain(0..4) {
            let run = faultline::run(&setup, seed);
            let names = run.sim.names();
            let ix = Index::build(names.history, names.layout);
            let mut full = ix.clone();
            full.one_invocation = false;
            full.in_order = false;
            let at = format!("{} --seed {seed}", path.display());
            let (once, order) = (
                exactly_once::check(&full, &names),
                per_key_order::check(&full, &names),
            );
            judged += usize::from(once.0 > 0) + usize::from(order.0 > 0);
            assert_eq!(exactly_once::check(&ix, &names), once, "{at}");
            assert_eq!(per_key_order::check(&ix, &names), order, "{at}");
            assert!(!ix.one_invocation || once.0 == 0, "{at}");
            assert!(!ix.in_order || order.0 == 0, "{at}");
        }
    }
    assert!(
        judged > 0,
        "no run violated either invariant: the test could not fail"
    );
}
