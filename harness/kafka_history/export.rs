//! A simulated run's history in the Kafka test history shape, so `faultline
//! check` (or any tool that reads Jepsen's Kafka histories) can judge it.
//!
//! - Keys are partition names (`orders-2`); values are message numbers.
//! - Each record's send is an op: `invoke` when the record was first
//!   appended (the earliest the history shows it in flight) or, never
//!   appended, when the producer gave up; then `ok` with `[offset, value]`
//!   when acknowledged, or `info` when the producer gave up (it may have
//!   been appended all the same) or the run ended first. A producer keeps
//!   many records in flight while a test history's process has one op
//!   outstanding, so a producer's sends are spread over processes like a
//!   pool of threads (`p1`, `p1#2`, ...): each send, in record order,
//!   goes to the first of its producer's processes that is free.
//! - Each batch of records a consumer handed to its handler at one instant
//!   is an `ok` poll of that consumer. (Records a consumer fetched but
//!   never handed to its handler, because it crashed first, are not in any
//!   poll: a commit-before-process loss shows as `lost-write`.) A consumer subscribes to every
//!   partition when it starts; a crash is an `info` `crash` op, and the
//!   restarted consumer is a new process (`c1`, then `c1/2`, ...), as a
//!   crashed client is in Jepsen's harness.
//! - A record acknowledged in a transaction that was then aborted is left
//!   out when the producer sent it again and that copy was acknowledged
//!   outside an aborted transaction (a test history's values are unique
//!   per send: the copy is the record's send); otherwise it is a `fail`ed
//!   send (its transaction failed), so a poll that reads it is the field's
//!   G1a. A read-uncommitted poll of a left-out copy shows as `duplicate`.
//! - A consume-transform-produce member's transaction is a `txn` op of the
//!   member: it is invoked at the first delivery of its batch and holds the
//!   batch's poll and the sends of its outputs (the value stays the
//!   message number, under the output partition's key); it is `ok` when
//!   the transaction commits, `fail` when it aborts or the member gives the
//!   batch up, and `info` when the member crashes or the run ends first.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde_json::{Value, json};

use faultline_models::event::{Event, EventKind};
use faultline_models::ids::{MessageId, NodeId, PartitionId};

use crate::history::Names;

