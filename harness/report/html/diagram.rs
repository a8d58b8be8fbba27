//! The space-time diagram: one lifeline per node (producers, brokers,
//! consumers), time flowing down, one row per drawn event, messages as
//! arrows between lifelines, faults as marked bands, and each finding's
//! witness events highlighted.
//!
//! Rows are in history order rather than to scale, so a burst of events in
//! one millisecond stays readable; each row carries its virtual time on the
//! left and its event as a sentence on the right. Arrows whose two ends are
//! both drawn are slanted from send to receipt; arrows for messages the
//! history records only at one end (a fetch response delivered, a commit
//! accepted) are drawn across their row.

use std::collections::BTreeMap;
use std::fmt::Write;

use faultline_models::event::{Event, EventKind};
use faultline_models::kafka::Role;
use faultline_models::{NodeId, PartitionId, SimTime};

use super::escape;
use super::select::{Selection, client_of};
use crate::history::Names;
use crate::history::describe::what;
use crate::history::jsonl::type_name;

const TIME_W: usize = 100;
const COL_W: usize = 120;
const HEAD_H: usize = 48;
const ROW_H: usize = 20;
const TEXT_GAP: usize = 20;
const TEXT_W: usize = 1150;
/// Alike consecutive events folded into one row, at most.
const FOLD_MAX: usize = 64;

/// One row of the diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Row {
    /// Drawn events: one, or a run of alike ones folded together.
    Events {
        /// History indices.
        events: Vec<usize>,
        /// The lifeline it sits on (`None`: the whole system).
        node: Option<NodeId>,
    },
    /// Events left out between two drawn rows.
    Gap {
        /// How many.
        count: usize,
        /// Time of the first left out.
        from: SimTime,
        /// Time of the last left out.
        to: SimTime,
    },
}

/// An arrow between two lifelines.
struct Arrow {
    from: (usize, usize),
    to: (usize, usize),
    /// CSS class: the kind of message.
    class: &'static str,
    title: String,
    /// The history event it belongs to (its receipt, or the fault).
    event: usize,
    /// The message never arrived: the arrow stops short with a cross.
    cut: bool,
}

/// A marked band: a node down or slow, or a network partition.
struct Band {
    /// The lifeline (`None`: across every lifeline).
    col: Option<usize>,
    rows: (usize, usize),
    class: &'static str,
    title: String,
}

/// The lifeline a history event sits on.
pub fn node_of(kind: &EventKind, names: &Names<'_>) -> Option<NodeId> {
    let coordinator =
        |g: faultline_models::GroupId| names.layout.groups.get(g.index()).map(|m| m.coordinator);
    match *kind {
        EventKind::Appended { broker, .. }
        | EventKind::DuplicateBatch { broker, .. }
        | EventKind::Truncated { broker, .. }
        | EventKind::TxnMarker { broker, .. } => Some(broker),
        EventKind::TxnAborted { coordinator, .. } => Some(coordinator),
        // The controller decides elections and ISR changes.
        EventKind::LeaderElected { .. } | EventKind::IsrChanged { .. } => names.layout.controller,
        EventKind::GenerationStarted { group, .. }
        | EventKind::MemberRemoved { group, .. }
        | EventKind::StaticMemberRejoined { group, .. }
        | EventKind::CommitAccepted { group, .. }
        | EventKind::CommitRejected { group, .. } => coordinator(group),
        EventKind::Crashed { node, .. }
        | EventKind::Restarted { node }
        | EventKind::SlowStarted { node, .. }
        | EventKind::SlowEnded { node } => Some(node),
        EventKind::MessageDropped { from, .. } | EventKind::MessageDelayed { from, .. } => {
            Some(from)
        }
        EventKind::MessageDuplicated { to, .. } => Some(to),
        _ => client_of(kind),
    }
}

/// Lifelines, left to right: producers, brokers, consumers, the controller.
fn lifelines(names: &Names<'_>) -> Vec<NodeId> {
    let roles = &names.layout.roles;
    let rank = |r: &Role| match r {
        Role::Producer(_) => 0,
        Role::Broker(_) => 1,
        Role::Consumer(_) => 2,
        Role::Controller => 3,
    };
    let mut nodes: Vec<(u8, NodeId)> = roles
        .iter()
        .enumerate()
        .map(|(i, r)| (rank(r), NodeId(i as u16)))
        .collect();
    nodes.sort();
    nodes.into_iter().map(|(_, n)| n).collect()
}

