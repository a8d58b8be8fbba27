//! The anomalies of a Kafka history, as the field defines them (Jepsen's
//! `jepsen.tests.kafka` checker), and which of them a run may tolerate.
//!
//! Offsets of one key give its *version order*: the values in offset order,
//! gaps (transaction markers) removed, so neighbours are one *index* apart.
//! The order is built from every poll, whatever its outcome, and from the
//! sends that must have committed (`ok` ones, and `info` ones whose value
//! some `ok` poll read).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::cycles;
use super::{Atom, F, Op, Type};

/// How consumers got their partitions: subscribe mode tolerates poll-skip
/// and nonmonotonic-poll (a rebalance may move a partition between polls).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Partitions assigned by the client.
    Assign,
    /// Partitions given by the group's rebalances.
    Subscribe,
}

/// How to judge a history.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// The mode, if not inferred (subscribe when any `subscribe` op is in
    /// the history).
    pub mode: Option<Mode>,
    /// Draw write-write edges from offset order when looking for cycles
    /// (then G1c is tolerated, as offset order need not be commit order).
    pub ww_deps: bool,
}

/// Cases of one anomaly kept in a report; the count covers all.
pub const CASES_MAX: usize = 20;

/// One anomaly kind found in a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// Its name in the field: `lost-write`, `poll-skip`, ...
    pub name: &'static str,
    /// Whether the tolerance rules allow it here.
    pub tolerated: bool,
    /// How many cases.
    pub count: usize,
    /// The first [`CASES_MAX`] cases, in history order.
    pub cases: Vec<Case>,
}

/// One case of an anomaly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Case {
    /// The key it concerns, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Atom>,
    /// What happened, in a sentence.
    pub explanation: String,
    /// The history lines that show it.
    pub lines: Vec<usize>,
}

/// Queue-style totals over (key, value) pairs: what was sent and what came
/// out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Values a send was invoked for.
    pub attempted: usize,
    /// Values whose send was acknowledged (`ok`).
    pub acknowledged: usize,
    /// Attempted values an `ok` poll read.
    pub ok: usize,
    /// Acknowledged values no `ok` poll read.
    pub lost: usize,
    /// Extra reads of attempted values, beyond one each.
    pub duplicated: usize,
    /// Reads of values nobody sent.
    pub unexpected: usize,
    /// Values read whose send was not acknowledged (failed or unknown).
    pub recovered: usize,
}

/// Everything found in a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Analysis {
    /// Operations read.
    pub ops: usize,
    /// The mode judged under.
    pub mode: Mode,
    /// Whether write-write edges were drawn.
    pub ww_deps: bool,
    /// The anomalies found, in a fixed order; kinds with no case are left
    /// out.
    pub anomalies: Vec<Anomaly>,
    /// Queue-style totals.
    pub totals: Totals,
    /// No anomaly the rules do not tolerate.
    pub valid: bool,
}

/// Every anomaly kind, in report order.
pub const NAMES: [&str; 19] = [
    "inconsistent-offsets",
    "duplicate",
    "lost-write",
    "unseen",
    "G1a",
    "precommitted-read",
    "poll-skip",
    "nonmonotonic-poll",
    "int-poll-skip",
    "int-nonmonotonic-poll",
    "nonmonotonic-send",
    "int-send-skip",
    "int-nonmonotonic-send",
    "G0",
    "G1c",
    "G0-process",
    "G1c-process",
    "G0-realtime",
    "G1c-realtime",
];

/// Whether anomaly `name` is tolerated in `mode`.
pub fn tolerated(name: &str, mode: Mode, ww_deps: bool) -> bool {
    tolerance(name, mode, ww_deps).is_some()
}

/// Why anomaly `name` is tolerated in `mode`, if it is.
pub fn tolerance(name: &str, mode: Mode, ww_deps: bool) -> Option<&'static str> {
    match name {
        "int-send-skip" => Some("another producer's records may land between one op's sends"),
        "G0" | "G0-process" | "G0-realtime" => {
            Some("Kafka does not promise transactions' writes are ordered alike on every key")
        }
        "poll-skip" | "nonmonotonic-poll" if mode == Mode::Subscribe => {
            Some("in subscribe mode a rebalance may move the partition between polls")
        }
        "G1c" | "G1c-process" | "G1c-realtime" if ww_deps => {
            Some("ww edges from offset order need not be commit order")
        }
        _ => None,
    }
}

