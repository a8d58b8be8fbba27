//! Which events a report's diagram draws.
//!
//! A run of a few hundred events is drawn whole. A longer one is drawn
//! around its findings: every witness event, the lifecycle faults (crashes,
//! restarts, network partitions, slow phases), and the events nearest each
//! witness, growing outwards until the row budget is spent. What is left
//! out becomes gap rows that say how many events they stand for, so a
//! reader never mistakes an elision for a quiet period.

use std::collections::BTreeSet;

use faultline_models::NodeId;
use faultline_models::event::{Event, EventKind};

/// Events a diagram draws at most (before consecutive alike events are
/// folded into one row).
pub const EVENTS_MAX: usize = 400;

/// Findings whose witnesses a large diagram centres on.
pub const FINDINGS_MAX: usize = 12;

/// Lifecycle faults always drawn in a large diagram, at most.
const LIFECYCLE_MAX: usize = 80;

/// The events a diagram draws, in history order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Indices into the history, ascending.
    pub events: Vec<usize>,
    /// Events of the history not drawn.
    pub left_out: usize,
    /// Findings whose witnesses the selection centres on (all of them when
    /// the whole history is drawn).
    pub findings_centred: usize,
}

/// Whether an event starts or ends a fault period (always drawn, so that
/// fault bands have both ends), or marks a step of a rebalance (a new
/// generation, a cooperative revoke or assign).
pub fn is_lifecycle(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Crashed { .. }
            | EventKind::Restarted { .. }
            | EventKind::PartitionStarted { .. }
            | EventKind::PartitionHealed { .. }
            | EventKind::SlowStarted { .. }
            | EventKind::SlowEnded { .. }
            | EventKind::FaultsHealed
            | EventKind::GenerationStarted { .. }
            | EventKind::IncrementalRevoke { .. }
            | EventKind::IncrementalAssign { .. }
    )
}

/// Chooses the events to draw. `witnesses[f]` are the history indices of
/// finding `f`'s witness events; `lifeline` says which node an event sits
/// on (the events nearest a witness on the nodes the findings involve are
/// preferred to those of bystanders).
pub fn select(
    events: &[Event],
    witnesses: &[Vec<usize>],
    lifeline: &dyn Fn(&EventKind) -> Option<NodeId>,
) -> Selection {
    let n = events.len();
    if n <= EVENTS_MAX {
        return Selection {
            events: (0..n).collect(),
            left_out: 0,
            findings_centred: witnesses.len(),
        };
    }
    let centred = witnesses.len().min(FINDINGS_MAX);
    let mut chosen = BTreeSet::new();
    let mut anchors: Vec<usize> = witnesses[..centred]
        .iter()
        .flatten()
        .copied()
        .filter(|&i| i < n)
        .collect();
    anchors.sort_unstable();
    anchors.dedup();
    // A witness list longer than the budget keeps its first events.
    anchors.truncate(EVENTS_MAX / 2);
    chosen.extend(anchors.iter().copied());
    let lifecycle = events
        .iter()
        .enumerate()
        .filter(|(_, e)| is_lifecycle(&e.kind))
        .map(|(i, _)| i)
        .take(LIFECYCLE_MAX);
    chosen.extend(lifecycle);
    if anchors.is_empty() {
        // Nothing to centre on: the run from its beginning.
        let mut i = 0;
        while chosen.len() < EVENTS_MAX && i < n {
            chosen.insert(i);
            i += 1;
        }
    } else {
        let related = Related::of(events, &anchors);
        // The findings' messages first, then their clients' other events.
        grow_around(&anchors, n, RELATED_RADIUS, &mut chosen, &|i| {
            related.concerns(&events[i].kind, lifeline)
        });
        grow_around(&anchors, n, RELATED_RADIUS, &mut chosen, &|i| {
            client_of(&events[i].kind).is_some_and(|c| related.clients.contains(&c))
        });
        grow_around(&anchors, n, NEAR_RADIUS, &mut chosen, &|_| true);
    }
    let events: Vec<usize> = chosen.into_iter().collect();
    Selection {
        left_out: n - events.len(),
        events,
        findings_centred: centred,
    }
}

/// How far (in events) from a witness related events are drawn.
const RELATED_RADIUS: usize = 600;
/// How far from a witness any event is drawn.
const NEAR_RADIUS: usize = 12;

/// What the findings are about: the messages of their witnesses and the
/// clients (producers, consumers) their witnesses happened on. Brokers
/// serve everyone, so a broker's event is related only through its message.
struct Related {
    msgs: BTreeSet<u32>,
    clients: BTreeSet<NodeId>,
    /// The produce requests (producer, batch, attempt) that carried those
    /// messages.
    batches: BTreeSet<(NodeId, u32, u32)>,
}

impl Related {
    fn of(events: &[Event], anchors: &[usize]) -> Related {
        let mut r = Related {
            msgs: BTreeSet::new(),
            clients: BTreeSet::new(),
            batches: BTreeSet::new(),
        };
        for &i in anchors {
            let kind = &events[i].kind;
            if let Some(m) = msg_of(kind) {
                r.msgs.insert(m);
            }
            if let Some(node) = client_of(kind) {
                r.clients.insert(node);
            }
        }
        for e in events {
            if let EventKind::Appended {
                msg,
                producer,
                batch,
                attempt,
                ..
            } = e.kind
                && r.msgs.contains(&msg.0)
            {
                r.batches.insert((producer, batch, attempt));
            }
        }
        r
    }

