//! `no-panic`: user handler code never panics. A panic is caught, the
//! record is dead-lettered so the run can go on, and the panic is reported
//! here with the seed that caused it.

use faultline_models::Event;
use faultline_models::event::EventKind;

use super::index::Index;
use super::narrate;
use super::{FINDINGS_PER_INVARIANT_MAX, Finding, Invariant, Verdicts};
use crate::history::Names;
use crate::history::describe::what;

/// Checks `no-panic`, from the panic events the index found.
pub fn check(ix: &Index, names: &Names<'_>) -> Verdicts {
    let events = &names.history.events;
    let mut count = 0;
    let mut found = Vec::new();
    for &i in &ix.panics {
        let i = i as usize;
        let e = &events[i];
        if let EventKind::HandlerFactoryPanicked { consumer, panic } = e.kind {
            count += 1;
            if found.len() < FINDINGS_PER_INVARIANT_MAX {
                let text = names
                    .history
                    .panics
                    .get(panic as usize)
                    .map_or("?", String::as_str);
                let mut f = Finding::new(
                    Invariant::NoPanic,
                    format!(
                        "{}'s handler factory panicked: {text}",
                        names.node(consumer)
                    ),
                );
                f.nodes.push(consumer);
                f.witness.push(i);
                f.explanation
                    .push(format!("{}: {}", e.time, what(&e.kind, names)));
                found.push(f);
            }
            continue;
        }
        let EventKind::HandlerPanicked {
            consumer,
            msg,
            panic,
        } = e.kind
        else {
            continue;
        };
        count += 1;
        if found.len() >= FINDINGS_PER_INVARIANT_MAX {
            continue;
        }
        let text = names
            .history
            .panics
            .get(panic as usize)
            .map_or("?", String::as_str);
        let mut f = Finding::new(
            Invariant::NoPanic,
            format!(
                "{}'s handler panicked on {}: {text}",
                names.node(consumer),
                names.msg(msg)
            ),
        );
        f.msg = Some(msg);
        f.nodes.push(consumer);
        let delivered = delivery_before(events, i, consumer, msg);
        f.witness = delivered.into_iter().chain([i]).collect();
        f.explanation = narrate(&mut f.witness, names);
        found.push(f);
    }
    (count, found)
}

fn delivery_before(
    events: &[Event],
    before: usize,
    consumer: faultline_models::NodeId,
    msg: faultline_models::MessageId,
) -> Option<usize> {
    events[..before].iter().rposition(|e| {
        matches!(e.kind, EventKind::Delivered { consumer: c, msg: m, .. } if c == consumer && m == msg)
    })
}