/// Writes the run's history as Kafka test history lines into `out`.
pub fn write(out: &mut impl Write, names: &Names<'_>) -> io::Result<()> {
    for op in ops(names) {
        serde_json::to_writer(&mut *out, &op)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The history's operations, as JSON objects, in order.
pub fn ops(names: &Names<'_>) -> Vec<Value> {
    let layout = names.layout;
    let consumers: BTreeSet<NodeId> = layout.consumers.iter().map(|&(n, _)| n).collect();
    let all_keys: Vec<String> = (0..layout.partitions.len())
        .map(|p| names.partition(PartitionId(p as u16)))
        .collect();
    // Members of consume-transform-produce stages.
    let stages: BTreeSet<NodeId> = layout
        .groups
        .iter()
        .filter(|g| g.output.is_some())
        .flat_map(|g| g.members.iter().copied())
        .collect();
    let mut ex = Exporter {
        names,
        out: Vec::new(),
        at: 0,
        sends: Vec::new(),
        incarnation: vec![1; layout.node_names.len()],
        subscribed: BTreeSet::new(),
        all_keys,
        poll: None,
        txns: BTreeMap::new(),
        ended: Vec::new(),
    };
    let mut pending: BTreeSet<(NodeId, MessageId, PartitionId)> = BTreeSet::new();
    let mut appended: BTreeMap<MessageId, u64> = BTreeMap::new();
    let events = &names.history.events;
    // Records of aborted transactions, by where they sit.
    let aborted: BTreeSet<(PartitionId, u64)> = events
        .iter()
        .filter_map(|e| e.kind.aborted_record())
        .collect();
    // Records acknowledged outside an aborted transaction.
    let kept: BTreeSet<MessageId> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Acked {
                msg,
                partition,
                offset: Some(o),
                ..
            } if !aborted.contains(&(partition, o)) => Some(msg),
            _ => None,
        })
        .collect();
    for (i, e) in events.iter().enumerate() {
        ex.at = i;
        match e.kind {
            EventKind::Delivered {
                consumer,
                partition,
                offset,
                msg,
                ..
            } if stages.contains(&consumer) => {
                ex.subscribe(e.time.as_us(), i, consumer);
                ex.txns
                    .entry(consumer)
                    .or_insert_with(|| Txn {
                        invoked: e.time.as_us(),
                        first: i,
                        reads: Vec::new(),
                        sends: Vec::new(),
                    })
                    .reads
                    .push((partition, offset, msg));
            }
            EventKind::Delivered {
                consumer,
                partition,
                offset,
                msg,
                ..
            } => ex.deliver(e, consumer, partition, offset, msg),
            EventKind::Appended {
                producer,
                msg,
                partition,
                offset,
                ..
            } if stages.contains(&producer) => {
                if let Some(t) = ex.txns.get_mut(&producer) {
                    t.sends.push((partition, offset, msg));
                }
            }
            EventKind::TxnCommitted { producer, .. } if stages.contains(&producer) => {
                ex.end_txn(e.time.as_us(), producer, "ok");
            }
            EventKind::TxnAborted { producer, .. } if stages.contains(&producer) => {
                ex.end_txn(e.time.as_us(), producer, "fail");
            }
            EventKind::StageRewound { consumer, .. } => {
                ex.end_txn(e.time.as_us(), consumer, "fail");
            }
            EventKind::Acked {
                producer,
                msg,
                partition,
                offset,
            } => {
                pending.remove(&(producer, msg, partition));
                match offset {
                    Some(o) if aborted.contains(&(partition, o)) => {
                        if !kept.contains(&msg) {
                            ex.send(e.time.as_us(), producer, partition, msg, "fail", None);
                        }
                    }
                    _ => ex.send(e.time.as_us(), producer, partition, msg, "ok", offset),
                }
            }
            EventKind::ProduceFailed {
                producer,
                msg,
                partition,
                ..
            } => {
                // Given up on, but perhaps appended all the same.
                pending.remove(&(producer, msg, partition));
                ex.send(e.time.as_us(), producer, partition, msg, "info", None);
            }
            EventKind::Appended {
                producer,
                msg,
                partition,
                ..
            } => {
                pending.insert((producer, msg, partition));
                appended.entry(msg).or_insert(e.time.as_us());
            }
            EventKind::Crashed { node, .. } if consumers.contains(&node) => {
                ex.flush_poll();
                ex.end_txn(e.time.as_us(), node, "info");
                let process = ex.process(node);
                ex.push(
                    e.time.as_us(),
                    (i, 1),
                    &process,
                    "info",
                    "crash",
                    Value::Null,
                );
                ex.incarnation[node.index()] += 1;
            }
            _ => {}
        }
    }
    ex.at = events.len();
    ex.flush_poll();
    // Records appended but neither acknowledged nor given up on.
    let end = events.last().map_or(0, |e| e.time.as_us());
    for node in stages {
        ex.end_txn(end, node, "info");
    }
    ex.write_txns();
    for (producer, msg, partition) in pending {
        ex.send(end, producer, partition, msg, "info", None);
    }
    for send in &mut ex.sends {
        send.invoked = appended
            .get(&send.msg)
            .map_or(send.time, |&t| t.min(send.time));
    }
    ex.finish()
}

/// A poll being gathered: one consumer's deliveries at one instant.
struct Poll {
    time: u64,
    /// The event of its first delivery.
    first: usize,
    consumer: NodeId,
    /// `(partition, offset, message)` in delivery order.
    records: Vec<(PartitionId, u64, MessageId)>,
}

/// A consume-transform-produce member's open transaction.
struct Txn {
    /// When its batch was first delivered.
    invoked: u64,
    /// The event of that delivery.
    first: usize,
    /// `(partition, offset, message)` it read, in delivery order.
    reads: Vec<(PartitionId, u64, MessageId)>,
    /// `(partition, offset, message)` of its outputs, in append order.
    sends: Vec<(PartitionId, u64, MessageId)>,
}

