//! Fault coverage: which kinds of fault a run actually injected, and which
//! kinds a scenario enables. A kind enabled but never fired means the test
//! could not have caught what that fault provokes.

use serde::{Deserialize, Serialize};

use faultline_models::event::{DropCause, EventKind};
use faultline_models::{History, NodeId};

use crate::faults::{Chaos, FaultAction, FaultPlan, LinkEffect, LinkSpec};

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// A message lost (its connection broken).
    Loss,
    /// A message delivered twice.
    Duplicate,
    /// A message held back, later ones queueing behind.
    Delay,
    /// A message held back, later ones overtaking.
    Reorder,
    /// A consumer crash.
    ConsumerCrash,
    /// A broker crash.
    BrokerCrash,
    /// A network partition.
    Partition,
    /// A slow consumer.
    Slow,
    /// A producer crash (timeline faults only: chaos does not crash
    /// producers).
    ProducerCrash,
}

impl FaultKind {
    /// Every kind, in report order.
    pub const ALL: [FaultKind; 9] = [
        FaultKind::Loss,
        FaultKind::Duplicate,
        FaultKind::Delay,
        FaultKind::Reorder,
        FaultKind::ConsumerCrash,
        FaultKind::BrokerCrash,
        FaultKind::Partition,
        FaultKind::Slow,
        FaultKind::ProducerCrash,
    ];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Loss => "loss",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Delay => "delay",
            FaultKind::Reorder => "reorder",
            FaultKind::ConsumerCrash => "consumer-crash",
            FaultKind::ProducerCrash => "producer-crash",
            FaultKind::BrokerCrash => "broker-crash",
            FaultKind::Partition => "partition",
            FaultKind::Slow => "slow",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The kind of a crash of `node`.
    fn crash(node: NodeId, (brokers, consumers): Crashable<'_>) -> FaultKind {
        if brokers.contains(&node) {
            FaultKind::BrokerCrash
        } else if consumers.contains(&node) {
            FaultKind::ConsumerCrash
        } else {
            FaultKind::ProducerCrash
        }
    }
}

/// The broker and the consumer nodes (any other node that crashes is a
/// producer).
pub type Crashable<'a> = (&'a [NodeId], &'a [NodeId]);

impl FaultKind {}

/// Which kinds a chaos table turns on, indexed like the first eight of
/// [`FaultKind::ALL`].
pub fn chaos_kinds(c: &Chaos) -> [bool; 8] {
    [
        c.loss.is_some(),
        c.duplicate.is_some(),
        c.delay.is_some(),
        c.reorder.is_some(),
        c.consumer_crash.is_some(),
        c.broker_crash.is_some(),
        c.partition.is_some(),
        c.slow.is_some(),
    ]
}

/// How many faults of each kind one run injected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage(pub [u32; 9]);

impl Coverage {
    /// Counts the faults in a history.
    pub fn of(history: &History, nodes: Crashable<'_>) -> Coverage {
        let mut c = Coverage::default();
        for e in &history.events {
            let kind = match e.kind {
                EventKind::MessageDropped {
                    cause: DropCause::Loss,
                    ..
                } => FaultKind::Loss,
                EventKind::MessageDuplicated { .. } => FaultKind::Duplicate,
                EventKind::MessageDelayed { reorder: false, .. } => FaultKind::Delay,
                EventKind::MessageDelayed { reorder: true, .. } => FaultKind::Reorder,
                EventKind::Crashed { node, .. } => FaultKind::crash(node, nodes),
                EventKind::PartitionStarted { .. } => FaultKind::Partition,
                EventKind::SlowStarted { .. } => FaultKind::Slow,
                _ => continue,
            };
            c.0[kind.index()] += 1;
        }
        c
    }

    /// Faults of `kind`.
    pub fn get(&self, kind: FaultKind) -> u32 {
        self.0[kind.index()]
    }
}

/// The kinds of fault a plan can inject (its chaos mix and its timeline;
/// `nodes`: the broker and the consumer nodes).
pub fn enabled(plan: &FaultPlan, nodes: Crashable<'_>) -> Vec<FaultKind> {
    let mut kinds: Vec<FaultKind> = FaultKind::ALL
        .iter()
        .zip(chaos_kinds(&plan.chaos))
        .filter(|(_, on)| *on)
        .map(|(k, _)| *k)
        .collect();
    for f in &plan.timeline {
        kinds.push(match &f.action {
            FaultAction::Crash { node, .. } => FaultKind::crash(*node, nodes),
            FaultAction::Partition { .. } => FaultKind::Partition,
            FaultAction::Slow { .. } => FaultKind::Slow,
            FaultAction::Link(LinkSpec { effect, .. }) => match effect {
                LinkEffect::Drop => FaultKind::Loss,
                LinkEffect::Duplicate => FaultKind::Duplicate,
                LinkEffect::Delay { reorder: false, .. } => FaultKind::Delay,
                LinkEffect::Delay { reorder: true, .. } => FaultKind::Reorder,
            },
        });
    }
    kinds.sort();
    kinds.dedup();
    kinds
}
