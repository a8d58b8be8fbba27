//! Checking Kafka test histories recorded outside the simulator.
//!
//! A history is one JSON object per line, in the shape Kafka test harnesses
//! record (Jepsen's `jepsen.tests.kafka` workload, Maelstrom's `kafka`
//! workload):
//!
//! ```json
//! {"index":0,"time":1200,"process":1,"type":"invoke","f":"send","value":[["send",3,17]]}
//! {"index":1,"time":1400,"process":1,"type":"ok","f":"send","value":[["send",3,[5,17]]]}
//! {"index":2,"time":1500,"process":2,"type":"ok","f":"poll","value":[["poll",{"3":[[5,17]]}]]}
//! ```
//!
//! [`parse`] reads it, with errors that name the line and field;
//! [`analysis::analyse`] finds the anomalies the field names (lost-write,
//! duplicate, poll-skip, ...), judged by the published tolerance rules;
//! [`text`] writes the summary.

pub mod analysis;
mod cycles;
pub mod export;
mod parse;
pub mod text;

pub use analysis::{Analysis, Anomaly, Mode, Options, analyse};
pub use parse::{ParseError, parse};

use std::fmt;

use serde::{Deserialize, Serialize};

/// A key or a value: histories use integers or strings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Atom {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Int(i) => write!(f, "{i}"),
            Atom::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// An operation's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Type {
    /// Started.
    Invoke,
    /// Completed: it happened.
    Ok,
    /// Completed: it did not happen.
    Fail,
    /// Unknown: it may or may not have happened.
    Info,
}

/// What an operation does.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum F {
    /// Sends only.
    Send,
    /// Polls only.
    Poll,
    /// Sends and polls, in one transaction.
    Txn,
    /// Assigns the consumer these keys.
    Assign,
    /// Subscribes the consumer to these keys.
    Subscribe,
    /// The client crashed.
    Crash,
    /// Anything else (a nemesis operation, say): kept, not analysed.
    Other(String),
}

impl F {
    /// The name used in histories.
    pub fn name(&self) -> &str {
        match self {
            F::Send => "send",
            F::Poll => "poll",
            F::Txn => "txn",
            F::Assign => "assign",
            F::Subscribe => "subscribe",
            F::Crash => "crash",
            F::Other(s) => s,
        }
    }
}

/// A micro-operation of a send, poll or txn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mop {
    /// `["send", key, value]`, or on completion `["send", key, [offset,
    /// value]]` (offset `null` when unknown).
    Send {
        /// The key (a topic-partition).
        key: Atom,
        /// The value sent.
        value: Atom,
        /// Where it landed, when known.
        offset: Option<u64>,
    },
    /// `["poll"]`, or on completion `["poll", {key: [[offset, value],
    /// ...]}]`.
    Poll(Vec<(Atom, Vec<Read>)>),
}

/// One record a poll returned: its offset (when known) and value.
pub type Read = (Option<u64>, Atom);

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// The line it was read from (1-based).
    pub line: usize,
    /// Its `index` (the line's position when absent).
    pub index: u64,
    /// Its `time`, when given.
    pub time: Option<i64>,
    /// The process (client) that performed it.
    pub process: Option<Atom>,
    /// Its type.
    pub kind: Type,
    /// What it does.
    pub f: F,
    /// Micro-operations of a send, poll or txn.
    pub mops: Vec<Mop>,
    /// Keys of an assign or subscribe.
    pub keys: Vec<Atom>,
    /// Keys whose assignment changed while the operation ran (its
    /// `rebalance-log`).
    pub rebalanced: Vec<Atom>,
}

impl Op {
    /// Every value this operation sent, per key, in order.
    pub fn writes(&self) -> Vec<(&Atom, Vec<&Atom>)> {
        let mut out: Vec<(&Atom, Vec<&Atom>)> = Vec::new();
        if !matches!(self.f, F::Send | F::Txn) {
            return out;
        }
        for m in &self.mops {
            if let Mop::Send { key, value, .. } = m {
                push(&mut out, key, value);
            }
        }
        out
    }

    /// Every value this operation read, per key, in order; a key a poll
    /// returned with no records is there with no values (it still counts
    /// as the process's latest read of the key).
    pub fn reads(&self) -> Vec<(&Atom, Vec<&Atom>)> {
        let mut out: Vec<(&Atom, Vec<&Atom>)> = Vec::new();
        if !matches!(self.f, F::Poll | F::Txn) {
            return out;
        }
        for m in &self.mops {
            if let Mop::Poll(keys) = m {
                for (k, pairs) in keys {
                    if !out.iter().any(|(key, _)| *key == k) {
                        out.push((k, Vec::new()));
                    }
                    for (_, v) in pairs {
                        push(&mut out, k, v);
                    }
                }
            }
        }
        out
    }

    /// How the operation is named in findings: `process 3, line 12 (ok
    /// poll)`.
    pub fn label(&self) -> String {
        let process = self
            .process
            .as_ref()
            .map_or_else(|| "no process".to_owned(), |p| format!("process {p}"));
        let kind = match self.kind {
            Type::Invoke => "invoke",
            Type::Ok => "ok",
            Type::Fail => "fail",
            Type::Info => "info",
        };
        format!("line {} ({process}, {kind} {})", self.line, self.f.name())
    }
}

fn push<'a>(out: &mut Vec<(&'a Atom, Vec<&'a Atom>)>, k: &'a Atom, v: &'a Atom) {
    match out.iter_mut().find(|(key, _)| *key == k) {
        Some((_, vs)) => vs.push(v),
        None => out.push((k, vec![v])),
    }
}
