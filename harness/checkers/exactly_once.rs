//! `exactly-once`: no effect of a message is applied more than once by one
//! consumer group.
//!
//! An effect is a committed store transaction that wrote something, or an
//! external side effect, labelled by the handler. The same label applied
//! twice for one message is a violation; the witness is the two
//! applications and what happened between them (a crash before the commit,
//! a rebalance, a duplicate in the log).

use faultline_models::event::EventKind;
use faultline_models::{Event, MessageId, NodeId};

use super::index::Index;
use super::{FINDINGS_PER_INVARIANT_MAX, Finding, Invariant, Verdicts, narrate};
use crate::history::Names;

/// Checks `exactly-once`: an effect applied in more than one handler
/// invocation. (One invocation that commits two transactions with the same
/// label applies that effect once, in two steps.)
pub fn check(ix: &Index, names: &Names<'_>) -> Verdicts {
    if ix.one_invocation {
        // Each message's effects come from one invocation: none was
        // applied twice.
        return (0, Vec::new());
    }
    let labels = names.history.labels.len().max(1);
    let slot =
        |g: u16, m: u32, l: u16| (usize::from(g) * ix.msgs + m as usize) * labels + usize::from(l);
    // Per (group, message, label): invocations that applied it, the last
    // such invocation, and the first application's event.
    let n = ix.groups * ix.msgs * labels;
    let mut counts = vec![0u32; n];
    let mut last = vec![u32::MAX; n];
    let mut first = vec![u32::MAX; n];
    let mut count = 0;
    let mut found = Vec::new();
    for e in &ix.effects {
        let (g, m, l, i, inv) = (e.group, e.msg, e.label, e.event, e.invocation);
        let s = slot(g, m, l);
        if last[s] == inv {
            continue;
        }
        last[s] = inv;
        counts[s] += 1;
        if counts[s] == 1 {
            first[s] = i;
        } else if counts[s] == 2 {
            count += 1;
            if found.len() < FINDINGS_PER_INVARIANT_MAX {
                found.push((s, m, first[s] as usize, i as usize));
            }
        }
    }
    let found = found
        .into_iter()
        .map(|(s, m, e1, e2)| witness(ix, names, m, e1, e2, counts[s] as usize))
        .collect();
    (count, found)
}

fn witness(ix: &Index, names: &Names<'_>, m: u32, e1: usize, e2: usize, times: usize) -> Finding {
    let events = &names.history.events;
    let msg = MessageId(m);
    let (
        EventKind::Effect {
            consumer: c1,
            label,
            ..
        },
        EventKind::Effect { consumer: c2, .. },
    ) = (events[e1].kind, events[e2].kind)
    else {
        unreachable!("effects index Effect events");
    };
    let label = names.history.label_name(label);
    let key = ix.messages[m as usize].key;
    let d1 = delivery_before(events, e1, c1, msg);
    let d2 = delivery_before(events, e2, c2, msg);
    let mut f = Finding::new(
        Invariant::ExactlyOnce,
        format!(
            "effect `{label}` of m{m} (key {}) was applied {times} times: first by {} at {}, then by {} at {}",
            names.key(key),
            names.node(c1),
            events[e1].time,
            names.node(c2),
            events[e2].time
        ),
    );
    f.msg = Some(msg);
    f.key = Some(key);
    f.nodes = if c1 == c2 { vec![c1] } else { vec![c1, c2] };
    let mut chain = vec![e1, e2];
    chain.extend(d1);
    chain.extend(d2);
    for (_, off) in [d1, d2]
        .iter()
        .flatten()
        .filter_map(|d| delivered(events, *d))
    {
        if !f.offsets.contains(&off) {
            f.offsets.push(off);
        }
    }
    if let Some(d) = d1.and_then(|d| delivered(events, d)) {
        f.partition = Some(d.0);
    }
    // What happened in between, to the first consumer and to the group.
    let mut because = Vec::new();
    for (i, e) in events.iter().enumerate().take(e2).skip(e1 + 1) {
        let relevant = match e.kind {
            EventKind::Crashed { node, .. } => node == c1,
            EventKind::CutShort { consumer, .. } => consumer == c1,
            EventKind::CommitRejected { consumer, .. } => consumer == c1,
            EventKind::PollIntervalExceeded { consumer, .. } => consumer == c1,
            EventKind::MemberRemoved { consumer, .. } => consumer == c1,
            EventKind::StaticMemberRejoined { consumer, .. } => consumer == c1,
            EventKind::GenerationStarted { .. } => true,
            _ => false,
        };
        if relevant
            && !because
                .iter()
                .any(|&j: &usize| same_kind(&events[j].kind, &e.kind))
        {
            because.push(i);
        }
    }
    chain.extend(&because);
    let mut in_log = InLog::Once;
    let mut aborted = false;
    if ix.messages[m as usize].appends > 1 {
        // The log holds the message more than once: by a retry, or by a
        // resend after its producer crashed between the two appends (maybe
        // a copy in an aborted transaction).
        in_log = InLog::Retried;
        let x = &ix.messages[m as usize];
        let (first, last) = (x.first_append, x.last_append);
        if let EventKind::Appended { producer, .. } = events[first as usize].kind
            && let Some(i) = (first as usize..last as usize).find(
                |&i| matches!(events[i].kind, EventKind::Crashed { node, .. } if node == producer),
            )
        {
            chain.push(i);
            in_log = InLog::Resent;
        }
        for (i, e) in events.iter().enumerate() {
            match e.kind {
                EventKind::Appended { msg: x, .. } if x == msg => chain.push(i),
                EventKind::RecordAborted {
                    msg: x,
                    partition,
                    offset,
                } if x == msg => {
                    // Blame reading uncommitted only if a handled copy is
                    // an aborted one.
                    aborted |= [d1, d2]
                        .iter()
                        .flatten()
                        .filter_map(|d| delivered(events, *d))
                        .any(|d| d == (partition, offset));
                    chain.push(i);
                }
                _ => {}
            }
        }
    }
    if in_log == InLog::Once {
        // A group downstream of a consume-transform-produce stage: the
        // stage's outputs are the copies in its log.
        let mut outputs = 0;
        for (i, e) in events.iter().enumerate() {
            match e.kind {
                EventKind::Appended {
                    msg: x, producer, ..
                } if x == msg && ix.group_of(producer).is_some() => {
                    outputs += 1;
                    chain.push(i);
                }
                EventKind::RecordAborted {
                    msg: x,
                    partition,
                    offset,
                } if x == msg => {
                    let handled = [d1, d2]
                        .iter()
                        .flatten()
                        .filter_map(|d| delivered(events, *d))
                        .any(|d| d == (partition, offset));
                    if handled {
                        aborted = true;
                        chain.push(i);
                    }
                }
                _ => {}
            }
        }
        if outputs > 1 && !aborted {
            in_log = InLog::Output;
        }
    }
    f.explanation = narrate(&mut chain, names);
    f.explanation
        .push(reason(events, &because, in_log, aborted, c1, names));
    f.witness = chain;
    f
}

