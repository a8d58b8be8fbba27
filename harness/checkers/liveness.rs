//! `liveness`: once the fault window closes and every fault heals, each
//! group must drain (every acknowledged record settled, lag 0, members
//! idle) within `limits.liveness_ms`.

use faultline_models::GroupId;
use faultline_models::event::EventKind;
use faultline_models::kafka::KafkaWorld;

use super::narrate;
use super::{Finding, Invariant, Verdicts};
use crate::engine::{RunStats, Stop};
use crate::history::Names;

/// Checks `liveness`.
pub fn check(names: &Names<'_>, world: &KafkaWorld, stats: &RunStats) -> Verdicts {
    if stats.stop == Stop::Drained {
        return (0, Vec::new());
    }
    let summary = match (stats.stop, stats.healed_at) {
        (Stop::LivenessTimeout, Some(t)) => {
            format!("the system did not drain within the liveness bound after faults healed at {t}")
        }
        (Stop::EventLimit, _) => format!(
            "the run hit limits.events_max ({} events) before draining",
            stats.events
        ),
        (Stop::SimTimeLimit, _) => format!(
            "the run hit limits.sim_time_ms at {} before draining",
            stats.end
        ),
        (Stop::Stalled, _) => {
            "the run stalled: nothing was left to do, yet work remained".to_owned()
        }
        _ => format!("the run stopped ({}) before draining", stats.stop.name()),
    };
    let mut f = Finding::new(Invariant::Liveness, summary);
    let mut chain = Vec::new();
    let layout = names.layout;
    for (g, meta) in layout.groups.iter().enumerate() {
        let topic = &layout.topics[usize::from(meta.topic)];
        for p in 0..topic.partitions {
            let pid = faultline_models::PartitionId(topic.first.0 + p as u16);
            let lag = world.lag(GroupId(g as u16), pid);
            if lag > 0 {
                f.explanation.push(format!(
                    "group {} lags {lag} record{} on {} (log end {}, committed {})",
                    meta.name,
                    if lag == 1 { "" } else { "s" },
                    layout.partition_name(pid),
                    world.log(pid).end(),
                    world
                        .committed(GroupId(g as u16), pid)
                        .map_or_else(|| "nothing".to_owned(), |c| c.to_string())
                ));
                if let Some((newer, stale)) = last_regression(names, GroupId(g as u16), pid) {
                    f.explanation.push(format!(
                        "its committed offset went backwards: a commit of an older position was accepted after a newer one (a duplicated or delayed request), and a consumer with nothing new to commit does not commit again; see events {newer} and {stale}"
                    ));
                    chain.extend([newer, stale]);
                }
            }
        }
    }
    // The last membership and crash events tell what kept it busy.
    let events = &names.history.events;
    let mut tail: Vec<usize> = events
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, e)| {
            matches!(
                e.kind,
                EventKind::Crashed { .. }
                    | EventKind::MemberRemoved { .. }
                    | EventKind::GenerationStarted { .. }
                    | EventKind::CommitRejected { .. }
                    | EventKind::PollIntervalExceeded { .. }
                    | EventKind::ProduceFailed { .. }
                    | EventKind::FaultsHealed
            )
        })
        .map(|(i, _)| i)
        .take(6)
        .collect();
    tail.extend(chain);
    f.explanation.extend(narrate(&mut tail, names));
    f.witness = tail;
    (1, vec![f])
}

/// The last time the committed offset of `(group, partition)` went
/// backwards: `(the newer commit, the stale one accepted after it)`.
fn last_regression(
    names: &Names<'_>,
    group: GroupId,
    partition: faultline_models::PartitionId,
) -> Option<(usize, usize)> {
    let mut best: Option<(usize, u64)> = None;
    let mut found = None;
    for (i, e) in names.history.events.iter().enumerate() {
        if let EventKind::CommitAccepted {
            group: g,
            partition: p,
            offset,
            ..
        } = e.kind
            && g == group
            && p == partition
        {
            match best {
                Some((newer, high)) if offset < high => found = Some((newer, i)),
                _ => best = Some((i, offset)),
            }
        }
    }
    found
}