/// Groups the selected events into rows, folding runs of alike events.
fn rows(sel: &Selection, events: &[Event], names: &Names<'_>, witness: &Witnesses) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::with_capacity(sel.events.len() + 8);
    let mut prev: Option<usize> = None;
    for &i in &sel.events {
        let e = &events[i];
        let node = node_of(&e.kind, names);
        if let Some(p) = prev {
            if i > p + 1 {
                out.push(Row::Gap {
                    count: i - p - 1,
                    from: events[p + 1].time,
                    to: events[i - 1].time,
                });
            } else if let Some(Row::Events {
                events: run,
                node: n,
            }) = out.last_mut()
            {
                let last = events[*run.last().unwrap_or(&p)];
                let alike = *n == node
                    && last.time == e.time
                    && type_name(&last.kind) == type_name(&e.kind)
                    && !witness.contains_key(&i)
                    && !run.iter().any(|j| witness.contains_key(j))
                    && run.len() < FOLD_MAX;
                if alike {
                    run.push(i);
                    prev = Some(i);
                    continue;
                }
            }
        } else if i > 0 {
            out.push(Row::Gap {
                count: i,
                from: events[0].time,
                to: events[i - 1].time,
            });
        }
        out.push(Row::Events {
            events: vec![i],
            node,
        });
        prev = Some(i);
    }
    if let Some(p) = prev
        && p + 1 < events.len()
    {
        out.push(Row::Gap {
            count: events.len() - p - 1,
            from: events[p + 1].time,
            to: events[events.len() - 1].time,
        });
    }
    out
}

/// History index → the findings it is a witness of.
pub type Witnesses = BTreeMap<usize, Vec<usize>>;

/// What the drawing needs besides the rows.
struct Drawing {
    arrows: Vec<Arrow>,
    bands: Vec<Band>,
    /// Rows where the fault window closed.
    healed: Vec<usize>,
}

