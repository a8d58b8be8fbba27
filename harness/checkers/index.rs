//! One pass over a history that the checkers share: per message, where it
//! was appended, whether it was acknowledged, delivered and settled, and
//! every effect; per group, the final committed offsets; and the events
//! the information items and `no-panic` point at. Each checker then reads
//! what it needs from here instead of walking the history again.

use faultline_models::event::{EventKind, Settle};
use faultline_models::kafka::Layout;
use faultline_models::{History, KeyId, MessageId, NodeId};

use super::idempotent::AppliedOnce;

/// "No event".
pub const NONE: u32 = u32::MAX;

/// Example events kept per kind of fact.
pub const EXAMPLES_MAX: usize = 5;

/// Events of one kind: how many, and the first few.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// The first [`EXAMPLES_MAX`] of them, in history order.
    pub examples: Vec<usize>,
}

impl Tally {
    #[inline]
    fn add(&mut self, i: u32) {
        self.count += 1;
        if self.examples.len() < EXAMPLES_MAX {
            self.examples.push(i as usize);
        }
    }
}

/// Per-message facts, in flat vectors indexed by message id (and group).
#[derive(Clone, Debug, Default)]
pub struct Index {
    /// Number of message ids.
    pub msgs: usize,
    /// Number of consumer groups.
    pub groups: usize,
    /// Group of each node (`u16::MAX` when not a consumer).
    pub node_group: Vec<u16>,
    /// First `Appended` event per message (of the workload's producers:
    /// a stage's outputs are left out).
    pub first_append: Vec<u32>,
    /// Last `Appended` event per message.
    pub last_append: Vec<u32>,
    /// Number of times each message was appended.
    pub appends: Vec<u32>,
    /// `Acked` event per message.
    pub acked: Vec<u32>,
    /// First settling `Handled` event per `(group, message)`.
    pub settled: Vec<u32>,
    /// First `Delivered` event per `(group, message)`.
    pub first_delivery: Vec<u32>,
    /// Deliveries per `(group, message)`.
    pub deliveries: Vec<u32>,
    /// Every effect: `(group, message, label, event index)`, in history
    /// order.
    pub effects: Vec<(u16, u32, u16, u32)>,
    /// For each effect, the handler invocation it belongs to (a number
    /// that changes with every delivery, retry attempt and crash of the
    /// consumer).
    pub invocations: Vec<u32>,
    /// Entity key of each message.
    pub keys: Vec<KeyId>,
    /// Position of each message among its key's messages, from 1.
    pub seqs: Vec<u32>,
    /// The last committed offset per `(group, partition)` (the offset the
    /// group resumes from), by `CommitAccepted` events.
    pub committed: Vec<Option<u64>>,
    /// Number of partitions (the stride of `committed`).
    pub partitions: usize,
    /// `HandlerPanicked` and `HandlerFactoryPanicked` events.
    pub panics: Vec<u32>,
    /// `(group, message)` pairs delivered more than once; the examples are
    /// the second deliveries.
    pub redelivered: Tally,
    /// Messages appended more than once; the examples are the second
    /// appends.
    pub reappended: Tally,
    /// Deliveries the handler dead-lettered.
    pub dead_lettered: Tally,
    /// Records the producer gave up on.
    pub produce_failed: Tally,
    /// Per group: each message was applied in at most one handler
    /// invocation, and none was cut short after applying something (see
    /// `idempotent`).
    pub applied_once: Vec<bool>,
}

