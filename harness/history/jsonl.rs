//! `history.jsonl`: one JSON object per event, keys sorted, times in
//! microseconds of virtual time.
//!
//! Every line has `i` (the event's index), `t_us` (its time) and `type`
//! (kebab-case); the other fields depend on the type and use names, not
//! ids: `node`, `partition` (`orders-2`), `msg` (`m17`), `key` (`k3`).

use std::io::{self, Write};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use faultline_models::event::{
    CommitError, DropCause, Event, EventKind, ProduceError, RemoveReason, Settle,
};
use faultline_models::{CrashPoint, GroupId, KeyId, MessageId, NodeId, PartitionId};

use super::Names;

/// The `type` of an event.
pub fn type_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::ProduceSent { .. } => "produce-sent",
        EventKind::Appended { .. } => "appended",
        EventKind::DuplicateBatch { .. } => "duplicate-batch",
        EventKind::ProducerInitialized { .. } => "producer-initialized",
        EventKind::TxnBegan { .. } => "txn-began",
        EventKind::TxnCommitted { .. } => "txn-committed",
        EventKind::TxnAborted { .. } => "txn-aborted",
        EventKind::Fenced { .. } => "fenced",
        EventKind::TxnMarker { .. } => "txn-marker",
        EventKind::RecordAborted { .. } => "record-aborted",
        EventKind::Acked { .. } => "acked",
        EventKind::ProduceFailed { .. } => "produce-failed",
        EventKind::LeaderElected { .. } => "leader-elected",
        EventKind::IsrChanged { .. } => "isr-changed",
        EventKind::Truncated { .. } => "truncated",
        EventKind::GenerationStarted { .. } => "generation-started",
        EventKind::Assigned { .. } => "assigned",
        EventKind::MemberRemoved { .. } => "member-removed",
        EventKind::StaticMemberRejoined { .. } => "static-member-rejoined",
        EventKind::IncrementalRevoke { .. } => "incremental-revoke",
        EventKind::IncrementalAssign { .. } => "incremental-assign",
        EventKind::PollIntervalExceeded { .. } => "poll-interval-exceeded",
        EventKind::StageRewound { .. } => "stage-rewound",
        EventKind::OffsetReset { .. } => "offset-reset",
        EventKind::Delivered { .. } => "delivered",
        EventKind::Effect { .. } => "effect",
        EventKind::CutShort { .. } => "cut-short",
        EventKind::Handled { .. } => "handled",
        EventKind::CommitAccepted { .. } => "commit-accepted",
        EventKind::CommitRejected { .. } => "commit-rejected",
        EventKind::Crashed { .. } => "crashed",
        EventKind::Restarted { .. } => "restarted",
        EventKind::MessageDropped { .. } => "message-dropped",
        EventKind::MessageDuplicated { .. } => "message-duplicated",
        EventKind::MessageDelayed { .. } => "message-delayed",
        EventKind::PartitionStarted { .. } => "partition-started",
        EventKind::PartitionHealed { .. } => "partition-healed",
        EventKind::SlowStarted { .. } => "slow-started",
        EventKind::SlowEnded { .. } => "slow-ended",
        EventKind::HandlerPanicked { .. } => "handler-panicked",
        EventKind::HandlerFactoryPanicked { .. } => "handler-factory-panicked",
        EventKind::FaultsHealed => "faults-healed",
    }
}

/// Kebab-case name of a settlement.
pub fn settle_name(s: Settle) -> &'static str {
    match s {
        Settle::Ok => "ok",
        Settle::Retry => "retry",
        Settle::DeadLettered => "dead-lettered",
        Settle::Panicked => "panicked",
    }
}

/// Kebab-case name of a commit error (Kafka's error code in brackets is
/// in the docs).
pub fn commit_error_name(e: CommitError) -> &'static str {
    match e {
        CommitError::RebalanceInProgress => "rebalance-in-progress",
        CommitError::IllegalGeneration => "illegal-generation",
        CommitError::UnknownMember => "unknown-member",
        CommitError::InvalidProducerEpoch => "invalid-producer-epoch",
    }
}

/// Kebab-case name of a removal reason.
pub fn remove_reason_name(r: RemoveReason) -> &'static str {
    match r {
        RemoveReason::SessionTimeout => "session-timeout",
        RemoveReason::RebalanceTimeout => "rebalance-timeout",
        RemoveReason::PollInterval => "max-poll-interval",
    }
}

