//! Events as short sentences: `41ms c1 committed orders-2 up to offset 8
//! (generation 1)`.

use faultline_models::event::{AbortReason, DropCause, Event, EventKind, ProduceError, Settle};

use super::Names;
use super::jsonl::{commit_error_name, point_name, remove_reason_name};

/// One event as a sentence, prefixed with its time.
pub fn describe(e: &Event, n: &Names<'_>) -> String {
    format!("{} {}", e.time, what(&e.kind, n))
}

/// What happened, without the time.
pub fn what(kind: &EventKind, n: &Names<'_>) -> String {
    match *kind {
        EventKind::ProducerInitialized {
            producer,
            pid,
            epoch,
        } => format!(
            "{} initialized its transactional id: producer id {pid}, epoch {epoch}",
            n.node(producer)
        ),
        EventKind::TxnBegan { producer, epoch } => {
            format!("{} began a transaction (epoch {epoch})", n.node(producer))
        }
        EventKind::TxnCommitted {
            producer,
            epoch,
            records,
        } => format!(
            "{} committed its transaction of {records} records (epoch {epoch})",
            n.node(producer)
        ),
        EventKind::TxnAborted {
            coordinator,
            producer,
            epoch,
            reason,
        } => format!(
            "{} aborted {}'s transaction (epoch {epoch}): {}",
            n.node(coordinator),
            n.node(producer),
            match reason {
                AbortReason::Producer => "the producer asked to",
                AbortReason::Init => "a new incarnation initialized the transactional id",
                AbortReason::Timeout => "the transaction timeout passed",
            }
        ),
        EventKind::Fenced { producer, epoch } => format!(
            "{} was fenced (epoch {epoch} is stale: a newer incarnation has its transactional id) and stopped",
            n.node(producer)
        ),
        EventKind::TxnMarker {
            broker,
            partition,
            offset,
            producer,
            commit,
        } => format!(
            "{} wrote the {} marker of {}'s transaction at {} offset {offset}",
            n.node(broker),
            if commit { "commit" } else { "abort" },
            n.node(producer),
            n.partition(partition)
        ),
        EventKind::RecordAborted {
            partition,
            offset,
            msg,
        } => format!(
            "{} at {} offset {offset} belongs to an aborted transaction",
            n.msg(msg),
            n.partition(partition)
        ),
        EventKind::LeaderElected {
            partition,
            leader: Some(leader),
            epoch,
            unclean,
        } => format!(
            "the controller made {} leader of {} (epoch {epoch}){}",
            n.node(leader),
            n.partition(partition),
            if unclean {
                ", an unclean election: it was not in sync, and what only the old leader had is lost"
            } else {
                ""
            }
        ),
        EventKind::LeaderElected {
            partition,
            leader: None,
            epoch,
            ..
        } => format!(
            "{} has no leader (epoch {epoch}): no in-sync replica is available",
            n.partition(partition)
        ),
        EventKind::IsrChanged { partition, isr } => format!(
            "the in-sync replicas of {} are now {}",
            n.partition(partition),
            n.isr(isr).join(", ")
        ),
        EventKind::Truncated {
            broker,
            partition,
            offset,
            removed,
        } => format!(
            "{} truncated its replica of {} to offset {offset}, removing {removed} record{} its new leader does not have",
            n.node(broker),
            n.partition(partition),
            if removed == 1 { "" } else { "s" }
        ),
        EventKind::ProduceSent {
            producer,
            partition,
            batch,
            attempt,
            records,
        } => {
            let verb = if attempt > 1 { "re-sent" } else { "sent" };
            format!(
                "{} {verb} batch {batch} ({records} records) to {}{}",
                n.node(producer),
                n.partition(partition),
                if attempt > 1 {
                    format!(", attempt {attempt}")
                } else {
                    String::new()
                }
            )
        }
        EventKind::Appended {
            broker,
            partition,
            offset,
            msg,
            attempt,
            ..
        } => format!(
            "{} appended {} to {} at offset {offset}{}",
            n.node(broker),
            n.msg(msg),
            n.partition(partition),
            if attempt > 1 {
                format!(" (from attempt {attempt})")
            } else {
                String::new()
            }
        ),
        EventKind::DuplicateBatch {
            broker,
            partition,
            producer,
            batch,
            attempt,
        } => format!(
            "{} recognised attempt {attempt} of {}'s batch {batch} to {} as a duplicate and did not append it",
            n.node(broker),
            n.node(producer),
            n.partition(partition)
        ),
        EventKind::Acked {
            producer,
            msg,
            partition,
            offset,
        } => match offset {
            Some(o) => format!(
                "{} got the acknowledgement for {} ({} offset {o})",
                n.node(producer),
                n.msg(msg),
                n.partition(partition)
            ),
            None => format!(
                "{} sent {} to {} with acks=0 (no acknowledgement)",
                n.node(producer),
                n.msg(msg),
                n.partition(partition)
            ),
        },
        EventKind::ProduceFailed {
            producer,
            msg,
            partition,
            reason,
        } => format!(
            "{} gave up on {} for {} ({})",
            n.node(producer),
            n.msg(msg),
            n.partition(partition),
            match reason {
                ProduceError::RetriesExhausted => "retries exhausted",
                ProduceError::DeliveryTimeout => "delivery timeout",
            }
        ),
        EventKind::GenerationStarted {
            group,
            generation,
            members,
        } => format!(
            "group {} completed a rebalance: generation {generation} with {members} member{}",
            n.group(group),
            if members == 1 { "" } else { "s" }
        ),
        EventKind::Assigned {
            generation,
            consumer,
            partition,
            ..
        } => format!(
            "{} was assigned {} in generation {generation}",
            n.node(consumer),
            n.partition(partition)
        ),
        EventKind::MemberRemoved {
            group,
            consumer,
            reason,
        } => format!(
            "the coordinator removed {} from group {} ({})",
            n.node(consumer),
            n.group(group),
            remove_reason_name(reason)
        ),
        EventKind::StaticMemberRejoined {
            group,
            generation,
            consumer,
        } => format!(
            "{} rejoined group {} as a static member (group.instance.id) and kept its assignment in generation {generation}, without a rebalance",
            n.node(consumer),
            n.group(group)
        ),
        EventKind::IncrementalRevoke {
            consumer,
            generation,
            partition,
            ..
        } => format!(
            "{} gave up {}, which generation {generation} moves to another member, and went on consuming its other partitions (cooperative rebalance)",
            n.node(consumer),
            n.partition(partition)
        ),
        EventKind::IncrementalAssign {
            consumer,
            generation,
            partition,
            ..
        } => format!(
            "{} took on {}, added to its assignment in generation {generation} (cooperative rebalance)",
            n.node(consumer),
            n.partition(partition)
        ),
        EventKind::PollIntervalExceeded {
            consumer,
            generation,
        } => format!(
            "{} had not polled within max.poll.interval.ms and left generation {generation}",
            n.node(consumer)
        ),
        EventKind::StageRewound { consumer, rejoin } => format!(
            "{} gave up its batch and starts again from the committed offsets{}",
            n.node(consumer),
            if rejoin { ", rejoining the group" } else { "" }
        ),
        EventKind::OffsetReset {
            consumer,
            partition,
            offset,
            to_end,
        } => format!(
            "{} had no committed offset for {} and started at offset {offset}, the log {} (auto.offset.reset = {})",
            n.node(consumer),
            n.partition(partition),
            if to_end { "end" } else { "start" },
            if to_end { "latest" } else { "earliest" }
        ),
        EventKind::Delivered {
            consumer,
            partition,
            offset,
            msg,
            key,
            generation,
        } => format!(
            "{} received {} (key {}) from {} offset {offset} in generation {generation}",
            n.node(consumer),
            n.msg(msg),
            n.key(key),
            n.partition(partition)
        ),
        EventKind::Effect {
            consumer,
            msg,
            label,
            external,
            ..
        } => format!(
            "{} applied {} `{}` of {}",
            n.node(consumer),
            if external { "side effect" } else { "effect" },
            n.history.label_name(label),
            n.msg(msg)
        ),
        EventKind::CutShort {
            consumer,
            msg,
            label,
            external,
        } => format!(
            "{}'s {} `{}` of {} never happened: the process had crashed",
            n.node(consumer),
            if external { "side effect" } else { "step" },
            n.history.label_name(label),
            n.msg(msg)
        ),
        EventKind::Handled {
            consumer,
            msg,
            settle,
            ..
        } => format!(
            "{} {} {}",
            n.node(consumer),
            match settle {
                Settle::Ok => "finished handling",
                Settle::Retry => "will retry",
                Settle::DeadLettered => "dead-lettered",
                Settle::Panicked => "panicked on",
            },
            n.msg(msg)
        ),
        EventKind::CommitAccepted {
            consumer,
            generation,
            partition,
            offset,
            ..
        } => format!(
            "{} committed {} up to offset {offset} (generation {generation})",
            n.node(consumer),
            n.partition(partition)
        ),
        EventKind::CommitRejected {
            consumer,
            generation,
            reason,
            ..
        } => format!(
            "{}'s commit for generation {generation} was rejected ({})",
            n.node(consumer),
            commit_error_name(reason)
        ),
        EventKind::Crashed { node, point, .. } => format!(
            "{} crashed{}",
            n.node(node),
            match point {
                faultline_models::CrashPoint::Now => String::new(),
                p => format!(" at {}", point_name(p, n)),
            }
        ),
        EventKind::Restarted { node } => format!("{} restarted", n.node(node)),
        EventKind::MessageDropped {
            from,
            to,
            kind,
            cause,
            ..
        } => format!(
            "the network dropped a {kind} from {} to {} ({})",
            n.node(from),
            n.node(to),
            match cause {
                DropCause::Loss => "loss",
                DropCause::Partition => "partition",
            }
        ),
        EventKind::MessageDuplicated { from, to, kind, .. } => format!(
            "the network duplicated a {kind} from {} to {}",
            n.node(from),
            n.node(to)
        ),
        EventKind::MessageDelayed {
            from,
            to,
            kind,
            extra_us,
            reorder,
            ..
        } => format!(
            "the network {} a {kind} from {} to {} by {}",
            if reorder { "reordered" } else { "delayed" },
            n.node(from),
            n.node(to),
            faultline_models::SimTime(extra_us)
        ),
        EventKind::PartitionStarted { id } => match n.partitions.get(id as usize) {
            Some((a, b, oneway)) => {
                let side = |s: &Vec<faultline_models::NodeId>| {
                    s.iter().map(|x| n.node(*x)).collect::<Vec<_>>().join(",")
                };
                format!(
                    "network partition {id} cut [{}] {} [{}]",
                    side(a),
                    if *oneway { "->" } else { "<->" },
                    side(b)
                )
            }
            None => format!("network partition {id} began"),
        },
        EventKind::PartitionHealed { id } => format!("network partition {id} healed"),
        EventKind::SlowStarted {
            node,
            processing_us,
        } => format!(
            "{} became slow: {} per record",
            n.node(node),
            faultline_models::SimTime(processing_us)
        ),
        EventKind::SlowEnded { node } => format!("{} is no longer slow", n.node(node)),
        EventKind::HandlerPanicked {
            consumer,
            msg,
            panic,
        } => format!(
            "{}'s handler panicked on {}: {}",
            n.node(consumer),
            n.msg(msg),
            n.history
                .panics
                .get(panic as usize)
                .map_or("?", String::as_str)
        ),
        EventKind::HandlerFactoryPanicked { consumer, panic } => format!(
            "{}'s handler factory panicked: {}; it dead-letters every record",
            n.node(consumer),
            n.history
                .panics
                .get(panic as usize)
                .map_or("?", String::as_str)
        ),
        EventKind::FaultsHealed => {
            "the fault window closed: faults healed, liveness phase begins".to_owned()
        }
    }
}
