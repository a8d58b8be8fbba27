//! `idempotent`: redeliveries do not change the outcome. The group's final
//! store must equal the store obtained by applying each distinct message
//! once, in the order the run first applied it, with a fresh handler and
//! no faults.
//!
//! Only messages the run applied (or settled) are replayed, so a lost
//! message does not count here (that is `no-loss`), and the replay follows
//! the run's own order, so reordering does not count either (that is
//! `per-key-order`). Handlers whose effects depend on their random stream
//! cannot be judged this way.

use faultline_models::event::{EventKind, Settle};
use faultline_models::handler::{HandlerCx, Outcome};
use faultline_models::kafka::KafkaWorld;
use faultline_models::model::NoFaults;
use faultline_models::panic_guard::run_user_code;
use faultline_models::rng::Stream;
use faultline_models::{GroupId, History, MessageId, SimRng, Store, TxBuffer};

use super::index::{Index, NONE};
use super::narrate;
use super::{FINDINGS_PER_INVARIANT_MAX, Finding, Invariant, Verdicts};
use crate::history::Names;

/// Rows of a store difference shown in a finding.
const ROWS_SHOWN_MAX: usize = 8;

/// Checks `idempotent`.
pub fn check(ix: &Index, names: &Names<'_>, world: &KafkaWorld) -> Verdicts {
    let mut count = 0;
    let mut found = Vec::new();
    for g in 0..names.layout.groups.len() {
        if applied_once(ix, names, g) {
            continue;
        }
        let Some(reference) = reference_store(ix, names, world, g) else {
            continue;
        };
        let actual = world.store(GroupId(g as u16));
        let diff = actual.diff(&reference);
        if diff.is_empty() {
            continue;
        }
        count += diff.len();
        if found.len() >= FINDINGS_PER_INVARIANT_MAX {
            continue;
        }
        let group = &names.layout.groups[g];
        let mut f = Finding::new(
            Invariant::Idempotent,
            format!(
                "group {}'s store differs in {} row{} from applying each distinct message once",
                group.name,
                diff.len(),
                if diff.len() == 1 { "" } else { "s" }
            ),
        );
        for (table, key, here, there) in diff.iter().take(ROWS_SHOWN_MAX) {
            let show = |v: &Option<&faultline_models::Value>| {
                v.map_or_else(|| "(absent)".to_owned(), |v| v.to_string())
            };
            f.explanation.push(format!(
                "{table}[{key}]: the run left {}, applying each message once gives {}",
                show(here),
                show(there)
            ));
        }
        if diff.len() > ROWS_SHOWN_MAX {
            f.explanation
                .push(format!("... and {} more rows", diff.len() - ROWS_SHOWN_MAX));
        }
        // Witness: effects applied more than once in this group.
        let mut effects: Vec<_> = ix
            .effects
            .iter()
            .filter(|e| usize::from(e.0) == g)
            .copied()
            .collect();
        effects.sort_by_key(|&(_, m, l, _)| (m, l));
        let mut repeated = Vec::new();
        for w in effects.windows(2) {
            if (w[0].1, w[0].2) == (w[1].1, w[1].2) {
                repeated.push(w[0].3 as usize);
                repeated.push(w[1].3 as usize);
            }
            if repeated.len() >= 6 {
                break;
            }
        }
        let told = narrate(&mut repeated, names);
        if !told.is_empty() {
            f.explanation.push("Effects applied more than once:".into());
        }
        f.explanation.extend(told);
        f.witness = repeated;
        found.push(f);
    }
    (count, found)
}