/// One key's version order.
#[derive(Default)]
pub(super) struct Order {
    /// Offset to the values seen there.
    log: BTreeMap<u64, BTreeSet<Atom>>,
    /// Index to value (the least, where an offset holds several).
    pub(super) by_index: Vec<Atom>,
    /// Value to index in `by_index` (its last, if it sits twice).
    by_value: BTreeMap<Atom, usize>,
    /// Value to the first index and offset it sits at.
    first: BTreeMap<Atom, (usize, u64)>,
    /// Index to the values whose last place is there.
    last_at: Vec<Vec<Atom>>,
}

impl Order {
    fn add(&mut self, offset: u64, value: &Atom) {
        self.log.entry(offset).or_default().insert(value.clone());
    }

    fn finish(&mut self) {
        let mut last: BTreeMap<&Atom, usize> = BTreeMap::new();
        for (i, (&offset, values)) in self.log.iter().enumerate() {
            let least = values.iter().next().expect("no empty offsets").clone();
            self.by_value.insert(least.clone(), i);
            self.by_index.push(least);
            for v in values {
                self.first.entry(v.clone()).or_insert((i, offset));
                last.insert(v, i);
            }
        }
        self.last_at = vec![Vec::new(); self.log.len()];
        for (v, i) in last {
            self.last_at[i].push(v.clone());
        }
    }

    /// Index distance from `a` to `b` (1 when either is not placed).
    fn delta(&self, a: &Atom, b: &Atom) -> i64 {
        match (self.by_value.get(a), self.by_value.get(b)) {
            (Some(&i), Some(&j)) => j as i64 - i as i64,
            _ => 1,
        }
    }

    /// The values strictly between `a` and `b`.
    fn between(&self, a: &Atom, b: &Atom) -> Vec<Atom> {
        match (self.by_value.get(a), self.by_value.get(b)) {
            (Some(&i), Some(&j)) if j > i + 1 => self.by_index[i + 1..j].to_vec(),
            _ => Vec::new(),
        }
    }
}

/// What the analyses share.
pub(super) struct Context<'a> {
    pub(super) ops: &'a [Op],
    pub(super) orders: BTreeMap<Atom, Order>,
    /// `(key, value)` to the first completed op that sent it.
    pub(super) writer: BTreeMap<(Atom, Atom), usize>,
    /// Values `ok` polls read, per key.
    ok_reads: BTreeMap<Atom, BTreeSet<Atom>>,
    /// `(key, value)` of failed sends.
    failed: BTreeSet<(Atom, Atom)>,
}

impl Context<'_> {
    /// An `ok` op, or an `info` one some of whose sends an `ok` poll read.
    pub(super) fn committed(&self, op: &Op) -> bool {
        match op.kind {
            Type::Ok => true,
            Type::Info => op.writes().iter().any(|(k, vs)| {
                self.ok_reads
                    .get(*k)
                    .is_some_and(|read| vs.iter().any(|v| read.contains(*v)))
            }),
            Type::Invoke | Type::Fail => false,
        }
    }
}

/// A send, poll or txn: an op that reads or writes the log.
pub(super) fn is_txn(op: &Op) -> bool {
    matches!(op.f, F::Send | F::Poll | F::Txn)
}

fn list(values: &[Atom]) -> String {
    const SHOWN: usize = 8;
    let mut s: Vec<String> = values.iter().take(SHOWN).map(ToString::to_string).collect();
    if values.len() > SHOWN {
        s.push(format!("and {} more", values.len() - SHOWN));
    }
    s.join(", ")
}

/// Collects the cases of each anomaly.
#[derive(Default)]
struct Found {
    cases: BTreeMap<&'static str, Vec<Case>>,
}

impl Found {
    /// `lines()` while `name` has fewer than [`CASES_MAX`] cases (only those
    /// are reported), else nothing: a history with many cases of one kind
    /// should not cost a scan of the history per case.
    fn lines(&self, name: &str, lines: impl FnOnce() -> Vec<usize>) -> Vec<usize> {
        if self.cases.get(name).map_or(0, Vec::len) < CASES_MAX {
            lines()
        } else {
            Vec::new()
        }
    }

    fn add(
        &mut self,
        name: &'static str,
        key: Option<&Atom>,
        explanation: String,
        lines: Vec<usize>,
    ) {
        self.cases.entry(name).or_default().push(Case {
            key: key.cloned(),
            explanation,
            lines,
        });
    }
}