/// Kebab-case name of a crash point (named points as `handler:<name>`).
pub fn point_name(p: CrashPoint, names: &Names<'_>) -> String {
    match p {
        CrashPoint::Named(l) => format!("handler:{}", names.history.label_name(l)),
        p => p.name().unwrap_or("?").to_owned(),
    }
}

impl Names<'_> {
    /// A node's name.
    pub fn node(&self, n: NodeId) -> String {
        self.layout.node_name(n).to_owned()
    }
    /// A partition's name.
    pub fn partition(&self, p: PartitionId) -> String {
        self.layout.partition_name(p).to_owned()
    }
    /// A message's name.
    pub fn msg(&self, m: MessageId) -> String {
        format!("m{}", m.0)
    }
    /// A key's name.
    pub fn key(&self, k: KeyId) -> String {
        self.layout.key_name(k).to_owned()
    }
    /// The broker names of an ISR bit set, in broker order.
    pub fn isr(&self, isr: u64) -> Vec<String> {
        self.layout
            .brokers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < 64 && isr & (1u64 << i) != 0)
            .map(|(_, b)| self.node(*b))
            .collect()
    }
    /// A group's name.
    pub fn group(&self, g: GroupId) -> String {
        self.layout
            .groups
            .get(g.index())
            .map_or_else(|| "?".to_owned(), |m| m.name.clone())
    }
}

