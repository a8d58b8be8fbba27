//! One pass over a history that the checkers share: per message, where it
//! was appended, whether it was acknowledged, delivered and settled, and
//! every effect; per group, the final committed offsets; and the events
//! the information items and `no-panic` point at. Each checker then reads
//! what it needs from here instead of walking the history again.

use faultline_models::event::{EventKind, Settle};
use faultline_models::kafka::Layout;
use faultline_models::{History, KeyId, NodeId, PartitionId};

use super::idempotent::{MsgFold, NodeFold, Receipts, applied_once};

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

/// Facts about one message of the workload.
#[derive(Clone, Copy, Debug)]
pub struct Message {
    /// First `Appended` event (of the workload's producers: a stage's
    /// outputs are left out).
    pub first_append: u32,
    /// Last `Appended` event.
    pub last_append: u32,
    /// Number of times it was appended.
    pub appends: u32,
    /// First `Acked` event.
    pub acked: u32,
    /// Its entity key.
    pub key: KeyId,
    /// Its position among its key's messages, from 1.
    pub seq: u32,
}

impl Message {
    const UNSEEN: Message = Message {
        first_append: NONE,
        last_append: NONE,
        appends: 0,
        acked: NONE,
        key: KeyId(0),
        seq: 0,
    };
}

/// Facts about one message in one consumer group.
#[derive(Clone, Copy, Debug)]
pub struct Receipt {
    /// First `Delivered` event.
    pub first_delivery: u32,
    /// Number of deliveries.
    pub deliveries: u32,
    /// First settling `Handled` event.
    pub settled: u32,
    /// The handler invocation of its first effect ([`NONE`] without
    /// effects).
    pub effected: u32,
    /// Its part of the `idempotent` shortcut's fold.
    pub(super) once: MsgFold,
}

impl Receipt {
    const UNSEEN: Receipt = Receipt {
        first_delivery: NONE,
        deliveries: 0,
        settled: NONE,
        effected: NONE,
        once: MsgFold::NEW,
    };
}

/// One applied effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The consumer group.
    pub group: u16,
    /// The effect's label.
    pub label: u16,
    /// The message.
    pub msg: u32,
    /// The `Effect` event.
    pub event: u32,
    /// The handler invocation it belongs to (a number that changes with
    /// every delivery, retry attempt and crash of the consumer).
    pub invocation: u32,
}

/// A node's state during [`Index::build`]'s pass.
struct Slot {
    /// Its group (`u16::MAX` when not a consumer).
    group: u16,
    /// The handler invocation it is in (0 before its first).
    invocation: u32,
    /// Its part of the `idempotent` shortcut's fold.
    fold: NodeFold,
}

/// A consumer node's group and slot (`None` for other nodes).
#[inline]
fn member(slots: &mut [Slot], n: NodeId) -> Option<(usize, &mut Slot)> {
    slots
        .get_mut(n.index())
        .filter(|s| s.group != u16::MAX)
        .map(|s| (usize::from(s.group), s))
}

/// Rules group `g`'s `idempotent` shortcut out, at each of its nodes.
#[cold]
#[inline(never)]
fn rule_out(slots: &mut [Slot], g: usize) {
    for s in slots.iter_mut().filter(|s| usize::from(s.group) == g) {
        s.fold.rule_out();
    }
}

/// A `crashed` event of node `n` in [`Index::build`]'s pass: a consumer's
/// next handler invocation starts, and the one in progress closes. Out of
/// line, as crashes are rare: the pass's loop keeps its registers for the
/// common events.
#[cold]
#[inline(never)]
fn crashed(
    slots: &mut [Slot],
    receipts: &mut [Receipt],
    msgs: usize,
    next_invocation: &mut u32,
    n: NodeId,
) {
    if let Some((g, slot)) = member(slots, n) {
        slot.invocation = *next_invocation;
        *next_invocation += 1;
        let rs = Receipts {
            all: receipts,
            msgs,
        };
        if !slot.fold.crashed(g, rs) {
            rule_out(slots, g);
        }
    }
}