fn same_kind(a: &EventKind, b: &EventKind) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// How often, and why, the log holds a message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InLog {
    Once,
    /// Twice or more, by a producer retry.
    Retried,
    /// Twice or more, resent after its producer crashed and restarted.
    Resent,
    /// Twice or more, committed by the consume-transform-produce stage
    /// that writes the group's topic.
    Output,
}

fn reason(
    events: &[Event],
    because: &[usize],
    in_log: InLog,
    aborted: bool,
    c1: NodeId,
    names: &Names<'_>,
) -> String {
    let c1 = names.node(c1);
    for &i in because {
        match events[i].kind {
            EventKind::Crashed { point, .. } => {
                let at = crate::history::jsonl::point_name(point, names);
                let undone: Vec<String> = because
                    .iter()
                    .filter_map(|&j| match events[j].kind {
                        EventKind::CutShort { label, .. } => {
                            Some(format!("`{}`", names.history.label_name(label)))
                        }
                        _ => None,
                    })
                    .collect();
                if !undone.is_empty() {
                    return format!(
                        "{c1} crashed ({at}) after applying the effect and before its handler finished ({} never ran), so the message was delivered again and the handler did not recognise it.",
                        undone.join(", ")
                    );
                }
                return format!(
                    "{c1} crashed ({at}) after applying the effect and before its offset was committed, so the message was delivered again and the handler did not recognise it."
                );
            }
            EventKind::PollIntervalExceeded { .. } | EventKind::MemberRemoved { .. } => {
                return format!(
                    "{c1} was removed from the group while it was still handling its batch, so the partition moved to another member, which re-read it from the last committed offset."
                );
            }
            EventKind::CommitRejected { .. } => {
                return format!(
                    "{c1}'s commit was rejected after a rebalance, so the batch was read again from the last committed offset."
                );
            }
            _ => {}
        }
    }
    if aborted {
        return format!(
            "The log holds the message more than once: one copy belongs to an aborted transaction, which {c1} handled because it reads uncommitted, and the producer sent the message again in a later transaction."
        );
    }
    match in_log {
        InLog::Retried => return "The log holds the message more than once (a producer retry appended it again), and the handler did not recognise the copy.".into(),
        InLog::Resent => return "The log holds the message more than once: its producer crashed before the send was answered, and after the restart the application sent it again, as a new producer (a new producer id, or none without idempotence), so the broker could not tell the copy from a new record; the handler did not recognise it either.".into(),
        InLog::Output => return "The topic holds the message more than once: consume-transform-produce stages committed it there more than once (a stage committing one input twice, copies in a stage's input, or two stages writing the topic), and the handler did not recognise the copy.".into(),
        InLog::Once => {}
    }
    "The message was delivered again and the handler did not recognise it.".into()
}

/// The `Delivered` event of `msg` to `consumer` last before `before`.
fn delivery_before(
    events: &[Event],
    before: usize,
    consumer: NodeId,
    msg: MessageId,
) -> Option<usize> {
    events[..before].iter().rposition(|e| {
        matches!(e.kind, EventKind::Delivered { consumer: c, msg: m, .. } if c == consumer && m == msg)
    })
}

/// `(partition, offset)` of a `Delivered` event.
fn delivered(events: &[Event], i: usize) -> Option<(faultline_models::PartitionId, u64)> {
    match events[i].kind {
        EventKind::Delivered {
            partition, offset, ..
        } => Some((partition, offset)),
        _ => None,
    }
}
