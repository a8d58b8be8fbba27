//! Information that is not a violation: duplicate deliveries (Kafka's
//! at-least-once contract allows them), duplicate appends, dead letters,
//! records the producer gave up on.

use faultline_models::event::{EventKind, Settle};

use super::Info;
use super::index::Index;
use crate::faults::{FaultAction, FaultPlan, LinkEffect, LinkSpec};
use crate::history::Names;

/// Examples kept per kind.
const EXAMPLES_MAX: usize = 5;

/// Collects the information items of a run.
pub fn collect(ix: &Index, names: &Names<'_>) -> Vec<Info> {
    let events = &names.history.events;
    let mut out = Vec::new();

    let redelivered = ix.deliveries.iter().filter(|d| **d > 1).count() as u64;
    if redelivered > 0 {
        let mut seen = vec![0u32; ix.deliveries.len()];
        let mut examples = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if let EventKind::Delivered { consumer, msg, .. } = e.kind
                && let Some(s) = ix.group_slot(consumer, msg)
            {
                seen[s] += 1;
                if seen[s] == 2 && examples.len() < EXAMPLES_MAX {
                    examples.push(i);
                }
            }
        }
        out.push(Info {
            kind: "duplicate-delivery",
            count: redelivered,
            summary: format!(
                "{redelivered} message{} delivered more than once to a group (allowed by at-least-once delivery; the handler must cope)",
                if redelivered == 1 { " was" } else { "s were" }
            ),
            examples,
        });
    }

    let doubled = ix.appends.iter().filter(|a| **a > 1).count() as u64;
    if doubled > 0 {
        let mut seen = vec![0u32; ix.msgs];
        let examples = events
            .iter()
            .enumerate()
            .filter(|(_, e)| match e.kind {
                EventKind::Appended { msg, .. } if msg.index() < ix.msgs => {
                    seen[msg.index()] += 1;
                    seen[msg.index()] == 2
                }
                _ => false,
            })
            .map(|(i, _)| i)
            .take(EXAMPLES_MAX)
            .collect();
        out.push(Info {
            kind: "duplicate-append",
            count: doubled,
            summary: format!(
                "{doubled} message{} appended to the log more than once (producer retries without idempotence)",
                if doubled == 1 { " was" } else { "s were" }
            ),
            examples,
        });
    }

    let mut push_count = |kind: &'static str, what: &str, pred: &dyn Fn(&EventKind) -> bool| {
        let hits: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| pred(&e.kind))
            .map(|(i, _)| i)
            .collect();
        if !hits.is_empty() {
            out.push(Info {
                kind,
                count: hits.len() as u64,
                summary: format!("{} {what}", hits.len()),
                examples: hits.into_iter().take(EXAMPLES_MAX).collect(),
            });
        }
    };
    push_count(
        "dead-lettered",
        "deliveries dead-lettered by the handler",
        &|k| {
            matches!(
                k,
                EventKind::Handled {
                    settle: Settle::DeadLettered,
                    ..
                }
            )
        },
    );
    push_count(
        "produce-failed",
        "records the producer gave up on (never acknowledged)",
        &|k| matches!(k, EventKind::ProduceFailed { .. }),
    );
    out
}

/// Timeline faults that never fired: the run could not have caught what
/// they were meant to provoke.
pub fn unfired(plan: &FaultPlan, unfired: &[usize], names: &Names<'_>) -> Option<Info> {
    if unfired.is_empty() {
        return None;
    }
    let list: Vec<String> = unfired
        .iter()
        .filter_map(|&i| plan.timeline.get(i).map(|f| (i, f)))
        .map(|(i, f)| {
            let what = match &f.action {
                FaultAction::Crash { node, point, .. } => {
                    format!("crash {} at {}", names.node(*node), point.name())
                }
                FaultAction::Link(LinkSpec {
                    effect,
                    from,
                    to,
                    kind,
                    count,
                    ..
                }) => format!(
                    "{} {count} {} from {} to {}",
                    match effect {
                        LinkEffect::Drop => "drop",
                        LinkEffect::Duplicate => "duplicate",
                        LinkEffect::Delay { .. } => "delay",
                    },
                    kind.unwrap_or("message"),
                    names.node(*from),
                    names.node(*to)
                ),
                FaultAction::Partition { .. } => "partition".to_owned(),
                FaultAction::Slow { node, .. } => format!("slow {}", names.node(*node)),
            };
            format!("#{i} ({what}, from {})", f.at)
        })
        .collect();
    Some(Info {
        kind: "fault-not-fired",
        count: unfired.len() as u64,
        summary: format!(
            "timeline fault{} {} never fired before the fault window closed: the run could not catch what {} meant to provoke",
            if unfired.len() == 1 { "" } else { "s" },
            list.join(", "),
            if unfired.len() == 1 {
                "it was"
            } else {
                "they were"
            }
        ),
        examples: Vec::new(),
    })
}
