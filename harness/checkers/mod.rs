//! Checkers: pure functions of a run's history that judge one invariant
//! each and return [`Finding`]s with a minimal witness.
//!
//! | invariant | file | what it judges |
//! |---|---|---|
//! | `no-loss` | [`no_loss`] | every acknowledged record is handled to completion (or dead-lettered) by every group |
//! | `exactly-once` | [`exactly_once`] | no effect of a message is applied more than once |
//! | `no-loss`, `exactly-once` | [`pipeline`] | a consume-transform-produce stage commits each input's output exactly once |
//! | `per-key-order` | [`per_key_order`] | each key's messages take effect in the order they were produced |
//! | `idempotent` | [`idempotent`] | the final store equals applying each distinct message once, in order |
//! | `liveness` | [`liveness`] | after faults heal, the group drains within the bound |
//! | `no-panic` | [`no_panic`] | user handler code never panics |
//! | `aborted-read` | [`aborted_read`] | no consumer handles a record of an aborted transaction (G1a); judged only in runs with transactions |
//!
//! Duplicate deliveries are not a violation of anything by themselves
//! (at-least-once delivery is Kafka's contract); [`info`] counts them.

pub mod aborted_read;
pub mod exactly_once;
pub mod idempotent;
pub mod index;
pub mod info;
pub mod liveness;
pub mod no_loss;
pub mod no_panic;
pub mod per_key_order;
pub mod pipeline;

use serde::{Deserialize, Serialize};

use faultline_models::kafka::KafkaWorld;
use faultline_models::{KeyId, MessageId, NodeId, PartitionId};

use crate::engine::RunStats;
use crate::faults::FaultPlan;
use crate::history::Names;

pub use index::Index;

/// A named invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Invariant {
    /// Every acknowledged record is handled.
    NoLoss,
    /// No effect is applied twice.
    ExactlyOnce,
    /// Per-key effects follow production order.
    PerKeyOrder,
    /// Duplicates do not change the final store.
    Idempotent,
    /// The system drains once faults heal.
    Liveness,
    /// Handlers do not panic.
    NoPanic,
    /// No record of an aborted transaction is handled (G1a).
    AbortedRead,
}

impl Invariant {
    /// Every invariant, in report order.
    pub const ALL: [Invariant; 7] = [
        Invariant::NoLoss,
        Invariant::ExactlyOnce,
        Invariant::PerKeyOrder,
        Invariant::Idempotent,
        Invariant::Liveness,
        Invariant::NoPanic,
        Invariant::AbortedRead,
    ];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::NoLoss => "no-loss",
            Invariant::ExactlyOnce => "exactly-once",
            Invariant::PerKeyOrder => "per-key-order",
            Invariant::Idempotent => "idempotent",
            Invariant::Liveness => "liveness",
            Invariant::NoPanic => "no-panic",
            Invariant::AbortedRead => "aborted-read",
        }
    }

    /// One line on what it means.
    pub fn meaning(self) -> &'static str {
        match self {
            Invariant::NoLoss => {
                "every acknowledged record is handled to completion (or dead-lettered) by every consumer group"
            }
            Invariant::ExactlyOnce => "no effect of a message is applied more than once",
            Invariant::PerKeyOrder => {
                "the messages of one key take effect in the order they were produced"
            }
            Invariant::Idempotent => {
                "the final store equals applying each distinct message once, in order"
            }
            Invariant::Liveness => {
                "after faults heal, every group drains (lag 0, all acknowledged records settled) within the bound"
            }
            Invariant::NoPanic => "user handler code never panics",
            Invariant::AbortedRead => {
                "no consumer handles a record of an aborted transaction (G1a, aborted read)"
            }
        }
    }
}

/// One violation, with the events that show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The violated invariant.
    pub invariant: Invariant,
    /// One sentence.
    pub summary: String,
    /// The minimal chain of events, as sentences.
    pub explanation: Vec<String>,
    /// Indices of the witness events in the history, in order.
    pub witness: Vec<usize>,
    /// The message concerned, if one.
    pub msg: Option<MessageId>,
    /// The key concerned, if one.
    pub key: Option<KeyId>,
    /// The partition concerned, if one.
    pub partition: Option<PartitionId>,
    /// Offsets concerned.
    pub offsets: Vec<u64>,
    /// Nodes concerned.
    pub nodes: Vec<NodeId>,
}