/// Analyses `ops` under `opts`.
pub fn analyse(ops: &[Op], opts: Options) -> Analysis {
    let mode = opts
        .mode
        .unwrap_or(if ops.iter().any(|o| o.f == F::Subscribe) {
            Mode::Subscribe
        } else {
            Mode::Assign
        });
    let cx = context(ops);
    let mut found = Found::default();
    offsets_and_duplicates(&cx, &mut found);
    lost_writes(&cx, &mut found);
    unseen(&cx, &mut found);
    aborted_and_precommitted_reads(&cx, &mut found);
    process_polls(&cx, &mut found);
    internal(&cx, &mut found);
    process_sends(&cx, &mut found);
    for (name, case) in cycles::find(&cx, opts.ww_deps) {
        found.add(name, None, case.0, case.1);
    }

    let anomalies: Vec<Anomaly> = NAMES
        .iter()
        .filter_map(|&name| {
            let mut cases = found.cases.remove(name)?;
            let count = cases.len();
            cases.truncate(CASES_MAX);
            Some(Anomaly {
                name,
                tolerated: tolerated(name, mode, opts.ww_deps),
                count,
                cases,
            })
        })
        .collect();
    Analysis {
        ops: ops.len(),
        mode,
        ww_deps: opts.ww_deps,
        valid: anomalies.iter().all(|a| a.tolerated),
        anomalies,
        totals: totals(ops),
    }
}

fn context(ops: &[Op]) -> Context<'_> {
    let mut ok_reads: BTreeMap<Atom, BTreeSet<Atom>> = BTreeMap::new();
    let mut writer = BTreeMap::new();
    let mut failed = BTreeSet::new();
    for (i, op) in ops.iter().enumerate() {
        if op.kind == Type::Invoke || !is_txn(op) {
            continue;
        }
        if op.kind == Type::Ok {
            for (k, vs) in op.reads() {
                ok_reads
                    .entry(k.clone())
                    .or_default()
                    .extend(vs.into_iter().cloned());
            }
        }
        for (k, vs) in op.writes() {
            for v in vs {
                writer.entry((k.clone(), v.clone())).or_insert(i);
                if op.kind == Type::Fail {
                    failed.insert((k.clone(), v.clone()));
                }
            }
        }
    }
    let mut cx = Context {
        ops,
        orders: BTreeMap::new(),
        writer,
        ok_reads,
        failed,
    };
    let mut orders: BTreeMap<Atom, Order> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.kind != Type::Invoke && is_txn(o)) {
        let sends_count = cx.committed(op);
        for m in &op.mops {
            match m {
                super::Mop::Send {
                    key,
                    value,
                    offset: Some(o),
                } if sends_count => orders.entry(key.clone()).or_default().add(*o, value),
                super::Mop::Send { .. } => {}
                super::Mop::Poll(keys) => {
                    for (k, pairs) in keys {
                        for (o, v) in pairs {
                            if let Some(o) = o {
                                orders.entry(k.clone()).or_default().add(*o, v);
                            }
                        }
                    }
                }
            }
        }
    }
    for order in orders.values_mut() {
        order.finish();
    }
    cx.orders = orders;
    cx
}

/// inconsistent-offsets and duplicate.
fn offsets_and_duplicates(cx: &Context<'_>, found: &mut Found) {
    for (k, order) in &cx.orders {
        let mut offsets_of: BTreeMap<&Atom, Vec<u64>> = BTreeMap::new();
        for (&offset, values) in &order.log {
            if values.len() > 1 {
                let vs: Vec<Atom> = values.iter().cloned().collect();
                found.add(
                    "inconsistent-offsets",
                    Some(k),
                    format!(
                        "key {k}: offset {offset} holds {} values: {}",
                        vs.len(),
                        list(&vs)
                    ),
                    found.lines("inconsistent-offsets", || {
                        lines_touching(cx, k, |o, _| o == Some(offset))
                    }),
                );
            }
            for v in values {
                offsets_of.entry(v).or_default().push(offset);
            }
        }
        for (v, offsets) in offsets_of {
            if offsets.len() > 1 {
                let shown: Vec<String> = offsets.iter().map(ToString::to_string).collect();
                found.add(
                    "duplicate",
                    Some(k),
                    format!(
                        "key {k}: value {v} sits at {} offsets: {}",
                        offsets.len(),
                        shown.join(", ")
                    ),
                    found.lines("duplicate", || lines_touching(cx, k, |_, val| val == v)),
                );
            }
        }
    }
}

