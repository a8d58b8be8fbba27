//! Information that is not a violation: duplicate deliveries (Kafka's
//! at-least-once contract allows them), duplicate appends, dead letters,
//! records the producer gave up on.

use super::Info;
use super::index::Index;
use crate::faults::{FaultAction, FaultPlan, LinkEffect, LinkSpec};
use crate::history::Names;

/// Collects the information items of a run from the index's tallies.
pub fn collect(ix: &Index, _names: &Names<'_>) -> Vec<Info> {
    let mut out = Vec::new();
    let plural = |n: u64| if n == 1 { " was" } else { "s were" };
    let redelivered = &ix.redelivered;
    if redelivered.count > 0 {
        out.push(Info {
            kind: "duplicate-delivery",
            count: redelivered.count,
            summary: format!(
                "{} message{} delivered more than once to a group (allowed by at-least-once delivery; the handler must cope)",
                redelivered.count,
                plural(redelivered.count)
            ),
            examples: redelivered.examples.clone(),
        });
    }
    let reappended = &ix.reappended;
    if reappended.count > 0 {
        out.push(Info {
            kind: "duplicate-append",
            count: reappended.count,
            summary: format!(
                "{} message{} appended to the log more than once (producer retries without idempotence)",
                reappended.count,
                plural(reappended.count)
            ),
            examples: reappended.examples.clone(),
        });
    }
    for (kind, what, tally) in [
        (
            "dead-lettered",
            "deliveries dead-lettered by the handler",
            &ix.dead_lettered,
        ),
        (
            "produce-failed",
            "records the producer gave up on (never acknowledged)",
            &ix.produce_failed,
        ),
    ] {
        if tally.count > 0 {
            out.push(Info {
                kind,
                count: tally.count,
                summary: format!("{} {what}", tally.count),
                examples: tally.examples.clone(),
            });
        }
    }
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
