//! `no-loss`: every acknowledged record is handled to completion (or
//! dead-lettered) by every consumer group.
//!
//! A record that is not settled by the end of a run that drained is lost.
//! In a run that did not drain it may only be late (Jepsen calls that
//! *unseen*); it counts as lost only if the group's committed offset has
//! moved past every copy of it, since then no member will ever read it
//! again. Late records are the liveness checker's business.
//!
//! A transactional record is a write only once its transaction commits:
//! one whose last copy in the log belongs to an aborted transaction (its
//! producer did not send it again, say because it stopped) was never
//! written, although its produce request was acknowledged.

use faultline_models::event::EventKind;
use faultline_models::{GroupId, NodeId, PartitionId};

use super::index::{Index, NONE, some};
use super::{FINDINGS_PER_INVARIANT_MAX, Finding, Invariant, Verdicts, narrate};
use crate::history::Names;
use crate::history::describe::what;

/// Checks `no-loss`.
pub fn check(ix: &Index, names: &Names<'_>, drained: bool) -> Verdicts {
    let events = &names.history.events;
    let groups = names.layout.groups.len();
    // Final committed offset per (group, partition).
    let parts = ix.partitions;
    let committed = &ix.committed;
    let mut count = 0;
    let mut found = Vec::new();
    let workload_topic = names.layout.producers.first().map(|p| p.topic);
    // Records of aborted transactions, sorted (none without transactions).
    let aborted = &ix.aborted;
    for g in 0..groups {
        // The workload writes one topic; a group reading another has
        // nothing to lose.
        if Some(names.layout.groups[g].topic) != workload_topic {
            continue;
        }
        let receipts = &ix.receipts[g * ix.msgs..(g + 1) * ix.msgs];
        for (m, (x, r)) in ix.messages.iter().zip(receipts).enumerate() {
            if x.acked == NONE || r.settled != NONE {
                continue;
            }
            let Some(last) = some(x.last_append) else {
                // Acknowledged without an append: acks=0 records the
                // network lost before they reached the broker.
                count += 1;
                if found.len() < FINDINGS_PER_INVARIANT_MAX {
                    found.push(unappended(ix, names, g, m));
                }
                continue;
            };
            let EventKind::Appended {
                partition, offset, ..
            } = events[last].kind
            else {
                continue;
            };
            if !aborted.is_empty() && aborted.binary_search(&(partition, offset)).is_ok() {
                // Acknowledged, then aborted, and not sent again: never
                // written.
                continue;
            }
            let passed = committed[g * parts + partition.index()].is_some_and(|c| c > offset);
            if !drained && !passed {
                continue;
            }
            count += 1;
            if found.len() < FINDINGS_PER_INVARIANT_MAX {
                found.push(witness(ix, names, g, m));
            }
        }
    }
    (count, found)
}

fn unappended(ix: &Index, names: &Names<'_>, g: usize, m: usize) -> Finding {
    let events = &names.history.events;
    let acked = ix.messages[m].acked as usize;
    let mut f = Finding::new(
        Invariant::NoLoss,
        format!(
            "m{m} was sent (acks=0) but never reached a partition log, so group {} never handled it",
            names.group(GroupId(g as u16))
        ),
    );
    f.msg = Some(faultline_models::MessageId(m as u32));
    f.witness.push(acked);
    f.explanation.push(format!(
        "{}: {}",
        events[acked].time,
        what(&events[acked].kind, names)
    ));
    f.explanation.push(
        "With acks=0 the producer does not wait for the broker, so nothing retries a lost request."
            .into(),
    );
    f
}

