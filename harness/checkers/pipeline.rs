//! Consume-transform-produce stages (groups with an `output_topic`): each
//! input the stage handled must have its output committed exactly once.
//!
//! An output record is committed when a commit marker of the member's
//! transaction follows it in its partition; a record of an aborted
//! transaction, or of one still open at the end, is not. A stage owes one
//! committed output per copy of a message in its input (a copy a producer
//! retry or another stage put there is forwarded as a copy): more violate
//! `exactly-once` (a `read_committed` consumer of the output topic sees
//! them); an input the stage last handled `Ok` whose output was never
//! committed, in a run that drained, violates `no-loss`.

use faultline_models::event::{EventKind, Settle};
use faultline_models::kafka::InputOffsets;
use std::collections::BTreeSet;

use faultline_models::{GroupId, MessageId, NodeId, PartitionId};

use super::index::{Index, NONE};
use super::{FINDINGS_PER_INVARIANT_MAX, Finding, Invariant, Verdicts, narrate};
use crate::history::Names;

/// What the outputs of one stage did.
struct Outputs {
    /// Committed output appends per message (event indices, in order).
    committed: Vec<Vec<u32>>,
    /// Whether the stage last settled each message `Ok` (so it owes an
    /// output).
    forwarded: Vec<bool>,
    /// Copies of each message in the stage's input topic that no aborted
    /// transaction holds.
    inputs: Vec<u32>,
}

/// Walks the history for stage `g`'s outputs.
fn outputs(ix: &Index, names: &Names<'_>, g: usize) -> Outputs {
    let layout = names.layout;
    let members = &layout.groups[g].members;
    let input = layout.groups[g].topic;
    let mut committed = vec![Vec::new(); ix.msgs];
    let mut forwarded = vec![false; ix.msgs];
    let mut inputs = vec![0u32; ix.msgs];
    let aborted: BTreeSet<(PartitionId, u64)> = names
        .history
        .events
        .iter()
        .filter_map(|e| e.kind.aborted_record())
        .collect();
    // Appends of each (partition, member) since its last marker there.
    let mut open: Vec<(PartitionId, NodeId, Vec<u32>)> = Vec::new();
    for (i, e) in names.history.events.iter().enumerate() {
        if let EventKind::Appended {
            partition,
            offset,
            msg,
            ..
        } = e.kind
            && layout.partitions[partition.index()].topic == input
            && msg.index() < ix.msgs
            && !aborted.contains(&(partition, offset))
        {
            inputs[msg.index()] += 1;
        }
        match e.kind {
            EventKind::Appended {
                partition,
                producer,
                ..
            } if members.contains(&producer) => {
                match open
                    .iter_mut()
                    .find(|(p, n, _)| *p == partition && *n == producer)
                {
                    Some((_, _, v)) => v.push(i as u32),
                    None => open.push((partition, producer, vec![i as u32])),
                }
            }
            EventKind::TxnMarker {
                partition,
                producer,
                commit,
                ..
            } if members.contains(&producer) => {
                let Some(j) = open
                    .iter()
                    .position(|(p, n, _)| *p == partition && *n == producer)
                else {
                    continue;
                };
                let (_, _, appends) = open.swap_remove(j);
                if !commit {
                    continue;
                }
                for a in appends {
                    if let EventKind::Appended { msg, .. } = names.history.events[a as usize].kind
                        && msg.index() < ix.msgs
                    {
                        committed[msg.index()].push(a);
                    }
                }
            }
            EventKind::Handled {
                consumer,
                msg,
                settle,
                ..
            } if members.contains(&consumer)
                && msg.index() < ix.msgs
                && settle != Settle::Retry =>
            {
                forwarded[msg.index()] = settle == Settle::Ok;
            }
            _ => {}
        }
    }
    for c in &mut committed {
        c.sort_unstable();
    }
    Outputs {
        committed,
        forwarded,
        inputs,
    }
}

