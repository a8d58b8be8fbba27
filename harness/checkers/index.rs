//! One pass over a history that the checkers share: per message, where it
//! was appended, whether it was acknowledged, delivered and settled, and
//! every effect.

use faultline_models::event::{EventKind, Settle};
use faultline_models::kafka::Layout;
use faultline_models::{History, KeyId, MessageId, NodeId};

/// "No event".
pub const NONE: u32 = u32::MAX;

/// Per-message facts, in flat vectors indexed by message id (and group).
#[derive(Clone, Debug, Default)]
pub struct Index {
    /// Number of message ids.
    pub msgs: usize,
    /// Number of consumer groups.
    pub groups: usize,
    /// Group of each node (`u16::MAX` when not a consumer).
    pub node_group: Vec<u16>,
    /// First `Appended` event per message.
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
}

impl Index {
    /// Builds the index.
    pub fn build(history: &History, layout: &Layout) -> Index {
        let msgs = layout.producers.iter().map(|p| p.plan.len()).sum::<usize>();
        let groups = layout.groups.len().max(1);
        let mut node_group = vec![u16::MAX; layout.node_names.len()];
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
            effects: Vec::new(),
            invocations: Vec::new(),
            keys: vec![KeyId(0); msgs],
            seqs: vec![0; msgs],
        };
        for r in layout.producers.iter().flat_map(|p| p.plan.iter()) {
            if r.msg.index() < msgs {
                ix.keys[r.msg.index()] = r.entity;
                ix.seqs[r.msg.index()] = r.seq;
            }
        }
        let mut invocation = vec![0u32; layout.node_names.len()];
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
                EventKind::Crashed { node, .. } => next(node, &mut invocation),
                EventKind::Handled {
                    consumer,
                    settle: Settle::Retry,
                    ..
                } => next(consumer, &mut invocation),
                _ => {}
            }
            match e.kind {
                EventKind::Appended { msg, .. } => {
                    if let Some(m) = ix.slot(msg) {
                        if ix.first_append[m] == NONE {
                            ix.first_append[m] = i;
                        }
                        ix.last_append[m] = i;
                        ix.appends[m] += 1;
                    }
                }
                EventKind::Acked { msg, .. } => {
                    if let Some(m) = ix.slot(msg)
                        && ix.acked[m] == NONE
                    {
                        ix.acked[m] = i;
                    }
                }
                EventKind::Delivered { consumer, msg, .. } => {
                    next(consumer, &mut invocation);
                    if let Some(s) = ix.group_slot(consumer, msg) {
                        if ix.first_delivery[s] == NONE {
                            ix.first_delivery[s] = i;
                        }
                        ix.deliveries[s] += 1;
                    }
                }
                EventKind::Handled {
                    consumer,
                    msg,
                    settle,
                    ..
                } if settle != Settle::Retry => {
                    if let Some(s) = ix.group_slot(consumer, msg)
                        && ix.settled[s] == NONE
                    {
                        ix.settled[s] = i;
                    }
                }
                EventKind::Effect {
                    consumer,
                    msg,
                    label,
                    ..
                } => {
                    if let (Some(_), Some(g)) = (ix.slot(msg), ix.group_of(consumer)) {
                        ix.effects.push((g, msg.0, label.0, i));
                        ix.invocations
                            .push(invocation.get(consumer.index()).copied().unwrap_or(0));
                    }
                }
                _ => {}
            }
        }
        ix
    }

    fn slot(&self, m: MessageId) -> Option<usize> {
        (m.index() < self.msgs).then_some(m.index())
    }

    /// The `(group, message)` slot of a consumer's event.
    pub fn group_slot(&self, consumer: NodeId, m: MessageId) -> Option<usize> {
        let g = *self.node_group.get(consumer.index())?;
        if g == u16::MAX || m.index() >= self.msgs {
            return None;
        }
        Some(usize::from(g) * self.msgs + m.index())
    }

    /// The group of a consumer node.
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