/// One event as a JSON object.
pub fn event_json(i: usize, e: &Event, names: &Names<'_>) -> Value {
    let mut m = Map::new();
    m.insert("i".into(), json!(i));
    m.insert("t_us".into(), json!(e.time.as_us()));
    m.insert("type".into(), json!(type_name(&e.kind)));
    let mut put = |k: &str, v: Value| {
        m.insert(k.into(), v);
    };
    match e.kind {
        EventKind::ProducerInitialized {
            producer,
            pid,
            epoch,
        } => {
            put("node", json!(names.node(producer)));
            put("pid", json!(pid));
            put("epoch", json!(epoch));
        }
        EventKind::TxnBegan { producer, epoch } | EventKind::Fenced { producer, epoch } => {
            put("node", json!(names.node(producer)));
            put("epoch", json!(epoch));
        }
        EventKind::TxnCommitted {
            producer,
            epoch,
            records,
        } => {
            put("node", json!(names.node(producer)));
            put("epoch", json!(epoch));
            put("records", json!(records));
        }
        EventKind::TxnAborted {
            coordinator,
            producer,
            epoch,
            reason,
        } => {
            put("node", json!(names.node(coordinator)));
            put("producer", json!(names.node(producer)));
            put("epoch", json!(epoch));
            put("reason", json!(reason.name()));
        }
        EventKind::TxnMarker {
            broker,
            partition,
            offset,
            producer,
            commit,
        } => {
            put("node", json!(names.node(broker)));
            put("partition", json!(names.partition(partition)));
            put("offset", json!(offset));
            put("producer", json!(names.node(producer)));
            put("commit", json!(commit));
        }
        EventKind::RecordAborted {
            partition,
            offset,
            msg,
        } => {
            put("partition", json!(names.partition(partition)));
            put("offset", json!(offset));
            put("msg", json!(names.msg(msg)));
        }
        EventKind::LeaderElected {
            partition,
            leader,
            epoch,
            unclean,
        } => {
            put("partition", json!(names.partition(partition)));
            put("leader", json!(leader.map(|l| names.node(l))));
            put("epoch", json!(epoch));
            put("unclean", json!(unclean));
        }
        EventKind::IsrChanged { partition, isr } => {
            put("partition", json!(names.partition(partition)));
            put("isr", json!(names.isr(isr)));
        }
        EventKind::Truncated {
            broker,
            partition,
            offset,
            removed,
        } => {
            put("node", json!(names.node(broker)));
            put("partition", json!(names.partition(partition)));
            put("offset", json!(offset));
            put("removed", json!(removed));
        }
        EventKind::ProduceSent {
            producer,
            partition,
            batch,
            attempt,
            records,
        } => {
            put("node", json!(names.node(producer)));
            put("partition", json!(names.partition(partition)));
            put("batch", json!(batch));
            put("attempt", json!(attempt));
            put("records", json!(records));
        }
        EventKind::Appended {
            broker,
            partition,
            offset,
            msg,
            producer,
            batch,
            attempt,
        } => {
            put("node", json!(names.node(broker)));
            put("partition", json!(names.partition(partition)));
            put("offset", json!(offset));
            put("msg", json!(names.msg(msg)));
            put("producer", json!(names.node(producer)));
            put("batch", json!(batch));
            put("attempt", json!(attempt));
        }
        EventKind::DuplicateBatch {
            broker,
            partition,
            producer,
            batch,
            attempt,
        } => {
            put("node", json!(names.node(broker)));
            put("partition", json!(names.partition(partition)));
            put("producer", json!(names.node(producer)));
            put("batch", json!(batch));
            put("attempt", json!(attempt));
        }
        EventKind::Acked {
            producer,
            msg,
            partition,
            offset,
        } => {
            put("node", json!(names.node(producer)));
            put("msg", json!(names.msg(msg)));
            put("partition", json!(names.partition(partition)));
            put("offset", json!(offset));
        }
        EventKind::ProduceFailed {
            producer,
            msg,
            partition,
            reason,
        } => {
            put("node", json!(names.node(producer)));
            put("msg", json!(names.msg(msg)));
            put("partition", json!(names.partition(partition)));
            put(
                "reason",
                json!(match reason {
                    ProduceError::RetriesExhausted => "retries-exhausted",
                    ProduceError::DeliveryTimeout => "delivery-timeout",
                }),
            );
        }
        EventKind::GenerationStarted {
            group,
            generation,
            members,
        } => {
            put("group", json!(names.group(group)));
            put("generation", json!(generation));
            put("members", json!(members));
        }
        EventKind::MemberRemoved {
            group,
            consumer,
            reason,
        } => {
            put("group", json!(names.group(group)));
            put("node", json!(names.node(consumer)));
            put("reason", json!(remove_reason_name(reason)));
        }
        EventKind::StaticMemberRejoined {
            group,
            generation,
            consumer,
        } => {
            put("group", json!(names.group(group)));
            put("generation", json!(generation));
            put("node", json!(names.node(consumer)));
        }
        EventKind::Assigned {
            group,
            generation,
            consumer,
            partition,
        }
        | EventKind::IncrementalRevoke {
            group,
            consumer,
            generation,
            partition,
        }
        | EventKind::IncrementalAssign {
            group,
            consumer,
            generation,
            partition,
        } => {
            put("group", json!(names.group(group)));
            put("generation", json!(generation));
            put("node", json!(names.node(consumer)));
            put("partition", json!(names.partition(partition)));
        }
        EventKind::PollIntervalExceeded {
            consumer,
            generation,
        } => {
            put("node", json!(names.node(consumer)));
            put("generation", json!(generation));
        }
        EventKind::StageRewound { consumer, rejoin } => {
            put("node", json!(names.node(consumer)));
            put("rejoin", json!(rejoin));
        }
        EventKind::OffsetReset {
            consumer,
            partition,
            offset,
            to_end,
        } => {
            put("node", json!(names.node(consumer)));
            put("partition", json!(names.partition(partition)));
            put("offset", json!(offset));
            put("reset", json!(if to_end { "latest" } else { "earliest" }));
        }
        EventKind::Delivered {
            consumer,
            partition,
            offset,
            msg,
            key,
            generation,
        } => {
            put("node", json!(names.node(consumer)));
            put("partition", json!(names.partition(partition)));
            put("offset", json!(offset));
            put("msg", json!(names.msg(msg)));
            put("key", json!(names.key(key)));
            put("generation", json!(generation));
        }
        EventKind::Effect {
            consumer,
            msg,
            key,
            label,
            external,
        } => {
            put("node", json!(names.node(consumer)));
            put("msg", json!(names.msg(msg)));
            put("key", json!(names.key(key)));
            put("label", json!(names.history.label_name(label)));
            put("external", json!(external));
        }
        EventKind::CutShort {
            consumer,
            msg,
            label,
            external,
        } => {
            put("node", json!(names.node(consumer)));
            put("msg", json!(names.msg(msg)));
            put("label", json!(names.history.label_name(label)));
            put("external", json!(external));
        }
        EventKind::Handled {
            consumer,
            partition,
            offset,
            msg,
            settle,
        } => {
            put("node", json!(names.node(consumer)));
            put("partition", json!(names.partition(partition)));
            put("offset", json!(offset));
            put("msg", json!(names.msg(msg)));
            put("settle", json!(settle_name(settle)));
        }
        EventKind::CommitAccepted {
            group,
            consumer,
            generation,
            partition,
            offset,
        } => {
            put("group", json!(names.group(group)));
            put("node", json!(names.node(consumer)));
            put("generation", json!(generation));
            put("partition", json!(names.partition(partition)));
            put("offset", json!(offset));
        }
        EventKind::CommitRejected {
            group,
            consumer,
            generation,
            reason,
        } => {
            put("group", json!(names.group(group)));
            put("node", json!(names.node(consumer)));
            put("generation", json!(generation));
            put("reason", json!(commit_error_name(reason)));
        }
        EventKind::Crashed { node, point, pass } => {
            put("node", json!(names.node(node)));
            put("point", json!(point_name(point, names)));
            if pass > 0 {
                put("pass", json!(pass));
            }
        }
        EventKind::Restarted { node } => put("node", json!(names.node(node))),
        EventKind::MessageDropped {
            from,
            to,
            kind,
            cause,
            nth,
        } => {
            put("from", json!(names.node(from)));
            put("to", json!(names.node(to)));
            put("kind", json!(kind));
            if nth > 0 {
                put("nth", json!(nth));
            }
            put(
                "cause",
                json!(match cause {
                    DropCause::Loss => "loss",
                    DropCause::Partition => "partition",
                }),
            );
        }
        EventKind::MessageDuplicated {
            from,
            to,
            kind,
            nth,
        } => {
            put("from", json!(names.node(from)));
            put("to", json!(names.node(to)));
            put("kind", json!(kind));
            if nth > 0 {
                put("nth", json!(nth));
            }
        }
        EventKind::MessageDelayed {
            from,
            to,
            kind,
            extra_us,
            reorder,
            nth,
        } => {
            put("from", json!(names.node(from)));
            put("to", json!(names.node(to)));
            put("kind", json!(kind));
            put("extra_us", json!(extra_us));
            put("reorder", json!(reorder));
            if nth > 0 {
                put("nth", json!(nth));
            }
        }
        EventKind::PartitionStarted { id } => {
            put("id", json!(id));
            if let Some((a, b, oneway)) = names.partitions.get(id as usize) {
                let side = |s: &Vec<NodeId>| s.iter().map(|n| names.node(*n)).collect::<Vec<_>>();
                put("sides", json!([side(a), side(b)]));
                put("oneway", json!(oneway));
            }
        }
        EventKind::PartitionHealed { id } => put("id", json!(id)),
        EventKind::SlowStarted {
            node,
            processing_us,
        } => {
            put("node", json!(names.node(node)));
            put("processing_us", json!(processing_us));
        }
        EventKind::SlowEnded { node } => put("node", json!(names.node(node))),
        EventKind::HandlerPanicked {
            consumer,
            msg,
            panic,
        } => {
            put("node", json!(names.node(consumer)));
            put("msg", json!(names.msg(msg)));
            put(
                "message",
                json!(
                    names
                        .history
                        .panics
                        .get(panic as usize)
                        .cloned()
                        .unwrap_or_default()
                ),
            );
        }
        EventKind::HandlerFactoryPanicked { consumer, panic } => {
            put("node", json!(names.node(consumer)));
            put(
                "message",
                json!(
                    names
                        .history
                        .panics
                        .get(panic as usize)
                        .cloned()
                        .unwrap_or_default()
                ),
            );
        }
        EventKind::FaultsHealed => {}
    }
    Value::Object(m)
}

/// Writes the whole history as JSON lines into `out` and returns the
/// SHA-256 digest (hex) of the bytes written.
pub fn write_history(out: &mut impl Write, names: &Names<'_>) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut line = Vec::with_capacity(256);
    for (i, e) in names.history.events.iter().enumerate() {
        line.clear();
        serde_json::to_writer(&mut line, &event_json(i, e, names))?;
        line.push(b'\n');
        hasher.update(&line);
        out.write_all(&line)?;
    }
    Ok(crate::scenario::hex(&hasher.finalize()))
}

/// The digest `write_history` would return, without writing anywhere.
pub fn digest(names: &Names<'_>) -> String {
    write_history(&mut io::sink(), names).expect("writing to a sink cannot fail")
}