/// A record's send, completed.
struct Send {
    /// When it was first appended (else completed).
    invoked: u64,
    /// When it completed.
    time: u64,
    producer: NodeId,
    partition: PartitionId,
    msg: MessageId,
    kind: &'static str,
    offset: Option<u64>,
}

struct Exporter<'a, 'n> {
    names: &'a Names<'n>,
    /// `(time, order, op)`: `order` is the event the op stems from and its
    /// rank among that event's ops. Sends are added by `finish`.
    out: Vec<(u64, (usize, u8), Value)>,
    /// The event being exported.
    at: usize,
    sends: Vec<Send>,
    /// Each node's current incarnation (1 until its first crash).
    incarnation: Vec<u32>,
    /// Consumer processes that have subscribed.
    subscribed: BTreeSet<String>,
    all_keys: Vec<String>,
    poll: Option<Poll>,
    /// Open transactions of consume-transform-produce members.
    txns: BTreeMap<NodeId, Txn>,
    /// Their ended transactions: `(process, transaction, (end, its
    /// event), outcome)`.
    ended: Vec<(String, Txn, (u64, usize), &'static str)>,
}

impl Exporter<'_, '_> {
    fn process(&self, node: NodeId) -> String {
        let name = self.names.node(node);
        match self.incarnation[node.index()] {
            1 => name,
            n => format!("{name}/{n}"),
        }
    }

    fn push(
        &mut self,
        time: u64,
        order: (usize, u8),
        process: &str,
        kind: &str,
        f: &str,
        value: Value,
    ) {
        self.out.push((
            time,
            order,
            json!({
                "time": time,
                "process": process,
                "type": kind,
                "f": f,
                "value": value,
            }),
        ));
    }

    fn send(
        &mut self,
        time: u64,
        producer: NodeId,
        partition: PartitionId,
        msg: MessageId,
        kind: &'static str,
        offset: Option<u64>,
    ) {
        self.sends.push(Send {
            invoked: time,
            time,
            producer,
            partition,
            msg,
            kind,
            offset,
        });
    }

    /// Spreads each producer's sends over its processes, merges them with
    /// the other ops by time, and numbers the lines.
    fn finish(mut self) -> Vec<Value> {
        // Ranks at one instant: completions of sends, then the other ops
        // (kept in event order), then invocations of sends.
        let mut out = std::mem::take(&mut self.out);
        // Ops at one instant in the order of the events they stem from.
        out.sort_by_key(|(t, order, _)| (*t, *order));
        let mut lines: Vec<(u64, u8, Value)> =
            out.into_iter().map(|(t, _, op)| (t, 1, op)).collect();
        let mut sends = std::mem::take(&mut self.sends);
        sends.sort_by_key(|s| (s.producer, s.msg));
        // For each producer, when each of its processes is free again.
        let mut free_at: BTreeMap<NodeId, Vec<u64>> = BTreeMap::new();
        for s in sends {
            let slots = free_at.entry(s.producer).or_default();
            let slot = match slots.iter().position(|&t| t <= s.invoked) {
                Some(i) => i,
                None => {
                    slots.push(0);
                    slots.len() - 1
                }
            };
            slots[slot] = s.time;
            let name = self.names.node(s.producer);
            let process = match slot {
                0 => name,
                i => format!("{name}#{}", i + 1),
            };
            let key = self.names.partition(s.partition);
            let msg = s.msg.0;
            let done = match (s.kind, s.offset) {
                ("ok", Some(o)) => json!([["send", key, [o, msg]]]),
                _ => json!([["send", key, [Value::Null, msg]]]),
            };
            let op = |t: u64, kind: &str, value: Value| json!({"time": t, "process": process, "type": kind, "f": "send", "value": value});
            // An op that starts and ends at one instant stays in one piece.
            let (start, end) = if s.invoked == s.time { (1, 1) } else { (2, 0) };
            lines.push((
                s.invoked,
                start,
                op(s.invoked, "invoke", json!([["send", key, msg]])),
            ));
            lines.push((s.time, end, op(s.time, s.kind, done)));
        }
        lines.sort_by_key(|(t, rank, _)| (*t, *rank));
        lines
            .into_iter()
            .enumerate()
            .map(|(i, (_, _, mut op))| {
                op["index"] = json!(i);
                op
            })
            .collect()
    }