/// Checks every stage: `(exactly-once, no-loss)` verdicts.
pub fn check(ix: &Index, names: &Names<'_>, drained: bool) -> (Verdicts, Verdicts) {
    let mut twice = (0, Vec::new());
    let mut lost = (0, Vec::new());
    for (g, meta) in names.layout.groups.iter().enumerate() {
        let Some(out) = &meta.output else {
            continue;
        };
        let o = outputs(ix, names, g);
        for m in 0..ix.msgs {
            let copies = &o.committed[m];
            let owed = o.inputs[m].max(1) as usize;
            if copies.len() > owed {
                twice.0 += 1;
                if twice.1.len() < FINDINGS_PER_INVARIANT_MAX {
                    twice.1.push(duplicate(names, g, m, (copies, owed)));
                }
            }
            if !drained {
                // Late is not lost; liveness judges late.
                continue;
            }
            let topic = &names.layout.topics[usize::from(out.topic)].name;
            if copies.is_empty() && o.forwarded[m] && ix.messages[m].acked != NONE {
                let summary = format!(
                    "m{m} was transformed by {} but its output was never committed to {topic}",
                    names.group(GroupId(g as u16))
                );
                let chain = lost_output(names, g, m, ix.messages[m].acked as usize);
                add_lost(&mut lost, ix, names, m, chain, summary);
                continue;
            }
            // Every group reading the output topic must handle a committed
            // output.
            let Some(&first) = copies.first() else {
                continue;
            };
            for (d, reader) in names.layout.groups.iter().enumerate() {
                if reader.topic == out.topic && ix.receipt(d, m).settled == NONE {
                    let summary = format!(
                        "the output of m{m} was committed to {topic}, but group {} never handled it",
                        names.group(GroupId(d as u16))
                    );
                    add_lost(&mut lost, ix, names, m, vec![first as usize], summary);
                }
            }
        }
    }
    (twice, lost)
}

/// The witness of a stage's lost output of `m`: its acknowledgement, the
/// stage's last handling of it, and how the member's transaction after
/// that ended (aborted, given up, crashed) if it did.
fn lost_output(names: &Names<'_>, g: usize, m: usize, acked: usize) -> Vec<usize> {
    let events = &names.history.events;
    let members = &names.layout.groups[g].members;
    let mut chain = vec![acked];
    let handled = events.iter().rposition(|e| {
        matches!(e.kind, EventKind::Handled { consumer, msg, settle: Settle::Ok, .. }
            if msg.index() == m && members.contains(&consumer))
    });
    let Some(h) = handled else {
        return chain;
    };
    chain.push(h);
    let EventKind::Handled { consumer: c, .. } = events[h].kind else {
        return chain;
    };
    let ended = events[h..].iter().position(|e| match e.kind {
        EventKind::TxnCommitted { producer, .. } | EventKind::TxnAborted { producer, .. } => {
            producer == c
        }
        EventKind::StageRewound { consumer, .. } => consumer == c,
        EventKind::Crashed { node, .. } => node == c,
        _ => false,
    });
    chain.extend(ended.map(|i| h + i));
    chain
}

/// Counts a lost message, with `chain` (event indices) as its witness.
fn add_lost(
    lost: &mut Verdicts,
    ix: &Index,
    names: &Names<'_>,
    m: usize,
    mut chain: Vec<usize>,
    summary: String,
) {
    lost.0 += 1;
    if lost.1.len() < FINDINGS_PER_INVARIANT_MAX {
        let mut f = Finding::new(Invariant::NoLoss, summary);
        f.msg = Some(MessageId(m as u32));
        f.key = Some(ix.messages[m].key);
        f.explanation = narrate(&mut chain, names);
        f.witness = chain;
        lost.1.push(f);
    }
}