fn witness(ix: &Index, names: &Names<'_>, g: usize, m: usize) -> Finding {
    let events = &names.history.events;
    let first = ix.messages[m].first_append as usize;
    let EventKind::Appended {
        partition, offset, ..
    } = events[first].kind
    else {
        unreachable!("first_append indexes an Appended event");
    };
    let group = GroupId(g as u16);
    let msg = faultline_models::MessageId(m as u32);
    let key = Some(ix.messages[m].key);
    let mut f = Finding::new(
        Invariant::NoLoss,
        format!(
            "m{m}{} at {} offset {offset} was acknowledged but group {} never handled it",
            key.map_or(String::new(), |k| format!(" (key {})", names.key(k))),
            names.partition(partition),
            names.group(group)
        ),
    );
    f.msg = Some(msg);
    f.key = key;
    f.partition = Some(partition);
    f.offsets.push(offset);
    let mut chain = vec![first, ix.messages[m].acked as usize];
    // Who received it, and what became of them.
    let delivered = some(ix.receipt(g, m).first_delivery);
    if delivered.is_none()
        && let Some(lost) = truncation(events, ix.messages[m].last_append as usize)
    {
        chain.extend(lost);
        f.explanation = narrate(&mut chain, names);
        let acks_one = names
            .layout
            .producers
            .iter()
            .find(|p| Some(p.node) == producer_of(events, first))
            .is_some_and(|p| p.config.acks == faultline_models::kafka::Acks::One);
        f.explanation.push(format!(
            "It was never delivered: a new leader that did not have it took over the partition, and the replica that appended it truncated its log to the new leader's. {}",
            if acks_one {
                "With acks=1 the leader's own append was enough to acknowledge it."
            } else {
                "With acks=all it was acknowledged by an ISR that had shrunk to the old leader, and the election went outside that ISR (unclean)."
            }
        ));
        f.witness = chain;
        return f;
    }
    let mut culprit: Option<NodeId> = None;
    if let Some(d) = delivered {
        chain.push(d);
        if let EventKind::Delivered { consumer, .. } = events[d].kind {
            culprit = Some(consumer);
            if let Some(c) = next_crash(events, d, consumer) {
                chain.push(c);
            }
        }
    }
    // The commit that moved the group past it.
    if let Some(c) = commit_past(events, group, partition, offset) {
        chain.push(c);
        if let EventKind::CommitAccepted { consumer, .. } = events[c].kind {
            if culprit.is_none()
                && let Some(crash) = next_crash(events, c, consumer)
            {
                chain.push(crash);
            }
            culprit.get_or_insert(consumer);
        }
    }
    f.explanation = narrate(&mut chain, names);
    let reset_past = events.iter().enumerate().find(|(_, e)| {
        matches!(e.kind, EventKind::OffsetReset { consumer, partition: p, offset: o, to_end: true }
            if p == partition && o > offset && ix.group_of(consumer) == Some(group.0))
    });
    if let Some((i, _)) = reset_past {
        chain.push(i);
        f.explanation = narrate(&mut chain, names);
    }
    f.explanation.push(match (reset_past, delivered) {
        (Some(_), _) => "The group had no committed offset here and started at the log end (auto.offset.reset = latest, Kafka's default), after this record: it is never read.".into(),
        (None, Some(_)) => "It was delivered but never settled, and the committed offset had already moved past it, so no member reads it again.".into(),
        (None, None) => "It was never delivered: the group's committed offset moved past it before any member handled it.".into(),
    });
    if let Some(c) = culprit {
        f.nodes.push(c);
    }
    f.witness = chain;
    f
}

/// The producer of the record appended at event `append`.
fn producer_of(events: &[faultline_models::Event], append: usize) -> Option<NodeId> {
    match events[append].kind {
        EventKind::Appended { producer, .. } => Some(producer),
        _ => None,
    }
}

/// How a replicated record appended at event `append` left the log: the
/// last leader election of its partition before the replica that appended
/// it truncated it away, and that truncation.
fn truncation(events: &[faultline_models::Event], append: usize) -> Option<Vec<usize>> {
    let EventKind::Appended {
        broker,
        partition,
        offset,
        ..
    } = events[append].kind
    else {
        return None;
    };
    let cut = append
        + events[append..].iter().position(|e| {
            matches!(e.kind, EventKind::Truncated { broker: b, partition: p, offset: o, .. }
                if b == broker && p == partition && o <= offset)
        })?;
    let elected = events[append..cut].iter().rposition(
        |e| matches!(e.kind, EventKind::LeaderElected { partition: p, leader: Some(_), .. } if p == partition),
    );
    Some(
        elected
            .map(|i| append + i)
            .into_iter()
            .chain([cut])
            .collect(),
    )
}

/// The first crash of `node` after event `after`.
pub fn next_crash(events: &[faultline_models::Event], after: usize, node: NodeId) -> Option<usize> {
    events[after..]
        .iter()
        .position(|e| matches!(e.kind, EventKind::Crashed { node: n, .. } if n == node))
        .map(|i| after + i)
}

/// The first accepted commit of `group` on `partition` past `offset`.
fn commit_past(
    events: &[faultline_models::Event],
    group: GroupId,
    partition: PartitionId,
    offset: u64,
) -> Option<usize> {
    events.iter().position(|e| {
        matches!(e.kind, EventKind::CommitAccepted { group: g, partition: p, offset: o, .. }
            if g == group && p == partition && o > offset)
    })
}
