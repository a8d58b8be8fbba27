//! `per-key-order`: the messages of one key take effect in the order the
//! application produced them.
//!
//! For each group, the first effect of each message is taken in history
//! order; a message whose position among its key's messages is lower than
//! one already effected took effect out of order. Repeated effects of a
//! message are the exactly-once checker's business, not this one's.

use faultline_models::event::EventKind;
use faultline_models::{Event, MessageId, PartitionId};

use super::index::Index;
use super::{FINDINGS_PER_INVARIANT_MAX, Finding, Invariant, Verdicts, narrate};
use crate::history::Names;

/// Checks `per-key-order`.
pub fn check(ix: &Index, names: &Names<'_>) -> Verdicts {
    if ix.in_order {
        // The index saw every first effect in its key's order.
        return (0, Vec::new());
    }
    let keys = names.layout.keys.len();
    let mut count = 0;
    let mut found = Vec::new();
    for g in 0..ix.groups {
        let mut seen = vec![false; ix.msgs];
        // Per key: (highest seq effected, its message, its effect event).
        let mut high: Vec<Option<(u32, u32, u32)>> = vec![None; keys];
        let mut reported = vec![false; keys];
        for &super::index::Applied {
            group: eg,
            msg: m,
            event: i,
            ..
        } in &ix.effects
        {
            if usize::from(eg) != g || seen[m as usize] {
                continue;
            }
            seen[m as usize] = true;
            let k = ix.messages[m as usize].key.index();
            let seq = ix.messages[m as usize].seq;
            match high[k] {
                Some((hs, hm, hi)) if seq < hs => {
                    count += 1;
                    if !reported[k] && found.len() < FINDINGS_PER_INVARIANT_MAX {
                        reported[k] = true;
                        found.push(witness(ix, names, g, m, i as usize, hm, hi as usize));
                    }
                }
                _ => high[k] = Some((seq, m, i)),
            }
        }
    }
    (count, found)
}

/// Where a message sat: its first append's partition and offset.
fn placement(events: &[Event], ix: &Index, m: u32) -> Option<(usize, PartitionId, u64)> {
    let i = super::index::some(ix.messages[m as usize].first_append)?;
    match events[i].kind {
        EventKind::Appended {
            partition, offset, ..
        } => Some((i, partition, offset)),
        _ => None,
    }
}

fn witness(
    ix: &Index,
    names: &Names<'_>,
    _g: usize,
    late: u32,
    late_effect: usize,
    early: u32,
    early_effect: usize,
) -> Finding {
    let events = &names.history.events;
    let key = ix.messages[late as usize].key;
    let (ls, es) = (
        ix.messages[late as usize].seq,
        ix.messages[early as usize].seq,
    );
    let mut f = Finding::new(
        Invariant::PerKeyOrder,
        format!(
            "key {}: m{late} (its message #{ls}) took effect at {}, after m{early} (message #{es}) at {}",
            names.key(key),
            events[late_effect].time,
            events[early_effect].time
        ),
    );
    f.msg = Some(MessageId(late));
    f.key = Some(key);
    let lp = placement(events, ix, late);
    let ep = placement(events, ix, early);
    let mut chain = vec![early_effect, late_effect];
    if let Some((i, p, o)) = lp {
        chain.push(i);
        f.partition = Some(p);
        f.offsets.push(o);
    }
    if let Some((i, _, o)) = ep {
        chain.push(i);
        f.offsets.push(o);
    }
    for e in [early_effect, late_effect] {
        if let EventKind::Effect { consumer, .. } = events[e].kind
            && !f.nodes.contains(&consumer)
        {
            f.nodes.push(consumer);
        }
    }
    f.explanation = narrate(&mut chain, names);
    f.explanation.push(match (lp, ep) {
        (Some((_, p1, _)), Some((_, p2, _))) if p1 != p2 => format!(
            "The two messages sit in different partitions ({} and {}). Kafka orders records only within a partition; records produced without a key are spread over partitions, so one entity's messages are consumed in no particular order.",
            names.partition(p1),
            names.partition(p2)
        ),
        (Some((_, p, lo)), Some((_, _, eo))) if lo > eo => format!(
            "The log of {} holds them out of order (m{early} at offset {eo}, m{late} at offset {lo}): a producer retry with more than one request in flight let a later batch overtake an earlier one.",
            names.partition(p)
        ),
        _ => "The log holds them in order, but they took effect out of order: a rebalance moved the partition while a member was still handling records.".into(),
    });
    f.witness = chain;
    f
}
