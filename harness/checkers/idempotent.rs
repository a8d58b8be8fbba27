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
use faultline_models::kafka::{KafkaWorld, Layout, Record};
use faultline_models::model::NoFaults;
use faultline_models::panic_guard::run_user_code;
use faultline_models::rng::Stream;
use faultline_models::{GroupId, History, MessageId, SimRng, Store, TxBuffer};

use super::index::{Index, NONE, Receipt};
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
        if ix.applied_once.get(g).copied().unwrap_or(false) {
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
            .filter(|e| usize::from(e.group) == g)
            .copied()
            .collect();
        effects.sort_by_key(|e| (e.msg, e.label));
        let mut repeated = Vec::new();
        for w in effects.windows(2) {
            if (w[0].msg, w[0].label) == (w[1].msg, w[1].label) {
                repeated.push(w[0].event as usize);
                repeated.push(w[1].event as usize);
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

/// Whether each group applied each of its messages in at most one handler
/// invocation, with no invocation that applied something cut short by a
/// crash (a crash after its last durable step leaves nothing undone).
/// Then every other invocation changed nothing, each applying invocation
/// saw the store the reference replay sees at the same point, and the
/// run's store is the reference store: no need to replay.
///
/// A fold over the history that [`Index::build`] drives in its pass: each
/// consumer event goes to its node's [`NodeFold`] (kept in the index's
/// per-node slots), whose per-`(group, message)` part ([`MsgFold`]) lives
/// in the index's receipts, so a consumer event looks its node and its
/// receipt up once. An event that rules its group's shortcut out says so
/// (`false`), and the index marks every node of the group with
/// [`NodeFold::rule_out`]; [`applied_once`] then gives the verdicts.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeFold {
    /// The invocation in progress, `(message, applied anything)`.
    open: Option<(MessageId, bool)>,
    /// The invocation its last crash ended had applied something (its
    /// steps after the crash come as `cut-short` events).
    crashed_applied: bool,
    /// Its group's shortcut is ruled out: the fold stops here.
    out: bool,
}

/// One `(group, message)`'s part of the applied-once fold (see [`NodeFold`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgFold {
    /// An invocation applied it.
    applying: bool,
    /// Settled by an invocation that applied nothing. Its place in the
    /// reference is fixed there, so applying it later would apply it
    /// somewhere else than the reference does.
    placed: bool,
}

impl MsgFold {
    /// Before any event.
    pub const NEW: MsgFold = MsgFold {
        applying: false,
        placed: false,
    };
}

/// The index's receipts, per `(group, message)` at `group * msgs +
/// message`, where the fold keeps its [`MsgFold`]s.
pub struct Receipts<'a> {
    /// The receipts.
    pub all: &'a mut [Receipt],
    /// Message ids per group.
    pub msgs: usize,
}

impl Receipts<'_> {
    /// Closes an invocation of group `g`; false when its message was
    /// applied before.
    #[inline]
    fn close(&mut self, g: usize, inv: Option<(MessageId, bool)>) -> bool {
        match inv {
            Some((m, true)) => {
                !std::mem::replace(&mut self.all[g * self.msgs + m.index()].once.applying, true)
            }
            _ => true,
        }
    }
}

impl NodeFold {
    /// Rules its group's shortcut out (for every node of the group).
    #[inline]
    pub fn rule_out(&mut self) {
        self.out = true;
    }

    /// A `delivered` event of this node, of group `g`; false when it rules
    /// the group's shortcut out.
    #[inline]
    pub fn delivered(&mut self, g: usize, msg: MessageId, mut rs: Receipts<'_>) -> bool {
        if self.out {
            return true;
        }
        let prev = self.open.replace((msg, false));
        rs.close(g, prev) && msg.index() < rs.msgs
    }

    /// An `effect` event of this node; `here` is the message's part of the
    /// fold (`None` for a message outside the workload). False when it
    /// rules the group's shortcut out.
    #[inline]
    pub fn effect(&mut self, msg: MessageId, here: Option<&MsgFold>) -> bool {
        if self.out {
            return true;
        }
        let placed = here.is_some_and(|f| f.placed);
        match &mut self.open {
            Some((m, applied)) if *m == msg && !placed => {
                *applied = true;
                true
            }
            _ => false,
        }
    }

    /// A `handled` event of this node; `here` is the message's part of the
    /// fold (`None` for a message outside the workload). False when it
    /// rules the group's shortcut out.
    #[inline]
    pub fn handled(
        &mut self,
        msg: MessageId,
        settle: Settle,
        mut here: Option<&mut MsgFold>,
    ) -> bool {
        if self.out {
            return true;
        }
        let inv = self.open.take();
        // It closes an invocation of this message (if any) that did not
        // apply it after another one had.
        let closes = match inv {
            Some((m, _)) if m != msg => false,
            Some((_, true)) => here
                .as_deref_mut()
                .is_some_and(|f| !std::mem::replace(&mut f.applying, true)),
            _ => true,
        };
        if !closes {
            return false;
        }
        if settle == Settle::Ok
            && inv.is_some_and(|(_, applied)| !applied)
            && let Some(f) = here
        {
            f.placed = true;
        }
        if settle == Settle::Retry {
            // The next attempt is another invocation of it.
            self.open = Some((msg, false));
        }
        true
    }

    /// A `crashed` event of this node, of group `g`; false when it rules
    /// the group's shortcut out.
    pub fn crashed(&mut self, g: usize, mut rs: Receipts<'_>) -> bool {
        if self.out {
            return true;
        }
        let inv = self.open.take();
        self.crashed_applied = inv.is_some_and(|(_, applied)| applied);
        rs.close(g, inv)
    }

    /// A `cut-short` event of this node: if the crash just before cut the
    /// invocation short after it had applied something, that was a partial
    /// application (false: the group's shortcut is ruled out).
    pub fn cut_short(&self) -> bool {
        self.out || !self.crashed_applied
    }
}

/// Per group (of `groups`), whether the shortcut holds: nothing ruled it
/// out, and no invocation still open at the end had applied something.
/// `nodes` gives each consumer node's group and part of the fold.
pub fn applied_once<'a>(
    groups: usize,
    nodes: impl Iterator<Item = (usize, &'a NodeFold)>,
) -> Vec<bool> {
    let mut ok = vec![true; groups];
    for (g, node) in nodes {
        if node.out || node.open.is_some_and(|(_, applied)| applied) {
            ok[g] = false;
        }
    }
    ok
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
    for e in &ix.effects {
        if usize::from(e.group) == g && first[e.msg as usize] == NONE {
            first[e.msg as usize] = e.event;
        }
    }
    let receipts = &ix.receipts[g * ix.msgs..(g + 1) * ix.msgs];
    for (f, r) in first.iter_mut().zip(receipts) {
        let s = r.settled;
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
        // The record at that offset, unless a replica truncation has put
        // another there since (then the record as it was produced).
        let Some(record) = world
            .log(partition)
            .get(offset)
            .copied()
            .filter(|r| r.msg.index() == m)
            .or_else(|| produced(layout, m))
        else {
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
                Some(&mut env),
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

/// Message `m` as its producer produced it.
fn produced(layout: &Layout, m: usize) -> Option<Record> {
    layout.producers.iter().find_map(|p| {
        p.plan.iter().find(|r| r.msg.index() == m).map(|r| Record {
            msg: r.msg,
            entity: r.entity,
            seq: r.seq,
            value: r.value,
            keyed: !p.keyless,
            producer: p.node,
            batch: 0,
            txn_pid: 0,
            control: faultline_models::kafka::Control::Data,
        })
    })
}