/// A `commit-accepted` event in [`Index::build`]'s pass: `offset` is the
/// last committed offset of the `(group, partition)` at `at`. Out of line,
/// as commits are few next to records.
#[cold]
#[inline(never)]
fn commit(committed: &mut [Option<u64>], at: usize, offset: u64) {
    if let Some(c) = committed.get_mut(at) {
        *c = Some(offset);
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
    /// Per message.
    pub messages: Vec<Message>,
    /// Per `(group, message)`, at `group * msgs + message`.
    pub receipts: Vec<Receipt>,
    /// Every effect, in history order.
    pub effects: Vec<Applied>,
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
    /// Records of aborted transactions, `(partition, offset)`, sorted
    /// (`RecordAborted` events).
    pub aborted: Vec<(PartitionId, u64)>,
    /// Every `(group, message)`'s effects come from one handler invocation,
    /// so no effect was applied twice (see `exactly_once`).
    pub one_invocation: bool,
    /// In every group, each message's first effect came after the first
    /// effects of its key's earlier messages only (see `per_key_order`).
    pub in_order: bool,
}

impl Index {
    /// Builds the index in one pass over the history.
    pub fn build(history: &History, layout: &Layout) -> Index {
        let msgs = layout.producers.iter().map(|p| p.plan.len()).sum::<usize>();
        let groups = layout.groups.len().max(1);
        let nodes = layout.node_names.len();
        let partitions = layout.partitions.len();
        let key_count = layout.keys.len();
        let mut node_group = vec![u16::MAX; nodes];
        for (node, g) in &layout.consumers {
            node_group[node.index()] = g.0;
        }
        let mut messages = vec![Message::UNSEEN; msgs];
        for p in &layout.producers {
            for r in &p.plan {
                if let Some(x) = messages.get_mut(r.msg.index()) {
                    x.key = r.entity;
                    x.seq = r.seq;
                }
            }
        }
        let mut receipts = vec![Receipt::UNSEEN; msgs * groups];
        // Per `(group, key)`: the highest position among the key's
        // messages effected so far.
        let mut high = vec![0u32; key_count * groups];
        let mut effects = Vec::with_capacity(msgs);
        let mut committed = vec![None; layout.groups.len() * partitions];
        let mut panics = Vec::new();
        let mut aborted = Vec::new();
        let mut redelivered = Tally::default();
        let mut reappended = Tally::default();
        let mut dead_lettered = Tally::default();
        let mut produce_failed = Tally::default();
        let mut one_invocation = true;
        let mut in_order = true;
        // Per node: its group, the handler invocation it is in (0 before
        // its first) and its part of the `once` fold. Nodes outside groups
        // have no effects, so their invocations are not counted.
        let mut slots: Vec<Slot> = node_group
            .iter()
            .map(|&group| Slot {
                group,
                invocation: 0,
                fold: NodeFold::default(),
            })
            .collect();
        let mut next_invocation = 1u32;
        for (i, e) in history.events.iter().enumerate() {
            let i = i as u32;
            match e.kind {
                EventKind::Appended { msg, producer, .. } => {
                    // A consume-transform-produce stage's output is not
                    // an append of the workload's record (see `pipeline`).
                    if let Some(x) = messages.get_mut(msg.index())
                        && member(&mut slots, producer).is_none()
                    {
                        if x.first_append == NONE {
                            x.first_append = i;
                        }
                        x.last_append = i;
                        x.appends += 1;
                        if x.appends == 2 {
                            reappended.add(i);
                        }
                    }
                }
                EventKind::Acked { msg, .. } => {
                    if let Some(x) = messages.get_mut(msg.index())
                        && x.acked == NONE
                    {
                        x.acked = i;
                    }
                }
                EventKind::ProduceFailed { .. } => produce_failed.add(i),
                EventKind::Delivered { consumer, msg, .. } => {
                    let Some((g, slot)) = member(&mut slots, consumer) else {
                        continue;
                    };
                    slot.invocation = next_invocation;
                    next_invocation += 1;
                    let rs = Receipts {
                        all: &mut receipts,
                        msgs,
                    };
                    if !slot.fold.delivered(g, msg, rs) {
                        rule_out(&mut slots, g);
                    }
                    let m = msg.index();
                    if m < msgs {
                        let r = &mut receipts[g * msgs + m];
                        if r.first_delivery == NONE {
                            r.first_delivery = i;
                        }
                        r.deliveries += 1;
                        if r.deliveries == 2 {
                            redelivered.add(i);
                        }
                    }
                }
                EventKind::Handled {
                    consumer,
                    msg,
                    settle,
                    ..
                } => {
                    let m = msg.index();
                    if let Some((g, slot)) = member(&mut slots, consumer) {
                        let mut r = if m < msgs {
                            Some(&mut receipts[g * msgs + m])
                        } else {
                            None
                        };
                        let keeps =
                            slot.fold
                                .handled(msg, settle, r.as_deref_mut().map(|r| &mut r.once));
                        if settle == Settle::Retry {
                            slot.invocation = next_invocation;
                            next_invocation += 1;
                        } else if let Some(r) = r
                            && r.settled == NONE
                        {
                            r.settled = i;
                        }
                        if !keeps {
                            rule_out(&mut slots, g);
                        }
                    }
                    if settle == Settle::DeadLettered {
                        dead_lettered.add(i);
                    }
                }
                EventKind::Effect {
                    consumer,
                    msg,
                    label,
                    ..
                } => {
                    let Some((g, slot)) = member(&mut slots, consumer) else {
                        continue;
                    };
                    let invocation = slot.invocation;
                    let Some(x) = messages.get(msg.index()) else {
                        if !slot.fold.effect(msg, None) {
                            rule_out(&mut slots, g);
                        }
                        continue;
                    };
                    let r = &mut receipts[g * msgs + msg.index()];
                    if !slot.fold.effect(msg, Some(&r.once)) {
                        rule_out(&mut slots, g);
                    }
                    effects.push(Applied {
                        group: g as u16,
                        label: label.0,
                        msg: msg.0,
                        event: i,
                        invocation,
                    });
                    if r.effected == NONE {
                        r.effected = invocation;
                        // The message's first effect in its group: does it
                        // follow its key's order?
                        let k = x.key.index();
                        match high.get_mut(g * key_count + k) {
                            Some(h) if k < key_count => {
                                if x.seq < *h {
                                    in_order = false;
                                } else {
                                    *h = x.seq;
                                }
                            }
                            _ => in_order = false,
                        }
                    } else if r.effected != invocation {
                        one_invocation = false;
                    }
                }
                EventKind::CutShort { consumer, .. } => {
                    if let Some((g, slot)) = member(&mut slots, consumer)
                        && !slot.fold.cut_short()
                    {
                        rule_out(&mut slots, g);
                    }
                }
                EventKind::Crashed { node: n, .. } => {
                    crashed(&mut slots, &mut receipts, msgs, &mut next_invocation, n);
                }
                EventKind::CommitAccepted {
                    group,
                    partition,
                    offset,
                    ..
                } => commit(
                    &mut committed,
                    group.index() * partitions + partition.index(),
                    offset,
                ),
                EventKind::RecordAborted {
                    partition, offset, ..
                } => aborted.push((partition, offset)),
                EventKind::HandlerPanicked { .. } | EventKind::HandlerFactoryPanicked { .. } => {
                    panics.push(i);
                }
                // Every other kind, named so that the match is exhaustive:
                // then its jump table needs no range check on the tag.
                EventKind::ProduceSent { .. }
                | EventKind::DuplicateBatch { .. }
                | EventKind::ProducerInitialized { .. }
                | EventKind::TxnBegan { .. }
                | EventKind::TxnCommitted { .. }
                | EventKind::TxnAborted { .. }
                | EventKind::Fenced { .. }
                | EventKind::TxnMarker { .. }
                | EventKind::LeaderElected { .. }
                | EventKind::IsrChanged { .. }
                | EventKind::Truncated { .. }
                | EventKind::GenerationStarted { .. }
                | EventKind::Assigned { .. }
                | EventKind::MemberRemoved { .. }
                | EventKind::StaticMemberRejoined { .. }
                | EventKind::IncrementalRevoke { .. }
                | EventKind::IncrementalAssign { .. }
                | EventKind::PollIntervalExceeded { .. }
                | EventKind::StageRewound { .. }
                | EventKind::OffsetReset { .. }
                | EventKind::CommitRejected { .. }
                | EventKind::Restarted { .. }
                | EventKind::MessageDropped { .. }
                | EventKind::MessageDuplicated { .. }
                | EventKind::MessageDelayed { .. }
                | EventKind::PartitionStarted { .. }
                | EventKind::PartitionHealed { .. }
                | EventKind::SlowStarted { .. }
                | EventKind::SlowEnded { .. }
                | EventKind::FaultsHealed => {}
            }
        }
        aborted.sort_unstable();
        let applied_once = applied_once(
            groups,
            slots
                .iter()
                .filter(|s| s.group != u16::MAX)
                .map(|s| (usize::from(s.group), &s.fold)),
        );
        Index {
            msgs,
            groups,
            node_group,
            messages,
            receipts,
            effects,
            committed,
            partitions,
            panics,
            redelivered,
            reappended,
            dead_lettered,
            produce_failed,
            applied_once,
            aborted,
            one_invocation,
            in_order,
        }
    }

    /// The facts about message `m` in group `g`.
    #[inline]
    pub fn receipt(&self, g: usize, m: usize) -> &Receipt {
        &self.receipts[g * self.msgs + m]
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