/// A finding for message `m`, whose output stage `g` committed more than
/// once.
fn duplicate(names: &Names<'_>, g: usize, m: usize, (copies, owed): (&[u32], usize)) -> Finding {
    let events = &names.history.events;
    let meta = &names.layout.groups[g];
    // The last copy owed, and the first one too many.
    let (a1, a2) = (copies[owed - 1] as usize, copies[owed] as usize);
    let (
        EventKind::Appended {
            partition: p1,
            offset: o1,
            producer: c1,
            ..
        },
        EventKind::Appended {
            offset: o2,
            producer: c2,
            ..
        },
    ) = (events[a1].kind, events[a2].kind)
    else {
        unreachable!("outputs index Appended events");
    };
    let group = names.group(GroupId(g as u16));
    let mut f = Finding::new(
        Invariant::ExactlyOnce,
        format!(
            "the output of m{m} was committed {} times by stage {group}{}: by {} at {} and by {} at {}",
            copies.len(),
            if owed > 1 {
                format!(" (its input holds it {owed} times)")
            } else {
                String::new()
            },
            names.node(c1),
            events[a1].time,
            names.node(c2),
            events[a2].time
        ),
    );
    f.msg = Some(MessageId(m as u32));
    f.partition = Some(p1);
    f.offsets = vec![o1, o2];
    f.nodes = if c1 == c2 { vec![c1] } else { vec![c1, c2] };
    // Per copy: the delivery of the input it came from, and the commit
    // of its transaction; then what happened to the two members and the
    // group from the first delivery to the last commit.
    let delivered = |a: usize, node: NodeId| {
        events[..a].iter().rposition(|e| {
            matches!(e.kind, EventKind::Delivered { consumer, msg, .. }
                if consumer == node && msg.index() == m)
        })
    };
    let committed = |a: usize, node: NodeId| {
        events[a..]
            .iter()
            .position(
                |e| matches!(e.kind, EventKind::TxnCommitted { producer, .. } if producer == node),
            )
            .map(|i| a + i)
    };
    let mut chain = vec![a1, a2];
    chain.extend(delivered(a1, c1));
    chain.extend(delivered(a2, c2));
    let from = chain.iter().copied().min().unwrap_or(a1);
    let t1 = committed(a1, c1);
    let t2 = committed(a2, c2);
    chain.extend(t1);
    chain.extend(t2);
    let to = t1.max(t2).unwrap_or(a2);
    // The member whose copy should not have been committed: the one the
    // group removed, or that crashed.
    let mut culprit = None;
    for (i, e) in events.iter().enumerate().take(to + 1).skip(from) {
        let node = match e.kind {
            EventKind::Crashed { node, .. } => node,
            EventKind::CommitRejected { consumer, .. }
            | EventKind::PollIntervalExceeded { consumer, .. }
            | EventKind::MemberRemoved { consumer, .. } => consumer,
            EventKind::GenerationStarted { group, .. } if group.index() == g => {
                chain.push(i);
                continue;
            }
            _ => continue,
        };
        if node == c1 || node == c2 {
            chain.push(i);
            culprit.get_or_insert((node, e.kind));
        }
    }
    f.explanation = narrate(&mut chain, names);
    f.witness = chain;
    let c1 = names.node(culprit.map_or(c1, |(n, _)| n));
    let mode = meta.config.output.map(|o| o.offsets);
    f.explanation.push(match (mode, culprit.map(|(_, k)| k)) {
        (Some(InputOffsets::TransactionUnfenced), _) => format!(
            "{c1} sent the input offsets to its transaction with the group id only, so the group coordinator could not tell that the group had moved on from it: its transaction committed, and so did the new owner's, which had read the same input from the last committed offset. Sending consumer.groupMetadata() (input_offsets = \"transaction\") lets the coordinator refuse the old member's offsets and its transaction abort."
        ),
        (Some(InputOffsets::OutsideTransaction), Some(EventKind::Crashed { .. })) => format!(
            "{c1}'s transaction committed the output, then {c1} crashed before it committed the input offsets outside the transaction, so the input was read again and transformed a second time. Sending the offsets to the transaction (input_offsets = \"transaction\") commits both or neither."
        ),
        (Some(InputOffsets::OutsideTransaction), _) => format!(
            "{c1}'s transaction committed the output, but its input offsets, committed outside the transaction, were not (the group moved on first), so the input was read again and transformed a second time. Sending the offsets to the transaction (input_offsets = \"transaction\") commits both or neither."
        ),
        _ => "The output was committed in two transactions.".into(),
    });
    f
}