/// Works out arrows and bands from the rows.
fn drawing(rows: &[Row], events: &[Event], names: &Names<'_>, col: &[usize]) -> Drawing {
    let layout = names.layout;
    let c = |n: NodeId| col.get(n.index()).copied().unwrap_or(0);
    let mut d = Drawing {
        arrows: Vec::new(),
        bands: Vec::new(),
        healed: Vec::new(),
    };
    let mut sent: BTreeMap<(NodeId, PartitionId, u32, u32), usize> = BTreeMap::new();
    let mut appended: BTreeMap<u32, (usize, NodeId)> = BTreeMap::new();
    let mut acked: BTreeMap<(usize, usize), ()> = BTreeMap::new();
    let mut leader: Vec<NodeId> = layout.partitions.iter().map(|p| p.leader).collect();
    let mut down: BTreeMap<NodeId, (usize, String)> = BTreeMap::new();
    let mut slow: BTreeMap<NodeId, usize> = BTreeMap::new();
    let mut cut: BTreeMap<u32, usize> = BTreeMap::new();
    let last_row = rows.len().saturating_sub(1);
    for (r, row) in rows.iter().enumerate() {
        let Row::Events { events: idx, .. } = row else {
            continue;
        };
        for &i in idx {
            let kind = events[i].kind;
            match kind {
                EventKind::ProduceSent {
                    producer,
                    partition,
                    batch,
                    attempt,
                    ..
                } => {
                    sent.insert((producer, partition, batch, attempt), r);
                }
                EventKind::Appended {
                    broker,
                    partition,
                    producer,
                    batch,
                    attempt,
                    ..
                }
                | EventKind::DuplicateBatch {
                    broker,
                    partition,
                    producer,
                    batch,
                    attempt,
                } => {
                    if let Some(from) = sent.remove(&(producer, partition, batch, attempt)) {
                        d.arrows.push(produce_arrow(
                            (c(producer), from),
                            (c(broker), r),
                            &kind,
                            i,
                            names,
                        ));
                    }
                    if let EventKind::Appended { msg, .. } = kind {
                        appended.insert(msg.0, (r, broker));
                        if let Some(l) = leader.get_mut(partition.index()) {
                            *l = broker;
                        }
                    }
                }
                EventKind::Acked {
                    producer,
                    msg,
                    offset: Some(_),
                    ..
                } => {
                    if let Some(&(from, broker)) = appended.get(&msg.0)
                        && acked.insert((from, r), ()).is_none()
                    {
                        d.arrows.push(Arrow {
                            from: (c(broker), from),
                            to: (c(producer), r),
                            class: "ack",
                            title: format!("produce response: {}", what(&kind, names)),
                            event: i,
                            cut: false,
                        });
                    }
                }
                EventKind::Delivered {
                    consumer,
                    partition,
                    ..
                } => {
                    let from = leader.get(partition.index()).copied().unwrap_or(consumer);
                    d.arrows.push(Arrow {
                        from: (c(from), r),
                        to: (c(consumer), r),
                        class: "fetch",
                        title: format!("fetched: {}", what(&kind, names)),
                        event: i,
                        cut: false,
                    });
                }
                EventKind::CommitAccepted {
                    group, consumer, ..
                }
                | EventKind::CommitRejected {
                    group, consumer, ..
                } => {
                    if let Some(g) = layout.groups.get(group.index()) {
                        d.arrows.push(Arrow {
                            from: (c(consumer), r),
                            to: (c(g.coordinator), r),
                            class: "commit",
                            title: format!("offset commit: {}", what(&kind, names)),
                            event: i,
                            cut: false,
                        });
                    }
                }
                EventKind::Assigned {
                    group, consumer, ..
                } => {
                    if let Some(g) = layout.groups.get(group.index()) {
                        d.arrows.push(Arrow {
                            from: (c(g.coordinator), r),
                            to: (c(consumer), r),
                            class: "group",
                            title: what(&kind, names),
                            event: i,
                            cut: false,
                        });
                    }
                }
                EventKind::MessageDropped { from, to, .. }
                | EventKind::MessageDuplicated { from, to, .. }
                | EventKind::MessageDelayed { from, to, .. } => {
                    let class = match kind {
                        EventKind::MessageDropped { .. } => "dropped",
                        EventKind::MessageDuplicated { .. } => "duplicated",
                        _ => "delayed",
                    };
                    d.arrows.push(Arrow {
                        from: (c(from), r),
                        to: (c(to), r),
                        class,
                        title: what(&kind, names),
                        event: i,
                        cut: class == "dropped",
                    });
                }
                EventKind::Crashed { node, .. } => {
                    down.insert(node, (r, what(&kind, names)));
                    // A restarted producer numbers its batches from 0
                    // again: an append is matched only to a send of the
                    // incarnation that made it.
                    sent.retain(|k, _| k.0 != node);
                }
                EventKind::Restarted { node } => {
                    if let Some((from, title)) = down.remove(&node) {
                        d.bands.push(Band {
                            col: Some(c(node)),
                            rows: (from, r),
                            class: "down",
                            title: format!("{title}; restarted at {}", events[i].time),
                        });
                    }
                }
                EventKind::SlowStarted { node, .. } => {
                    slow.insert(node, r);
                }
                EventKind::SlowEnded { node } => {
                    if let Some(from) = slow.remove(&node) {
                        d.bands.push(Band {
                            col: Some(c(node)),
                            rows: (from, r),
                            class: "slow",
                            title: format!("{} handles slowly", names.node(node)),
                        });
                    }
                }
                EventKind::PartitionStarted { id } => {
                    cut.insert(id, r);
                }
                EventKind::PartitionHealed { id } => {
                    if let Some(from) = cut.remove(&id) {
                        d.bands.push(partition_band(id, (from, r), events, names));
                    }
                }
                EventKind::LeaderElected {
                    partition,
                    leader: Some(new),
                    ..
                } => {
                    // Fetches come from the new leader from now on.
                    if let Some(l) = leader.get_mut(partition.index()) {
                        *l = new;
                    }
                }
                EventKind::FaultsHealed => d.healed.push(r),
                _ => {}
            }
        }
    }
    for (node, (from, title)) in down {
        d.bands.push(Band {
            col: Some(c(node)),
            rows: (from, last_row),
            class: "down",
            title: format!("{title}; still down at the end"),
        });
    }
    for (node, from) in slow {
        d.bands.push(Band {
            col: Some(c(node)),
            rows: (from, last_row),
            class: "slow",
            title: format!("{} handles slowly until the end", names.node(node)),
        });
    }
    for (id, from) in cut {
        d.bands
            .push(partition_band(id, (from, last_row), events, names));
    }
    d
}

