//! The shrinker: a failing run becomes a minimal standalone scenario that
//! reproduces the violation, deterministically.

mod common;

use std::path::Path;

use faultline::Registry;
use faultline::checkers::Invariant;
use faultline::history::jsonl::write_history;
use faultline::scenario;
use faultline::setup::Setup;
use faultline::shrink::shrink;

fn bundled(name: &str) -> std::path::PathBuf {
    common::bundled()
        .into_iter()
        .find(|p| p.ends_with(name))
        .unwrap_or_else(|| panic!("{name} is bundled"))
}

fn digest_of(file: &scenario::ScenarioFile, seed: u64) -> String {
    let setup = Setup::from_file(file, &Registry::with_built_ins()).expect("valid");
    let run = faultline::run(&setup, seed);
    write_history(&mut std::io::sink(), &run.sim.names()).unwrap()
}

#[test]
fn scenario_files_survive_being_written_back() {
    // The shrinker writes scenarios with serde: what it writes must read
    // back as the same scenario.
    for path in common::bundled() {
        let (loaded, setup) = common::load(&path);
        let text = toml::to_string(&loaded.file).expect("serializable");
        let again = scenario::parse(Path::new("again.toml"), text.clone())
            .unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()));
        assert_eq!(
            digest_of(&loaded.file, setup.seed),
            digest_of(&again.file, setup.seed),
            "{}",
            path.display()
        );
    }
}

#[test]
fn commit_before_process_shrinks_to_the_one_crash_that_loses_records() {
    let (loaded, _) = common::load(&bundled("kafka/commit-before-process.toml"));
    let shrunk = shrink(&loaded.file, &Registry::with_built_ins(), 0, true, None).expect("shrinks");
    assert_eq!(shrunk.invariant, Invariant::NoLoss);
    assert!(
        shrunk.faults_after <= 3,
        "{} faults left",
        shrunk.faults_after
    );
    assert!(
        shrunk.faults_after >= 1,
        "a crash is needed to lose records"
    );
    // The file it writes reproduces the loss on its own.
    let text = shrunk.to_toml("commit-before-process.toml");
    let (_, setup) = Setup::parse(
        Path::new("shrunk.toml"),
        text.clone(),
        &Registry::with_built_ins(),
    )
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let run = faultline::run(&setup, setup.seed);
    assert!(run.checked.violated(Invariant::NoLoss), "{text}");
    assert!(
        run.verdict.pass,
        "a shrunk scenario expects its violation:\n{text}"
    );
}

#[test]
fn a_chaos_failure_shrinks_to_a_few_explicit_faults_deterministically() {
    // The standard chaos scenario with a handler that is not idempotent:
    // some crash repeats an effect.
    let (loaded, _) = common::load(&bundled("bench/standard.toml"));
    let mut file = loaded.file.clone();
    file.consumers[0].handler = "process-then-commit".into();
    let setup = Setup::from_file(&file, &Registry::with_built_ins()).unwrap();
    let seed = (0..50)
        .find(|&s| {
            let plan = faultline::explore::plan_for(&setup, s, true);
            faultline::run::run_with(&setup, &plan, s)
                .checked
                .violated(Invariant::ExactlyOnce)
        })
        .expect("some seed repeats an effect");
    let a = shrink(
        &file,
        &Registry::with_built_ins(),
        seed,
        true,
        Some(Invariant::ExactlyOnce),
    )
    .expect("shrinks");
    assert!(
        a.faults_after < a.faults_before,
        "{} -> {}",
        a.faults_before,
        a.faults_after
    );
    assert!(a.faults_after <= 3, "{} faults left", a.faults_after);
    let records = a.dimensions.iter().find(|d| d.0 == "records").unwrap();
    assert!(records.2 < records.1, "records shrink too: {records:?}");
    let b = shrink(
        &file,
        &Registry::with_built_ins(),
        seed,
        true,
        Some(Invariant::ExactlyOnce),
    )
    .unwrap();
    assert_eq!(a.to_toml("x"), b.to_toml("x"), "shrinking is deterministic");
    let text = a.to_toml("standard.toml");
    let (_, setup) = Setup::parse(
        Path::new("shrunk.toml"),
        text.clone(),
        &Registry::with_built_ins(),
    )
    .unwrap();
    assert!(
        faultline::run(&setup, setup.seed)
            .checked
            .violated(Invariant::ExactlyOnce),
        "{text}"
    );
}

#[test]
fn a_passing_run_has_nothing_to_shrink() {
    let (loaded, setup) = common::load(&bundled("kafka/idempotent-inbox.toml"));
    let err = shrink(
        &loaded.file,
        &Registry::with_built_ins(),
        setup.seed,
        false,
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("nothing to shrink"), "{err}");
}

/// process-then-commit under the full chaos mix: crashes at every point,
/// loss, duplication, delay, reordering, broker crashes and partitions.
const CHAOS: &str = r#"
name = "process-then-commit under chaos"
seed = 1
[topology]
brokers = 2
topics = [{ name = "t", partitions = 3 }]
[workload]
records = 120
keys = 6
rate_per_sec = 400
[[consumers]]
group = "g"
members = 2
handler = "process-then-commit"
auto_offset_reset = "earliest"
max_poll_records = 10
session_timeout_ms = 3000
heartbeat_interval_ms = 500
[faults]
window_ms = 4000
[faults.chaos]
loss = 0.02
duplicate = 0.03
delay = { probability = 0.03, extra_ms = [1, 30] }
reorder = { probability = 0.03, extra_ms = [1, 10] }
consumer_crash = { probability = 0.02, restart_after_ms = [50, 500] }
broker_crash = { mean_interval_ms = 1500, duration_ms = [50, 400] }
partition = { mean_interval_ms = 1500, duration_ms = [50, 400] }
[expect]
allow = ["exactly-once", "idempotent"]
"#;

#[test]
fn a_run_replayed_from_its_realized_timeline_is_the_same_run() {
    use faultline::explore::plan_for;
    use faultline::shrink::realized_file;
    let registry = Registry::with_built_ins();
    let mut files = vec![common::parse_with("chaos.toml", CHAOS, &registry)];
    files.push(common::load(&bundled("bench/standard.toml")));
    let mut faults = 0;
    for ((loaded, setup), seeds) in files.iter().zip([0..24, 0..4]) {
        for seed in seeds {
            for swarm in [false, true] {
                let plan = plan_for(setup, seed, swarm);
                let run = faultline::run_with(setup, &plan, seed);
                let original = write_history(&mut std::io::sink(), &run.sim.names()).unwrap();
                let realized = realized_file(&loaded.file, &run, &plan);
                faults += realized.faults.timeline.len();
                assert_eq!(
                    original,
                    digest_of(&realized, seed),
                    "{} seed {seed} swarm {swarm}: the realized timeline ran differently:\n{}",
                    loaded.path.display(),
                    toml::to_string(&realized.faults).unwrap()
                );
            }
        }
    }
    assert!(faults > 500, "only {faults} faults: the test proves little");
}
