//! A simulated run's history in the Kafka test history shape, so `faultline
//! check` (or any tool that reads Jepsen's Kafka histories) can judge it.
//!
//! - Keys are partition names (`orders-2`); values are message numbers.
//! - Each record's send is an op of its producer: `invoke` then `ok` with
//!   `[offset, value]` when acknowledged, `info` when the producer gave up
//!   (the record may have been appended all the same) or the run ended
//!   first. A producer's ops follow its `send()` order (the records'
//!   order), each placed once it and every earlier record completed, so
//!   `nonmonotonic-send` speaks of the log's order against the order the
//!   application sent in, not of the order acknowledgements arrived.
//! - Each batch of records a consumer handed to its handler at one instant
//!   is an `ok` poll of that consumer. (Records a consumer fetched but
//!   never handed to its handler, because it crashed first, are not in any
//!   poll: a commit-before-process loss shows as `lost-write`.) A consumer subscribes to every
//!   partition when it starts; a crash is an `info` `crash` op, and the
//!   restarted consumer is a new process (`c1`, then `c1/2`, ...), as a
//!   crashed client is in Jepsen's harness.

use std::collections::BTreeSet;
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
    let mut ex = Exporter {
        names,
        out: Vec::new(),
        sends: Vec::new(),
        incarnation: vec![1; layout.node_names.len()],
        subscribed: BTreeSet::new(),
        all_keys,
        poll: None,
    };
    let mut pending: BTreeSet<(NodeId, MessageId, PartitionId)> = BTreeSet::new();
    let events = &names.history.events;
    for e in events {
        match e.kind {
            EventKind::Delivered {
                consumer,
                partition,
                offset,
                msg,
                ..
            } => ex.deliver(e, consumer, partition, offset, msg),
            EventKind::Acked {
                producer,
                msg,
                partition,
                offset,
            } => {
                ex.flush_poll();
                pending.remove(&(producer, msg, partition));
                ex.send(e.time.as_us(), producer, partition, msg, "ok", offset);
            }
            EventKind::ProduceFailed {
                producer,
                msg,
                partition,
                ..
            } => {
                ex.flush_poll();
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
            }
            EventKind::Crashed { node, .. } if consumers.contains(&node) => {
                ex.flush_poll();
                let process = ex.process(node);
                ex.push(e.time.as_us(), &process, "info", "crash", Value::Null);
                ex.incarnation[node.index()] += 1;
            }
            _ => {}
        }
    }
    ex.flush_poll();
    // Records appended but neither acknowledged nor given up on.
    let end = events.last().map_or(0, |e| e.time.as_us());
    for (producer, msg, partition) in pending {
        ex.send(end, producer, partition, msg, "info", None);
    }
    ex.finish()
}

/// A poll being gathered: one consumer's deliveries at one instant.
struct Poll {
    time: u64,
    consumer: NodeId,
    /// `(partition, offset, message)` in delivery order.
    records: Vec<(PartitionId, u64, MessageId)>,
}

/// A record's send, completed.
struct Send {
    time: u64,
    producer: NodeId,
    partition: PartitionId,
    msg: MessageId,
    kind: &'static str,
    offset: Option<u64>,
}

struct Exporter<'a, 'n> {
    names: &'a Names<'n>,
    /// `(time, op)` in event order; sends are added by `finish`.
    out: Vec<(u64, Value)>,
    sends: Vec<Send>,
    /// Each node's current incarnation (1 until its first crash).
    incarnation: Vec<u32>,
    /// Consumer processes that have subscribed.
    subscribed: BTreeSet<String>,
    all_keys: Vec<String>,
    poll: Option<Poll>,
}

impl Exporter<'_, '_> {
    fn process(&self, node: NodeId) -> String {
        let name = self.names.node(node);
        match self.incarnation[node.index()] {
            1 => name,
            n => format!("{name}/{n}"),
        }
    }

    fn push(&mut self, time: u64, process: &str, kind: &str, f: &str, value: Value) {
        self.out.push((
            time,
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
            time,
            producer,
            partition,
            msg,
            kind,
            offset,
        });
    }

    /// Places each producer's sends in record order, each at the latest
    /// completion time of it and the records before it, merges them with
    /// the other ops by time, and numbers the lines.
    fn finish(mut self) -> Vec<Value> {
        let mut sends = std::mem::take(&mut self.sends);
        sends.sort_by_key(|s| (s.producer, s.msg));
        let mut ready = 0;
        let mut last_producer = None;
        for s in sends {
            if last_producer != Some(s.producer) {
                last_producer = Some(s.producer);
                ready = 0;
            }
            ready = ready.max(s.time);
            let process = self.process(s.producer);
            let key = self.names.partition(s.partition);
            let msg = s.msg.0;
            self.push(
                ready,
                &process,
                "invoke",
                "send",
                json!([["send", key, msg]]),
            );
            let done = match (s.kind, s.offset) {
                ("ok", Some(o)) => json!([["send", key, [o, msg]]]),
                _ => json!([["send", key, [Value::Null, msg]]]),
            };
            self.push(ready, &process, s.kind, "send", done);
        }
        // Stable: at one time, consumers' ops first, then sends.
        self.out.sort_by_key(|(t, _)| *t);
        self.out
            .into_iter()
            .enumerate()
            .map(|(i, (_, mut op))| {
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
                consumer,
                records: Vec::new(),
            })
            .records
            .push((partition, offset, msg));
    }

    fn flush_poll(&mut self) {
        let Some(poll) = self.poll.take() else {
            return;
        };
        let process = self.process(poll.consumer);
        if self.subscribed.insert(process.clone()) {
            let keys = json!(self.all_keys);
            self.push(poll.time, &process, "invoke", "subscribe", keys.clone());
            self.push(poll.time, &process, "ok", "subscribe", keys);
        }
        let mut by_key = serde_json::Map::new();
        for (p, offset, msg) in poll.records {
            let key = self.names.partition(p);
            let list = by_key
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = list {
                a.push(json!([offset, msg.0]));
            }
        }
        self.push(poll.time, &process, "invoke", "poll", json!([["poll"]]));
        self.push(poll.time, &process, "ok", "poll", json!([["poll", by_key]]));
    }
}
