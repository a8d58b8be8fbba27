//! A user-written handler under test: the way a team checks its own
//! consumer logic with faultline.
//!
//! `InMemoryDedup` remembers the message ids it has handled in a field. It
//! looks idempotent, and it is, until the process crashes: the field is
//! gone, the uncommitted batch comes back, and every payment in it is
//! credited twice. `StoreDedup` keeps the ids in the store, in the same
//! transaction as the credit, and survives the same crashes.

mod common;

use std::collections::BTreeSet;

use faultline::checkers::Invariant;
use faultline::models::MessageId;
use faultline::{CommitMode, Delivery, Handler, HandlerCx, Outcome, Registry};

/// Credits each payment to its account, skipping ids it remembers in memory.
#[derive(Default)]
struct InMemoryDedup {
    seen: BTreeSet<MessageId>,
}

impl Handler for InMemoryDedup {
    fn handle(&mut self, d: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome {
        if self.seen.contains(&d.message_id) {
            return Outcome::Ok;
        }
        cx.transaction("credit", |tx| {
            tx.add("balance", d.entity, d.value);
        });
        self.seen.insert(d.message_id);
        Outcome::Ok
    }
}

/// Credits each payment once: the dedup row is written in the same
/// transaction as the credit.
#[derive(Default)]
struct StoreDedup;

impl Handler for StoreDedup {
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

/// Writes an order row, then (in a second transaction) the order's total;
/// on redelivery it skips orders it has a row for. A crash between the two
/// transactions leaves an order without its total, and the redelivery does
/// not repair it: nothing is applied twice, yet the store is not what
/// handling each message once gives.
#[derive(Default)]
struct TwoStepSkipsKnownOrders;

impl Handler for TwoStepSkipsKnownOrders {
    fn handle(&mut self, d: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome {
        if cx.get("orders", d.message_id).is_some() {
            return Outcome::Ok;
        }
        cx.transaction("order", |tx| tx.put("orders", d.message_id, d.value));
        cx.transaction("total", |tx| {
            tx.add("totals", d.entity, d.value);
        });
        Outcome::Ok
    }
}

/// Panics on one message, as buggy code does.
#[derive(Default)]
struct PanicsOnM7;

impl Handler for PanicsOnM7 {
    fn handle(&mut self, d: &Delivery<'_>, _cx: &mut HandlerCx<'_>) -> Outcome {
        assert!(
            d.message_id != MessageId(7),
            "cannot parse payment {}",
            d.message_id
        );
        Outcome::Ok
    }
}

/// Crashes a consumer after it handled a batch and before it committed,
/// and again later in the run; everything must hold.
fn scenario(handler: &str) -> String {
    format!(
        r#"
name = "payments under consumer crashes"
seed = 3

[topology]
brokers = 3
topics = [{{ name = "payments", partitions = 4 }}]

[workload]
records = 300
keys = 20
rate_per_sec = 50

[[consumers]]
group = "ledger"
members = 2
handler = "{handler}"
auto_offset_reset = "earliest"
max_poll_records = 20
session_timeout_ms = 6000
heartbeat_interval_ms = 1000

[[faults.timeline]]
at_ms = 0
crash = "c1"
point = "after-handle-before-commit"
restart_after_ms = 500

[[faults.timeline]]
at_ms = 4000
crash = "c2"
point = "after-handle-before-commit"
restart_after_ms = 500
"#
    )
}

fn registry() -> Registry {
    let mut r = Registry::with_built_ins();
    r.register(
        "in-memory-dedup",
        CommitMode::AfterBatch,
        InMemoryDedup::default,
    )
    .register("store-dedup", CommitMode::AfterBatch, StoreDedup::default)
    .register("panics-on-m7", CommitMode::AfterBatch, PanicsOnM7::default)
    .register(
        "two-step",
        CommitMode::AfterBatch,
        TwoStepSkipsKnownOrders::default,
    );
    r
}

#[test]
fn in_memory_dedup_is_caught_applying_payments_twice() {
    let (_, setup) = common::parse_with("payments.toml", &scenario("in-memory-dedup"), &registry());
    for seed in 0..10 {
        let run = faultline::run(&setup, seed);
        assert!(!run.verdict.pass, "seed {seed}: the broken handler passed");
        assert!(run.checked.violated(Invariant::ExactlyOnce), "seed {seed}");
        assert!(run.checked.violated(Invariant::Idempotent), "seed {seed}");
        assert!(!run.checked.violated(Invariant::NoLoss), "seed {seed}");
        let f = run
            .checked
            .findings
            .iter()
            .find(|f| f.invariant == Invariant::ExactlyOnce)
            .expect("a finding with a witness");
        assert!(f.summary.contains("effect `credit`"), "{}", f.summary);
        assert!(
            f.explanation
                .iter()
                .any(|l| l.contains("crashed at after-handle-before-commit"))
        );
    }
}

#[test]
fn store_dedup_passes_the_same_crashes() {
    let (_, setup) = common::parse_with("payments.toml", &scenario("store-dedup"), &registry());
    for seed in 0..10 {
        let run = faultline::run(&setup, seed);
        assert!(
            run.verdict.pass,
            "seed {seed}: {:?}",
            run.checked.findings.first().map(|f| &f.summary)
        );
        // The crashes did cause redeliveries: the test could have failed.
        assert!(
            run.checked
                .info
                .iter()
                .any(|i| i.kind == "duplicate-delivery"),
            "seed {seed}"
        );
    }
}

#[test]
fn a_panicking_handler_is_a_finding_with_its_seed_not_a_crash_of_the_harness() {
    let (_, setup) = common::parse_with("payments.toml", &scenario("panics-on-m7"), &registry());
    let run = faultline::run(&setup, 11);
    assert!(run.checked.violated(Invariant::NoPanic));
    let f = run
        .checked
        .findings
        .iter()
        .find(|f| f.invariant == Invariant::NoPanic)
        .unwrap();
    assert!(
        f.summary.contains("cannot parse payment m7"),
        "{}",
        f.summary
    );
    assert_eq!(f.msg, Some(MessageId(7)));
    // The run went on: the other payments were handled.
    assert!(!run.checked.violated(Invariant::Liveness));
}

#[test]
fn a_step_cut_short_by_a_crash_and_never_repaired_is_not_idempotent() {
    let text = scenario("two-step").replace("after-handle-before-commit", "mid-handle");
    let (_, setup) = common::parse_with("orders.toml", &text, &registry());
    for seed in 0..5 {
        let run = faultline::run(&setup, seed);
        // Each label applied at most once: exactly-once holds...
        assert!(!run.checked.violated(Invariant::ExactlyOnce), "seed {seed}");
        // ...but the total of the cut-short order is missing for good.
        assert!(run.checked.violated(Invariant::Idempotent), "seed {seed}");
        let f = run
            .checked
            .findings
            .iter()
            .find(|f| f.invariant == Invariant::Idempotent)
            .unwrap();
        assert!(
            f.explanation.iter().any(|l| l.starts_with("totals[")),
            "{:?}",
            f.explanation
        );
        let cut = run
            .sim
            .history
            .events
            .iter()
            .filter(|e| matches!(e.kind, faultline::models::EventKind::CutShort { .. }))
            .count();
        assert!(cut > 0, "seed {seed}: the crash cut a step short");
    }
}

// ----- the idempotence check on handlers that depend on more than the
// message: time, attempts, what was applied before -----

/// Store-dedup that also records when it processed each message, and
/// notifies once.
#[derive(Default)]
struct InboxWithTimestamp;

impl Handler for InboxWithTimestamp {
    fn handle(&mut self, d: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome {
        let now = cx.now().as_us() as i64;
        let fresh = cx.transaction("credit", |tx| {
            if tx.contains("processed", d.message_id) {
                return false;
            }
            tx.put("processed", d.message_id, now);
            tx.add("balance", d.entity, d.value);
            true
        });
        if fresh {
            cx.emit("notify");
        }
        Outcome::Ok
    }
}

/// Fails the first attempt of every record (a transient error), then
/// applies it once.
#[derive(Default)]
struct RetryOnce;

impl Handler for RetryOnce {
    fn handle(&mut self, d: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome {
        if d.attempt == 1 {
            return Outcome::Retry;
        }
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

/// Skips every message until m0 has been applied (dedups in the store):
/// whether a message counts depends on when it arrives, so a redelivery
/// can change the outcome.
#[derive(Default)]
struct GateOnM0;

impl Handler for GateOnM0 {
    fn handle(&mut self, d: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome {
        if d.message_id != MessageId(0) && cx.get("ready", 0i64).is_none() {
            return Outcome::Ok;
        }
        cx.transaction("credit", |tx| {
            if tx.contains("processed", d.message_id) {
                return;
            }
            tx.put("processed", d.message_id, 1);
            tx.add("balance", d.entity, d.value);
            if d.message_id == MessageId(0) {
                tx.put("ready", 0i64, 1);
            }
        });
        Outcome::Ok
    }
}

fn more_handlers() -> Registry {
    let mut r = registry();
    r.register(
        "inbox-ts",
        CommitMode::AfterBatch,
        InboxWithTimestamp::default,
    )
    .register("retry-once", CommitMode::AfterBatch, RetryOnce::default)
    .register("gate", CommitMode::AfterBatch, GateOnM0::default);
    r
}

#[test]
fn a_time_stamping_inbox_is_idempotent_wherever_it_crashes() {
    for point in ["after-handle-before-commit", "mid-handle"] {
        let text = scenario("inbox-ts").replace("after-handle-before-commit", point);
        let (_, setup) = common::parse_with("ts.toml", &text, &more_handlers());
        for seed in 0..5 {
            let run = faultline::run(&setup, seed);
            assert!(
                !run.checked.violated(Invariant::Idempotent),
                "{point} seed {seed}: {:?}",
                run.checked.findings.first().map(|f| &f.explanation)
            );
        }
    }
}

#[test]
fn retrying_before_applying_is_idempotent() {
    let (_, setup) = common::parse_with("retry.toml", &scenario("retry-once"), &more_handlers());
    for seed in 0..5 {
        let run = faultline::run(&setup, seed);
        assert!(
            run.verdict.pass,
            "seed {seed}: {:?}",
            run.checked.findings.first().map(|f| &f.summary)
        );
    }
}

#[test]
fn the_idempotence_shortcut_never_hides_a_difference_the_replay_would_show() {
    use faultline::checkers::{Index, idempotent};
    use faultline::models::GroupId;
    let (_, setup) = common::parse_with("gate.toml", &scenario("gate"), &more_handlers());
    let mut differing = 0;
    for seed in 0..40 {
        let run = faultline::run(&setup, seed);
        let names = run.sim.names();
        let ix = Index::build(names.history, names.layout);
        let reference =
            idempotent::reference_store(&ix, &names, &run.sim.world, 0).expect("the factory works");
        let replay_differs = !run.sim.world.store(GroupId(0)).diff(&reference).is_empty();
        differing += usize::from(replay_differs);
        assert_eq!(
            run.checked.violated(Invariant::Idempotent),
            replay_differs,
            "seed {seed}: the checker and the replay disagree"
        );
    }
    assert!(
        differing > 0,
        "the gate handler should sometimes not be idempotent"
    );
}