/// Lines (completed ops) that sent or read `(offset, value)` of key `k`
/// matching `pick`, at most a few.
fn lines_touching(
    cx: &Context<'_>,
    k: &Atom,
    pick: impl Fn(Option<u64>, &Atom) -> bool,
) -> Vec<usize> {
    let mut lines = Vec::new();
    for op in cx
        .ops
        .iter()
        .filter(|o| o.kind != Type::Invoke && is_txn(o))
    {
        let hit = op.mops.iter().any(|m| match m {
            super::Mop::Send { key, value, offset } => key == k && pick(*offset, value),
            super::Mop::Poll(keys) => keys
                .iter()
                .any(|(key, pairs)| key == k && pairs.iter().any(|(o, v)| pick(*o, v))),
        });
        if hit {
            lines.push(op.line);
            if lines.len() == 6 {
                break;
            }
        }
    }
    lines
}

/// lost-write: below the highest index an `ok` poll read on a key, every
/// value that must have committed should have been read by some `ok` poll.
fn lost_writes(cx: &Context<'_>, found: &mut Found) {
    for (k, read) in &cx.ok_reads {
        let Some(order) = cx.orders.get(k) else {
            continue;
        };
        let Some((bound, max_value)) = read
            .iter()
            .filter_map(|v| order.first.get(v).map(|&(i, _)| (i, v)))
            .max()
        else {
            continue;
        };
        let reader = cx
            .ops
            .iter()
            .find(|o| {
                o.kind == Type::Ok
                    && o.reads()
                        .iter()
                        .any(|(key, vs)| *key == k && vs.contains(&max_value))
            })
            .map(|o| o.line);
        let mut seen = BTreeSet::new();
        for v in order.last_at[..=bound].iter().flatten() {
            if read.contains(v) || !seen.insert(v) {
                continue;
            }
            let Some(&w) = cx.writer.get(&(k.clone(), v.clone())) else {
                continue;
            };
            let writer = &cx.ops[w];
            if !cx.committed(writer) {
                continue;
            }
            let offset = order.first.get(v).map_or(0, |&(_, o)| o);
            let max_offset = order.first.get(max_value).map_or(0, |&(_, o)| o);
            let mut lines = vec![writer.line];
            let by = reader.map_or_else(String::new, |l| {
                lines.push(l);
                format!(" (line {l})")
            });
            found.add(
                "lost-write",
                Some(k),
                format!(
                    "key {k}: value {v} at offset {offset}, sent by {}, was never read, though a poll{by} read up to offset {max_offset} (value {max_value})",
                    writer.label()
                ),
                lines,
            );
        }
    }
}

/// unseen: values acknowledged but read by no `ok` poll by the end.
fn unseen(cx: &Context<'_>, found: &mut Found) {
    let mut sent: BTreeMap<&Atom, Vec<(&Atom, usize)>> = BTreeMap::new();
    for op in cx.ops.iter().filter(|o| o.kind == Type::Ok) {
        for (k, vs) in op.writes() {
            for v in vs {
                sent.entry(k).or_default().push((v, op.line));
            }
        }
    }
    for (k, values) in sent {
        let read = cx.ok_reads.get(k);
        let missing: Vec<(&Atom, usize)> = values
            .into_iter()
            .filter(|(v, _)| !read.is_some_and(|r| r.contains(*v)))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let vs: Vec<Atom> = missing.iter().map(|(v, _)| (*v).clone()).collect();
        found.add(
            "unseen",
            Some(k),
            format!(
                "key {k}: {} acknowledged value{} never polled by the end: {}",
                vs.len(),
                if vs.len() == 1 { "" } else { "s" },
                list(&vs)
            ),
            missing.iter().take(6).map(|&(_, l)| l).collect(),
        );
    }
}