    /// Whether an event is about the findings' messages (or is a fault of
    /// the whole system).
    fn concerns(&self, kind: &EventKind, lifeline: &dyn Fn(&EventKind) -> Option<NodeId>) -> bool {
        msg_of(kind).is_some_and(|m| self.msgs.contains(&m))
            || (is_lifecycle(kind) && lifeline(kind).is_none())
            || matches!(*kind, EventKind::ProduceSent { producer, batch, attempt, .. }
                if self.batches.contains(&(producer, batch, attempt)))
    }
}

/// The message an event is about.
fn msg_of(kind: &EventKind) -> Option<u32> {
    match *kind {
        EventKind::Appended { msg, .. }
        | EventKind::Acked { msg, .. }
        | EventKind::ProduceFailed { msg, .. }
        | EventKind::Delivered { msg, .. }
        | EventKind::Effect { msg, .. }
        | EventKind::CutShort { msg, .. }
        | EventKind::Handled { msg, .. }
        | EventKind::HandlerPanicked { msg, .. } => Some(msg.0),
        _ => None,
    }
}

/// The producer or consumer an event is about.
pub fn client_of(kind: &EventKind) -> Option<NodeId> {
    match *kind {
        EventKind::ProduceSent { producer, .. }
        | EventKind::Acked { producer, .. }
        | EventKind::ProduceFailed { producer, .. }
        | EventKind::ProducerInitialized { producer, .. }
        | EventKind::TxnBegan { producer, .. }
        | EventKind::TxnCommitted { producer, .. }
        | EventKind::Fenced { producer, .. } => Some(producer),
        EventKind::Assigned { consumer, .. }
        | EventKind::MemberRemoved { consumer, .. }
        | EventKind::StaticMemberRejoined { consumer, .. }
        | EventKind::IncrementalRevoke { consumer, .. }
        | EventKind::IncrementalAssign { consumer, .. }
        | EventKind::PollIntervalExceeded { consumer, .. }
        | EventKind::StageRewound { consumer, .. }
        | EventKind::OffsetReset { consumer, .. }
        | EventKind::Delivered { consumer, .. }
        | EventKind::Effect { consumer, .. }
        | EventKind::CutShort { consumer, .. }
        | EventKind::Handled { consumer, .. }
        | EventKind::CommitAccepted { consumer, .. }
        | EventKind::CommitRejected { consumer, .. }
        | EventKind::HandlerPanicked { consumer, .. }
        | EventKind::HandlerFactoryPanicked { consumer, .. } => Some(consumer),
        _ => None,
    }
}

/// Adds the events within `radius` of the anchors that `wanted` accepts,
/// nearest first, until the budget is spent.
fn grow_around(
    anchors: &[usize],
    n: usize,
    radius_max: usize,
    chosen: &mut BTreeSet<usize>,
    wanted: &dyn Fn(usize) -> bool,
) {
    let mut radius = 1;
    while chosen.len() < EVENTS_MAX && radius < n.min(radius_max + 1) {
        for &a in anchors {
            for i in [a.checked_sub(radius), a.checked_add(radius)]
                .into_iter()
                .flatten()
            {
                if i < n && chosen.len() < EVENTS_MAX && wanted(i) {
                    chosen.insert(i);
                }
            }
        }
        radius += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_models::SimTime;

    fn restarts(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| Event {
                time: SimTime::from_us(i as u64),
                kind: EventKind::Restarted {
                    node: NodeId(i as u16 % 3),
                },
            })
            .collect()
    }

    fn healed(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| Event {
                time: SimTime::from_us(i as u64),
                kind: EventKind::FaultsHealed,
            })
            .collect()
    }

    #[test]
    fn a_short_history_is_drawn_whole() {
        let s = select(&restarts(10), &[vec![3]], &|_| None);
        assert_eq!(s.events, (0..10).collect::<Vec<_>>());
        assert_eq!(s.left_out, 0);
    }

    #[test]
    fn a_long_history_centres_on_the_witnesses_within_the_budget() {
        let mut events = restarts(10_000);
        for e in &mut events {
            e.kind = EventKind::Acked {
                producer: NodeId(0),
                msg: faultline_models::ids::MessageId(0),
                partition: faultline_models::ids::PartitionId(0),
                offset: None,
            };
        }
        let s = select(&events, &[vec![5_000, 9_999]], &|_| None);
        assert!(s.events.contains(&5_000) && s.events.contains(&9_999));
        assert!(s.events.contains(&4_990) && s.events.contains(&9_900));
        assert_eq!(s.events.len(), EVENTS_MAX);
        assert_eq!(s.left_out, 10_000 - EVENTS_MAX);
        assert!(!s.events.contains(&0));
    }

    #[test]
    fn without_findings_a_long_history_is_drawn_from_its_start() {
        let s = select(&healed(1_000), &[], &|_| None);
        assert!(s.events.len() <= EVENTS_MAX);
        assert_eq!(s.events[0], 0);
        assert_eq!(s.findings_centred, 0);
    }
}