    fn deliver(
        &mut self,
        e: &Event,
        consumer: NodeId,
        partition: PartitionId,
        offset: u64,
        msg: MessageId,
    ) {
        let t = e.time.as_us();
        if self
            .poll
            .as_ref()
            .is_some_and(|p| p.time != t || p.consumer != consumer)
        {
            self.flush_poll();
        }
        self.poll
            .get_or_insert_with(|| Poll {
                time: t,
                first: self.at,
                consumer,
                records: Vec::new(),
            })
            .records
            .push((partition, offset, msg));
    }

    /// A consumer process subscribes to every partition before its first
    /// poll.
    fn subscribe(&mut self, time: u64, first: usize, consumer: NodeId) {
        let process = self.process(consumer);
        if self.subscribed.insert(process.clone()) {
            let keys = json!(self.all_keys);
            let order = (first, 0);
            self.push(time, order, &process, "invoke", "subscribe", keys.clone());
            self.push(time, order, &process, "ok", "subscribe", keys);
        }
    }

    /// `[offset, value]` lists by key.
    fn by_key(&self, records: &[(PartitionId, u64, MessageId)]) -> serde_json::Map<String, Value> {
        let mut by_key = serde_json::Map::new();
        for &(p, offset, msg) in records {
            let key = self.names.partition(p);
            let list = by_key
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = list {
                a.push(json!([offset, msg.0]));
            }
        }
        by_key
    }

    fn flush_poll(&mut self) {
        let Some(poll) = self.poll.take() else {
            return;
        };
        self.subscribe(poll.time, poll.first, poll.consumer);
        let process = self.process(poll.consumer);
        let by_key = self.by_key(&poll.records);
        let order = (poll.first, 1);
        let invoke = json!([["poll"]]);
        self.push(poll.time, order, &process, "invoke", "poll", invoke);
        let done = json!([["poll", by_key]]);
        self.push(poll.time, order, &process, "ok", "poll", done);
    }

    /// Ends `member`'s open transaction, if any, completed with `kind` at
    /// `time` (written out by [`Exporter::write_txns`]).
    fn end_txn(&mut self, time: u64, member: NodeId, kind: &'static str) {
        if let Some(txn) = self.txns.remove(&member) {
            let process = self.process(member);
            self.ended.push((process, txn, (time, self.at), kind));
        }
    }

    /// Writes the stages' transactions as `txn` ops. An output that a
    /// committed transaction wrote is left out of the transactions that
    /// failed or whose outcome is unknown (a test history's values are
    /// unique per send: the committed copy is the output's send).
    fn write_txns(&mut self) {
        let committed: BTreeSet<(PartitionId, MessageId)> = self
            .ended
            .iter()
            .filter(|(_, _, _, kind)| *kind == "ok")
            .flat_map(|(_, t, _, _)| t.sends.iter().map(|&(p, _, m)| (p, m)))
            .collect();
        for (process, txn, (time, at), kind) in std::mem::take(&mut self.ended) {
            let mut invoke = vec![json!(["poll"])];
            let mut done = vec![json!(["poll", self.by_key(&txn.reads)])];
            for &(p, offset, msg) in &txn.sends {
                if kind != "ok" && committed.contains(&(p, msg)) {
                    continue;
                }
                let key = self.names.partition(p);
                invoke.push(json!(["send", key, msg.0]));
                done.push(json!(["send", key, [offset, msg.0]]));
            }
            // The invocation after its process's subscription; the
            // completion before the ending event's other ops (a crash).
            let invoked = (txn.invoked, (txn.first, 1));
            self.push(
                invoked.0,
                invoked.1,
                &process,
                "invoke",
                "txn",
                Value::Array(invoke),
            );
            self.push(time, (at, 0), &process, kind, "txn", Value::Array(done));
        }
    }
}