impl Index {
    /// Builds the index in one pass over the history.
    pub fn build(history: &History, layout: &Layout) -> Index {
        let msgs = layout.producers.iter().map(|p| p.plan.len()).sum::<usize>();
        let groups = layout.groups.len().max(1);
        let nodes = layout.node_names.len();
        let partitions = layout.partitions.len();
        let mut node_group = vec![u16::MAX; nodes];
        for (node, g) in &layout.consumers {
            node_group[node.index()] = g.0;
        }
        let mut ix = Index {
            msgs,
            groups,
            node_group,
            first_append: vec![NONE; msgs],
            last_append: vec![NONE; msgs],
            appends: vec![0; msgs],
            acked: vec![NONE; msgs],
            settled: vec![NONE; msgs * groups],
            first_delivery: vec![NONE; msgs * groups],
            deliveries: vec![0; msgs * groups],
            effects: Vec::with_capacity(msgs),
            invocations: Vec::with_capacity(msgs),
            keys: vec![KeyId(0); msgs],
            seqs: vec![0; msgs],
            committed: vec![None; layout.groups.len() * partitions],
            partitions,
            panics: Vec::new(),
            redelivered: Tally::default(),
            reappended: Tally::default(),
            dead_lettered: Tally::default(),
            produce_failed: Tally::default(),
            applied_once: Vec::new(),
        };
        for r in layout.producers.iter().flat_map(|p| p.plan.iter()) {
            if r.msg.index() < msgs {
                ix.keys[r.msg.index()] = r.entity;
                ix.seqs[r.msg.index()] = r.seq;
            }
        }
        let mut once = AppliedOnce::new(&ix, nodes);
        // The handler invocation each node is in.
        let mut invocation = vec![0u32; nodes];
        let mut next_invocation = 1u32;
        let mut next = |node: NodeId, invocation: &mut Vec<u32>| {
            if let Some(slot) = invocation.get_mut(node.index()) {
                *slot = next_invocation;
                next_invocation += 1;
            }
        };
        for (i, e) in history.events.iter().enumerate() {
            let i = i as u32;
            match e.kind {
                EventKind::Appended { msg, producer, .. } => {
                    // A consume-transform-produce stage's output is not
                    // an append of the workload's record (see `pipeline`).
                    if let Some(m) = ix.slot(msg)
                        && ix.group_of(producer).is_none()
                    {
                        if ix.first_append[m] == NONE {
                            ix.first_append[m] = i;
                        }
                        ix.last_append[m] = i;
                        ix.appends[m] += 1;
                        if ix.appends[m] == 2 {
                            ix.reappended.add(i);
                        }
                    }
                }
                EventKind::Acked { msg, .. } => {
                    if let Some(m) = ix.slot(msg)
                        && ix.acked[m] == NONE
                    {
                        ix.acked[m] = i;
                    }
                }
                EventKind::ProduceFailed { .. } => ix.produce_failed.add(i),
                EventKind::Delivered { consumer, msg, .. } => {
                    next(consumer, &mut invocation);
                    once.delivered(&ix, consumer, msg);
                    if let Some(s) = ix.group_slot(consumer, msg) {
                        if ix.first_delivery[s] == NONE {
                            ix.first_delivery[s] = i;
                        }
                        ix.deliveries[s] += 1;
                        if ix.deliveries[s] == 2 {
                            ix.redelivered.add(i);
                        }
                    }
                }
                EventKind::Handled {
                    consumer,
                    msg,
                    settle,
                    ..
                } => {
                    once.handled(&ix, consumer, msg, settle);
                    match settle {
                        Settle::Retry => next(consumer, &mut invocation),
                        settle => {
                            if let Some(s) = ix.group_slot(consumer, msg)
                                && ix.settled[s] == NONE
                            {
                                ix.settled[s] = i;
                            }
                            if settle == Settle::DeadLettered {
                                ix.dead_lettered.add(i);
                            }
                        }
                    }
                }
                EventKind::Effect {
                    consumer,
                    msg,
                    label,
                    ..
                } => {
                    once.effect(&ix, consumer, msg);
                    if let (Some(_), Some(g)) = (ix.slot(msg), ix.group_of(consumer)) {
                        ix.effects.push((g, msg.0, label.0, i));
                        ix.invocations
                            .push(invocation.get(consumer.index()).copied().unwrap_or(0));
                    }
                }
                EventKind::CutShort { consumer, .. } => once.cut_short(&ix, consumer),
                EventKind::Crashed { node, .. } => {
                    next(node, &mut invocation);
                    once.crashed(&ix, node);
                }
                EventKind::CommitAccepted {
                    group,
                    partition,
                    offset,
                    ..
                } => {
                    if let Some(c) = ix
                        .committed
                        .get_mut(group.index() * partitions + partition.index())
                    {
                        *c = Some(offset);
                    }
                }
                EventKind::HandlerPanicked { .. } | EventKind::HandlerFactoryPanicked { .. } => {
                    ix.panics.push(i);
                }
                _ => {}
            }
        }
        ix.applied_once = once.finish(&ix);
        ix
    }

    fn slot(&self, m: MessageId) -> Option<usize> {
        (m.index() < self.msgs).then_some(m.index())
    }

    /// The `(group, message)` slot of a consumer's event.
    #[inline]
    pub fn group_slot(&self, consumer: NodeId, m: MessageId) -> Option<usize> {
        let g = *self.node_group.get(consumer.index())?;
        if g == u16::MAX || m.index() >= self.msgs {
            return None;
        }
        Some(usize::from(g) * self.msgs + m.index())
    }

    /// The group of a consumer node.
    #[inline]
    pub fn group_of(&self, node: NodeId) -> Option<u16> {
        self.node_group
            .get(node.index())
            .copied()
            .filter(|g| *g != u16::MAX)
    }
}

/// An index as an `Option<usize>`.
pub fn some(i: u32) -> Option<usize> {
    (i != NONE).then_some(i as usize)
}