/// Whether the run applied each message of group `g` in at most one
/// handler invocation, and no invocation that applied something was cut
/// short by a crash (a crash after its last durable step leaves nothing
/// undone). Then every other invocation changed nothing, each applying
/// invocation saw the store the reference replay sees at the same point,
/// and the run's store is the reference store: no need to replay.
fn applied_once(ix: &Index, names: &Names<'_>, g: usize) -> bool {
    let g = g as u16;
    // Per node: the invocation in progress, `(message, applied anything)`.
    let mut open: Vec<Option<(MessageId, bool)>> = vec![None; names.layout.node_names.len()];
    let mut applying = vec![false; ix.msgs];
    // Messages settled by an invocation that applied nothing: their place
    // in the reference is fixed there, so applying them later would
    // apply them somewhere else than the reference does.
    let mut placed = vec![false; ix.msgs];
    // Per node: the invocation its last crash ended (its steps after the
    // crash come as `cut-short` events).
    let mut crashed: Vec<Option<(MessageId, bool)>> = vec![None; names.layout.node_names.len()];
    // Closes an invocation; false when its message was applied before.
    let mut close = |inv: Option<(MessageId, bool)>| match inv {
        Some((m, true)) => !std::mem::replace(&mut applying[m.index()], true),
        _ => true,
    };
    for e in &names.history.events {
        match e.kind {
            EventKind::Delivered { consumer, msg, .. } if ix.group_of(consumer) == Some(g) => {
                let prev = open[consumer.index()].replace((msg, false));
                if !close(prev) || msg.index() >= ix.msgs {
                    return false;
                }
            }
            EventKind::Effect { consumer, msg, .. } if ix.group_of(consumer) == Some(g) => {
                match &mut open[consumer.index()] {
                    Some((m, applied)) if *m == msg && !placed[msg.index()] => *applied = true,
                    _ => return false,
                }
            }
            EventKind::Handled {
                consumer,
                msg,
                settle,
                ..
            } if ix.group_of(consumer) == Some(g) => {
                let inv = open[consumer.index()].take();
                if inv.is_some_and(|(m, _)| m != msg) || !close(inv) {
                    return false;
                }
                if settle == Settle::Ok
                    && inv.is_some_and(|(_, applied)| !applied)
                    && msg.index() < ix.msgs
                {
                    placed[msg.index()] = true;
                }
                if settle == Settle::Retry {
                    // The next attempt is another invocation of it.
                    open[consumer.index()] = Some((msg, false));
                }
            }
            EventKind::Crashed { node, .. } if ix.group_of(node) == Some(g) => {
                let inv = open[node.index()].take();
                crashed[node.index()] = inv;
                if !close(inv) {
                    return false;
                }
            }
            // The crash just before cut the invocation short after it had
            // applied something: a partial application.
            EventKind::CutShort { consumer, .. }
                if ix.group_of(consumer) == Some(g)
                    && crashed[consumer.index()].is_some_and(|(_, applied)| applied) =>
            {
                return false;
            }
            _ => {}
        }
    }
    open.into_iter()
        .all(|inv| !inv.is_some_and(|(_, applied)| applied))
}

/// Applies each message group `g` applied (or settled), once, in the order
/// of its first effect or settlement, to an empty store. Each message is
/// handed over as it was in the invocation that defines its place (same
/// partition, offset and virtual time), and retried as the consumer would
/// retry it. `None` when the handler factory panics (a `no-panic` finding).
pub fn reference_store(
    ix: &Index,
    names: &Names<'_>,
    world: &KafkaWorld,
    g: usize,
) -> Option<Store> {
    let events = &names.history.events;
    let layout = names.layout;
    let mut first = vec![NONE; ix.msgs];
    for &(eg, m, _, i) in &ix.effects {
        if usize::from(eg) == g && first[m as usize] == NONE {
            first[m as usize] = i;
        }
    }
    let settled = &ix.settled[g * ix.msgs..(g + 1) * ix.msgs];
    for (f, &s) in first.iter_mut().zip(settled) {
        if s != NONE
            && matches!(
                events[s as usize].kind,
                EventKind::Handled {
                    settle: Settle::Ok,
                    ..
                }
            )
        {
            *f = (*f).min(s);
        }
    }
    let mut order: Vec<(u32, usize)> = first
        .iter()
        .enumerate()
        .filter(|(_, i)| **i != NONE)
        .map(|(m, i)| (*i, m))
        .collect();
    order.sort_unstable();

    let meta = &layout.groups[g];
    let mut handler = run_user_code(|| (meta.handler)()).ok()?;
    let mut store = Store::new();
    let mut buffer = TxBuffer::default();
    let mut scratch = History::new();
    let mut env = NoFaults;
    let mut rng = SimRng::new(0, Stream::Handler(g as u16));
    for (at, m) in order {
        let at = at as usize;
        let consumer = match events[at].kind {
            EventKind::Effect { consumer, .. } | EventKind::Handled { consumer, .. } => consumer,
            _ => continue,
        };
        // The delivery of the invocation that defines the message's place.
        let delivered = events[..at].iter().rev().find_map(|e| match e.kind {
            EventKind::Delivered {
                consumer: c,
                msg,
                partition,
                offset,
                ..
            } if c == consumer && msg.index() == m => Some((partition, offset)),
            _ => None,
        });
        let Some((partition, offset)) = delivered else {
            continue;
        };
        let Some(record) = world.log(partition).get(offset).copied() else {
            continue;
        };
        for attempt in 1..=meta.config.handler_attempts_max {
            let delivery = layout.delivery(partition, offset, &record, attempt);
            scratch.events.clear();
            let mut cx = HandlerCx::new(
                events[at].time,
                consumer,
                record.msg,
                record.entity,
                &mut store,
                &mut buffer,
                &mut scratch,
                &mut env,
                &mut rng,
            );
            match run_user_code(|| handler.handle(&delivery, &mut cx)) {
                Ok(Outcome::Retry) => continue,
                _ => break,
            }
        }
    }
    Some(store)
}