/// G1a (an `ok` poll read a failed send's value) and precommitted-read (an
/// op read a value it sent itself).
fn aborted_and_precommitted_reads(cx: &Context<'_>, found: &mut Found) {
    for op in cx.ops.iter().filter(|o| is_txn(o)) {
        let reads = op.reads();
        if op.kind == Type::Ok {
            for (k, vs) in &reads {
                for v in vs {
                    if !cx.failed.contains(&((*k).clone(), (*v).clone())) {
                        continue;
                    }
                    let w = cx
                        .writer
                        .get(&((*k).clone(), (*v).clone()))
                        .map(|&w| &cx.ops[w]);
                    let mut lines = vec![op.line];
                    lines.extend(w.map(|w| w.line));
                    found.add(
                        "G1a",
                        Some(k),
                        format!(
                            "{} read value {v} of key {k}, whose send failed{}",
                            op.label(),
                            w.map_or_else(String::new, |w| format!(", in {}", w.label()))
                        ),
                        lines,
                    );
                }
            }
        }
        let writes = op.writes();
        for (k, vs) in &reads {
            let Some((_, sent)) = writes.iter().find(|(key, _)| key == k) else {
                continue;
            };
            if let Some(v) = vs.iter().find(|v| sent.contains(v)) {
                found.add(
                    "precommitted-read",
                    Some(k),
                    format!(
                        "{} read value {v} of key {k}, which it sent itself",
                        op.label()
                    ),
                    vec![op.line],
                );
                // One case per op, as the workload's checker counts them.
                break;
            }
        }
    }
}

/// Operations of each process, in history order.
fn by_process(ops: &[Op], keep: impl Fn(&Op) -> bool) -> BTreeMap<Option<&Atom>, Vec<&Op>> {
    let mut out: BTreeMap<Option<&Atom>, Vec<&Op>> = BTreeMap::new();
    for op in ops.iter().filter(|o| keep(o)) {
        out.entry(op.process.as_ref()).or_default().push(op);
    }
    out
}

/// Keeps only the keys an assign or subscribe completion leaves the
/// process.
fn reassign(last: &mut BTreeMap<Atom, &Op>, op: &Op) {
    if matches!(op.kind, Type::Ok | Type::Info) {
        last.retain(|k, _| op.keys.contains(k));
    }
}

/// One process's successive ops that touch a key: for each op `target`
/// takes (among those passing `keep`), each key of `values(op)` that an
/// earlier op of the process touched too, with no assign or subscribe
/// dropping the key in between, calls `visit(earlier, op, key, the
/// earlier op's last value, this op's first value, the key's order)`.
/// `target` answers whether the op is remembered as the key's latest.
fn successive<'a>(
    cx: &Context<'a>,
    keep: impl Fn(&Op) -> bool,
    target: impl Fn(&Op) -> Option<bool>,
    values: impl Fn(&'a Op) -> Vec<(&'a Atom, Vec<&'a Atom>)>,
    mut visit: impl FnMut(&Op, &Op, &Atom, &Atom, &Atom, &Order),
) {
    for ops in by_process(cx.ops, keep).values() {
        let mut last: BTreeMap<Atom, &Op> = BTreeMap::new();
        for &op in ops {
            if matches!(op.f, F::Assign | F::Subscribe) {
                reassign(&mut last, op);
                continue;
            }
            let Some(remember) = target(op) else {
                continue;
            };
            let now = values(op);
            for (k, vs) in &now {
                let (Some(prev), Some(order)) = (last.get(*k), cx.orders.get(*k)) else {
                    continue;
                };
                let before = values(prev);
                let Some(v) = before
                    .iter()
                    .find(|(key, _)| key == k)
                    .and_then(|(_, vs)| vs.last())
                else {
                    continue;
                };
                // An empty read of the key compares as in order.
                if let Some(first) = vs.first() {
                    visit(prev, op, k, v, first, order);
                }
            }
            if remember {
                for (k, _) in now {
                    last.insert(k.clone(), op);
                }
            }
        }
    }
}

/// poll-skip and nonmonotonic-poll: a process's poll of a key starts more
/// than one index past, or not past, where its last `ok` poll of the key
/// ended, with no assign or subscribe dropping the key in between.
fn process_polls(cx: &Context<'_>, found: &mut Found) {
    let target = |o: &Op| matches!(o.f, F::Poll | F::Txn).then_some(o.kind == Type::Ok);
    successive(
        cx,
        |_| true,
        target,
        Op::reads,
        |prev, op, k, v, v2, order| {
            let delta = order.delta(v, v2);
            if delta > 1 {
                found.add(
                "poll-skip",
                Some(k),
                format!(
                    "process {}: polled key {k} up to value {v} in {}, then from value {v2} in {}, skipping {}",
                    process_name(op),
                    prev.label(),
                    op.label(),
                    list(&order.between(v, v2))
                ),
                vec![prev.line, op.line],
            );
            } else if delta < 1 {
                found.add(
                "nonmonotonic-poll",
                Some(k),
                format!(
                    "process {}: polled key {k} up to value {v} in {}, then from value {v2} in {}, {} index{} back",
                    process_name(op),
                    prev.label(),
                    op.label(),
                    1 - delta,
                    if delta == 0 { "" } else { "es" }
                ),
                vec![prev.line, op.line],
            );
            }
        },
    );
}