/// The arrow of a produce request, ending where the broker appended it
/// (or recognised it as a duplicate): event `i`, of kind `kind`.
fn produce_arrow(
    from: (usize, usize),
    to: (usize, usize),
    kind: &EventKind,
    i: usize,
    names: &Names<'_>,
) -> Arrow {
    Arrow {
        from,
        to,
        class: "produce",
        title: format!("produce request, then: {}", what(kind, names)),
        event: i,
        cut: false,
    }
}

fn partition_band(id: u32, rows: (usize, usize), events: &[Event], names: &Names<'_>) -> Band {
    let start = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::PartitionStarted { id: x } if x == id))
        .map(|e| what(&e.kind, names))
        .unwrap_or_else(|| format!("network partition {id}"));
    Band {
        col: None,
        rows,
        class: "cut",
        title: start,
    }
}

/// The diagram as an SVG element.
pub fn svg(sel: &Selection, names: &Names<'_>, witness: &Witnesses) -> String {
    let events = &names.history.events;
    let lines = lifelines(names);
    let mut col = vec![0usize; names.layout.node_names.len()];
    for (k, n) in lines.iter().enumerate() {
        if let Some(c) = col.get_mut(n.index()) {
            *c = k;
        }
    }
    let rows = rows(sel, events, names, witness);
    let d = drawing(&rows, events, names, &col);
    let x = |k: usize| TIME_W + COL_W / 2 + k * COL_W;
    let y = |r: usize| HEAD_H + r * ROW_H + ROW_H / 2;
    let text_x = TIME_W + lines.len() * COL_W + TEXT_GAP;
    let width = text_x + TEXT_W;
    let height = HEAD_H + rows.len() * ROW_H + ROW_H;
    let mut s = String::with_capacity(256 * rows.len() + 4096);
    let _ = write!(
        s,
        r#"<svg class="diagram" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="space-time diagram">"#
    );
    s.push_str(
        r#"<defs><marker id="ah" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="context-stroke"/></marker></defs>"#,
    );
    // Witness rows first, so everything else draws over their highlight.
    for (r, row) in rows.iter().enumerate() {
        if let Row::Events { events: idx, .. } = row {
            let fs = findings_of(idx, witness);
            if !fs.is_empty() {
                let _ = write!(
                    s,
                    r#"<rect class="wrow w" data-f="{fs}" x="0" y="{}" width="{width}" height="{ROW_H}"/>"#,
                    y(r) - ROW_H / 2
                );
            }
        }
    }
    for b in &d.bands {
        let (top, bottom) = (y(b.rows.0) - ROW_H / 2, y(b.rows.1) + ROW_H / 2);
        let (bx, bw) = match b.col {
            Some(k) => (x(k) - 7, 14),
            None => (TIME_W, lines.len() * COL_W),
        };
        let _ = write!(
            s,
            r#"<rect class="band {}" x="{bx}" y="{top}" width="{bw}" height="{}"><title>{}</title></rect>"#,
            b.class,
            bottom - top,
            escape(&b.title)
        );
    }
    for (k, n) in lines.iter().enumerate() {
        let role = match names.layout.roles.get(n.index()) {
            Some(Role::Producer(_)) => "producer",
            Some(Role::Broker(_)) => "broker",
            Some(Role::Controller) => "controller",
            _ => "consumer",
        };
        let _ = write!(
            s,
            r#"<g class="lifeline {role}"><text class="node" x="{}" y="{}">{}</text><text class="role" x="{}" y="{}">{role}</text><line x1="{}" y1="{HEAD_H}" x2="{}" y2="{}"/></g>"#,
            x(k),
            HEAD_H - 24,
            escape(&names.node(*n)),
            x(k),
            HEAD_H - 10,
            x(k),
            x(k),
            height - ROW_H / 2
        );
    }
    for &r in &d.healed {
        let _ = write!(
            s,
            r#"<line class="healed" x1="0" y1="{0}" x2="{width}" y2="{0}"><title>the fault window closed: faults healed, the liveness phase began</title></line>"#,
            y(r) - ROW_H / 2
        );
    }
    for (r, row) in rows.iter().enumerate() {
        match row {
            Row::Gap { count, from, to } => {
                let _ = write!(
                    s,
                    r#"<g class="gap"><rect x="{TIME_W}" y="{}" width="{}" height="{ROW_H}"/><text x="{text_x}" y="{}">… {count} event{} left out ({from} to {to}) …</text></g>"#,
                    y(r) - ROW_H / 2,
                    lines.len() * COL_W,
                    y(r) + 4,
                    if *count == 1 { "" } else { "s" }
                );
            }
            Row::Events { events: idx, node } => {
                let first = idx[0];
                let e = &events[first];
                let fs = findings_of(idx, witness);
                let w = if fs.is_empty() { "" } else { " w" };
                let text = what(&e.kind, names);
                let more = if idx.len() > 1 {
                    format!(" (and {} more like it)", idx.len() - 1)
                } else {
                    String::new()
                };
                let _ = write!(
                    s,
                    r#"<g class="ev {}{w}" id="ev-{first}" data-f="{fs}"><title>"#,
                    type_name(&e.kind)
                );
                for (k, &i) in idx.iter().enumerate() {
                    if k > 0 {
                        s.push('\n');
                    }
                    let _ = write!(s, "#{i} {}", escape(&what(&events[i].kind, names)));
                }
                let _ = write!(
                    s,
                    r#"</title><text class="t" x="{}" y="{}">{}</text>"#,
                    TIME_W - 8,
                    y(r) + 4,
                    e.time
                );
                match node {
                    Some(n) => {
                        let _ = write!(
                            s,
                            r#"<circle cx="{}" cy="{}" r="4"/>"#,
                            x(col.get(n.index()).copied().unwrap_or(0)),
                            y(r)
                        );
                    }
                    None => {
                        let _ = write!(
                            s,
                            r#"<line class="sys" x1="{TIME_W}" y1="{0}" x2="{1}" y2="{0}"/>"#,
                            y(r),
                            TIME_W + lines.len() * COL_W
                        );
                    }
                }
                let _ = write!(
                    s,
                    r#"<text class="s" x="{text_x}" y="{}">{}{}</text></g>"#,
                    y(r) + 4,
                    escape(&text),
                    escape(&more)
                );
            }
        }
    }
    for a in &d.arrows {
        let (x1, y1) = (x(a.from.0) as i64, y(a.from.1) as i64);
        let (mut x2, y2) = (x(a.to.0) as i64, y(a.to.1) as i64);
        if x1 == x2 && y1 == y2 {
            continue;
        }
        if a.cut {
            x2 = x1 + (x2 - x1) * 3 / 5;
        }
        let fs = witness.get(&a.event).map(|f| join(f)).unwrap_or_default();
        let w = if fs.is_empty() { "" } else { " w" };
        let _ = write!(
            s,
            r#"<g class="arrow {}{w}" data-f="{fs}" data-ev="{}"><title>{}</title><line class="hit" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/><line class="vis" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"{}/>"#,
            a.class,
            a.event,
            escape(&a.title),
            if a.cut {
                ""
            } else {
                r#" marker-end="url(#ah)""#
            }
        );
        if a.cut {
            let _ = write!(
                s,
                r#"<path class="x" d="M{},{}l8,8m0,-8l-8,8"/>"#,
                x2 - 4,
                y2 - 4
            );
        }
        s.push_str("</g>");
    }
    s.push_str("</svg>");
    s
}

fn findings_of(idx: &[usize], witness: &Witnesses) -> String {
    let mut fs: Vec<usize> = idx
        .iter()
        .filter_map(|i| witness.get(i))
        .flatten()
        .copied()
        .collect();
    fs.sort_unstable();
    fs.dedup();
    join(&fs)
}

fn join(fs: &[usize]) -> String {
    let mut out = String::new();
    for (k, f) in fs.iter().enumerate() {
        if k > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{f}");
    }
    out
}