impl Finding {
    /// A finding with only a summary; the checker fills in the rest.
    pub fn new(invariant: Invariant, summary: impl Into<String>) -> Finding {
        Finding {
            invariant,
            summary: summary.into(),
            explanation: Vec::new(),
            witness: Vec::new(),
            msg: None,
            key: None,
            partition: None,
            offsets: Vec::new(),
            nodes: Vec::new(),
        }
    }
}

/// Something worth knowing that is not a violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// Kebab-case kind (`duplicate-delivery`, ...).
    pub kind: &'static str,
    /// How many.
    pub count: u64,
    /// One sentence.
    pub summary: String,
    /// A few example events.
    pub examples: Vec<usize>,
}

/// At most this many findings of one invariant are kept with witnesses;
/// the rest are counted.
pub const FINDINGS_PER_INVARIANT_MAX: usize = 10;

/// All findings of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Findings, grouped by invariant in report order, at most
    /// [`FINDINGS_PER_INVARIANT_MAX`] each.
    pub findings: Vec<Finding>,
    /// Total violations per invariant (including ones not kept).
    pub counts: Vec<(Invariant, usize)>,
    /// Information.
    pub info: Vec<Info>,
}

impl Checked {
    /// Whether `inv` was violated.
    pub fn violated(&self, inv: Invariant) -> bool {
        self.count(inv) > 0
    }

    /// How many violations of `inv`.
    pub fn count(&self, inv: Invariant) -> usize {
        self.counts
            .iter()
            .find(|(i, _)| *i == inv)
            .map_or(0, |(_, c)| *c)
    }
}

/// Sorts and de-duplicates a witness chain (event indices) and tells it as
/// sentences, one per event: `41ms: c1 crashed at after-commit`.
pub fn narrate(chain: &mut Vec<usize>, names: &Names<'_>) -> Vec<String> {
    chain.sort_unstable();
    chain.dedup();
    let events = &names.history.events;
    chain
        .iter()
        .filter_map(|&i| events.get(i))
        .map(|e| {
            format!(
                "{}: {}",
                e.time,
                crate::history::describe::what(&e.kind, names)
            )
        })
        .collect()
}

/// What a checker returns: the number of violations, and findings with
/// witnesses for the first [`FINDINGS_PER_INVARIANT_MAX`] of them.
pub type Verdicts = (usize, Vec<Finding>);

/// What the checkers look at.
pub struct CheckInput<'a> {
    /// The world at the end of the run.
    pub world: &'a KafkaWorld,
    /// Names for the history's ids.
    pub names: Names<'a>,
    /// How the run ended.
    pub stats: &'a RunStats,
    /// The faults that were planned.
    pub plan: &'a FaultPlan,
}

/// Two checkers' verdicts on one invariant, together.
fn merge((n1, mut f1): Verdicts, (n2, f2): Verdicts) -> Verdicts {
    f1.extend(f2);
    (n1 + n2, f1)
}

/// Runs every checker.
pub fn check_all(input: &CheckInput<'_>) -> Checked {
    let names = &input.names;
    let index = Index::build(names.history, names.layout);
    let drained = input.stats.stop == crate::engine::Stop::Drained;
    let mut out = Checked::default();
    let mut add = |inv: Invariant, (count, mut found): (usize, Vec<Finding>)| {
        out.counts.push((inv, count));
        found.truncate(FINDINGS_PER_INVARIANT_MAX);
        out.findings.extend(found);
    };
    // Consume-transform-produce stages owe one committed output per input;
    // their findings come first, as the cause of what groups downstream
    // see.
    let (outputs_twice, outputs_lost) = pipeline::check(&index, names, drained);
    add(
        Invariant::NoLoss,
        merge(outputs_lost, no_loss::check(&index, names, drained)),
    );
    add(
        Invariant::ExactlyOnce,
        merge(outputs_twice, exactly_once::check(&index, names)),
    );
    add(Invariant::PerKeyOrder, per_key_order::check(&index, names));
    add(
        Invariant::Idempotent,
        idempotent::check(&index, names, input.world),
    );
    add(
        Invariant::Liveness,
        liveness::check(names, input.world, input.stats),
    );
    add(Invariant::NoPanic, no_panic::check(&index, names));
    if !names.layout.txn_ids.is_empty() {
        add(Invariant::AbortedRead, aborted_read::check(names));
    }
    out.info = info::collect(&index, names);
    out.info
        .extend(info::unfired(input.plan, &input.stats.unfired, names));
    out
}