fn process_name(op: &Op) -> String {
    op.process
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), ToString::to_string)
}

/// int-poll-skip, int-nonmonotonic-poll, int-send-skip and
/// int-nonmonotonic-send: successive reads (or sends) of a key inside one
/// completed op.
fn internal(cx: &Context<'_>, found: &mut Found) {
    for op in cx
        .ops
        .iter()
        .filter(|o| o.kind != Type::Invoke && is_txn(o))
    {
        for (what, pairs, skip, back) in [
            ("read", op.reads(), "int-poll-skip", "int-nonmonotonic-poll"),
            (
                "sent",
                op.writes(),
                "int-send-skip",
                "int-nonmonotonic-send",
            ),
        ] {
            for (k, vs) in &pairs {
                if what == "read" && op.rebalanced.contains(*k) {
                    continue;
                }
                let Some(order) = cx.orders.get(*k) else {
                    continue;
                };
                for w in vs.windows(2) {
                    let delta = order.delta(w[0], w[1]);
                    if delta > 1 {
                        found.add(
                            skip,
                            Some(k),
                            format!(
                                "{} {what} key {k}'s value {} then {}, skipping {}",
                                op.label(),
                                w[0],
                                w[1],
                                list(&order.between(w[0], w[1]))
                            ),
                            vec![op.line],
                        );
                    } else if delta < 1 {
                        found.add(
                            back,
                            Some(k),
                            format!(
                                "{} {what} key {k}'s value {} then {}, which comes {} in the log",
                                op.label(),
                                w[0],
                                w[1],
                                if delta == 0 {
                                    "at the same index"
                                } else {
                                    "earlier"
                                }
                            ),
                            vec![op.line],
                        );
                    }
                }
            }
        }
    }
}

/// nonmonotonic-send: a process's later op starts sending to a key at or
/// before where its earlier op's sends ended.
fn process_sends(cx: &Context<'_>, found: &mut Found) {
    let keep = |o: &Op| matches!(o.kind, Type::Ok | Type::Info);
    let target = |o: &Op| matches!(o.f, F::Send | F::Txn).then_some(true);
    successive(cx, keep, target, Op::writes, |prev, op, k, v, v2, order| {
        if order.delta(v, v2) < 1 {
            found.add(
                "nonmonotonic-send",
                Some(k),
                format!(
                    "process {}: sent value {v} to key {k} in {}, then value {v2} in {}, which landed at or before it",
                    process_name(op),
                    prev.label(),
                    op.label()
                ),
                vec![prev.line, op.line],
            );
        }
    });
}

/// Queue-style totals over `(key, value)` pairs.
fn totals(ops: &[Op]) -> Totals {
    let mut attempted: BTreeMap<(&Atom, &Atom), usize> = BTreeMap::new();
    let mut acknowledged: BTreeSet<(&Atom, &Atom)> = BTreeSet::new();
    let mut read: BTreeMap<(&Atom, &Atom), usize> = BTreeMap::new();
    for op in ops.iter().filter(|o| is_txn(o)) {
        match op.kind {
            Type::Invoke => {
                for (k, vs) in op.writes() {
                    for v in vs {
                        *attempted.entry((k, v)).or_default() += 1;
                    }
                }
            }
            Type::Ok => {
                for (k, vs) in op.writes() {
                    for v in vs {
                        acknowledged.insert((k, v));
                    }
                }
                for (k, vs) in op.reads() {
                    for v in vs {
                        *read.entry((k, v)).or_default() += 1;
                    }
                }
            }
            Type::Fail | Type::Info => {}
        }
        if op.kind != Type::Invoke {
            // A history without invocations still attempted what it sent.
            for (k, vs) in op.writes() {
                for v in vs {
                    attempted.entry((k, v)).or_insert(1);
                }
            }
        }
    }
    let mut t = Totals {
        attempted: attempted.len(),
        acknowledged: acknowledged.len(),
        ..Totals::default()
    };
    for (kv, &n) in &read {
        match attempted.get(kv) {
            Some(&tries) => {
                t.ok += 1;
                t.duplicated += n.saturating_sub(tries);
                if !acknowledged.contains(kv) {
                    t.recovered += 1;
                }
            }
            None => t.unexpected += n,
        }
    }
    t.lost = acknowledged
        .iter()
        .filter(|kv| !read.contains_key(*kv))
        .count();
    t
}
