//! Property tests over a user's own handler: the worked example of
//! `faultline::testing`.
//!
//! `CreditTwiceOnRedelivery` credits a payment every time it is delivered.
//! Kafka delivers at least once, so a consumer that crashes after handling
//! a batch and before committing it gets the batch again, and credits it
//! again. Proptest finds a fault plan that shows it and shrinks it to a
//! consumer crash or two, none of which can go. `CreditOnce` writes a
//! dedup row in the same transaction as the credit and passes 256
//! generated fault plans.

use std::sync::LazyLock;

use faultline::checkers::Invariant;
use faultline::testing::{Fault, Harness};
use faultline::{CommitMode, Delivery, Handler, HandlerCx, Outcome, Registry};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestError, TestRng, TestRunner};

/// Credits the payment on every delivery.
#[derive(Default)]
struct CreditTwiceOnRedelivery;

impl Handler for CreditTwiceOnRedelivery {
    fn handle(&mut self, d: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome {
        cx.transaction("credit", |tx| {
            tx.add("balance", d.entity, d.value);
        });
        Outcome::Ok
    }
}

/// Credits each payment once: the dedup row commits with the credit.
#[derive(Default)]
struct CreditOnce;

impl Handler for CreditOnce {
    fn handle(&mut self, d: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome {
        cx.transaction("credit", |tx| {
            if tx.contains("processed", d.message_id) {
                return;
            }
            tx.put("processed", d.message_id, 1);
            tx.add("balance", d.entity, d.value);
        });
        Outcome::Ok
    }
}

fn harness(handler: &str) -> Harness {
    let mut registry = Registry::with_built_ins();
    registry
        .register(
            "credit-twice",
            CommitMode::AfterBatch,
            CreditTwiceOnRedelivery::default,
        )
        .register("credit-once", CommitMode::AfterBatch, CreditOnce::default);
    Harness::new(
        &format!(
            r#"
name = "payments"
seed = 1

[topology]
brokers = 2
topics = [{{ name = "payments", partitions = 2 }}]

[workload]
records = 60
keys = 5
rate_per_sec = 200

[[consumers]]
group = "ledger"
members = 2
handler = "{handler}"
auto_offset_reset = "earliest"
max_poll_records = 10
session_timeout_ms = 3000
heartbeat_interval_ms = 500

[faults]
# Faults end by 3.5 s, while the workload still runs.
window_ms = 3500

# For `seeds()`: each seed draws its own mix within these bounds. Generated
# proptest cases replace this with their explicit fault plan.
[faults.chaos]
loss = 0.01
duplicate = 0.01
consumer_crash = {{ probability = 0.02, restart_after_ms = [100, 1000] }}
"#
        ),
        registry,
    )
    .max_faults(4)
}

static FIXED: LazyLock<Harness> = LazyLock::new(|| harness("credit-once"));

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The fix passes 256 generated workloads and fault plans.
    #[test]
    fn credit_once_keeps_every_invariant(case in FIXED.cases()) {
        FIXED.check(&case)?;
    }
}

/// A runner that persists failures in `file` and runs `cases` new cases,
/// drawn from a fixed seed so the test sees the same cases every time.
fn runner(file: &std::path::Path, cases: u32) -> TestRunner {
    let path: &'static str = Box::leak(file.display().to_string().into_boxed_str());
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))),
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    TestRunner::new_with_rng(config, rng)
}

#[test]
fn credit_twice_is_caught_and_shrunk_to_a_minimal_crash_plan_and_its_regression_file_replays() {
    let broken = harness("credit-twice");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("regressions.txt");

    let result = runner(&file, 256).run(&broken.cases(), |case| broken.check(&case));
    let Err(TestError::Fail(reason, minimal)) = result else {
        panic!("the double-crediting handler passed: {result:?}");
    };
    // Minimal: a consumer crash or two, and no fault can go.
    assert!((1..=2).contains(&minimal.faults.len()), "{minimal:?}");
    assert!(
        minimal
            .faults
            .iter()
            .any(|f| matches!(f, Fault::CrashConsumer { .. })),
        "{minimal:?}"
    );
    let run = broken.run_case(&minimal);
    assert!(run.checked.violated(Invariant::ExactlyOnce), "{minimal:?}");
    for i in 0..minimal.faults.len() {
        let mut fewer = minimal.clone();
        fewer.faults.remove(i);
        assert!(
            broken.run_case(&fewer).verdict.pass,
            "{minimal:?} without fault {i} still fails: not minimal"
        );
    }
    assert!(
        reason.message().contains("exactly-once"),
        "{}",
        reason.message()
    );
    assert!(
        reason.message().contains("[[faults.timeline]]"),
        "the failure carries the case as a scenario file"
    );

    // Proptest saved the failing case's seed; a runner that generates no
    // new cases fails from the regression file alone ...
    let saved = std::fs::read_to_string(&file).expect("proptest wrote the regression file");
    assert!(saved.lines().any(|l| l.starts_with("cc ")), "{saved}");
    let replayed = runner(&file, 0).run(&broken.cases(), |case| broken.check(&case));
    assert!(matches!(replayed, Err(TestError::Fail(..))), "{replayed:?}");
    // ... which it could not do without the file ...
    let empty = dir.path().join("none.txt");
    assert!(
        runner(&empty, 0)
            .run(&broken.cases(), |case| broken.check(&case))
            .is_ok()
    );
    // ... and the fixed handler passes the saved case and 64 new ones.
    let fixed = runner(&file, 64).run(&FIXED.cases(), |case| FIXED.check(&case));
    assert!(fixed.is_ok(), "{fixed:?}");
}

#[test]
fn seeds_api_passes_the_fix_and_reports_the_bug_with_a_replay_command() {
    FIXED.seeds(0..64).assert_hold();

    let broken = harness("credit-twice");
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        broken.seeds(0..64).assert_hold();
    }))
    .expect_err("the double-crediting handler passed");
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("exactly-once"), "{msg}");
    assert!(msg.contains("shrunk to a minimal scenario"), "{msg}");
    assert!(
        msg.contains("FAULTLINE_SEED=") && msg.contains("cargo test"),
        "{msg}"
    );
}
