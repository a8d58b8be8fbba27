//! G0 and G1c, and their `-process` variants: cycles in the dependency
//! graph between committed operations.
//!
//! Edges, as the Kafka workload draws them: *wr* from the op that sent a
//! value to each op that read it;
//! *ww* (only when asked, since offset order need not be commit order)
//! from the sender of each value to the sender of the next value in the
//! key's version order; *process* from each committed op of a process to
//! its next one. A cycle of ww edges alone is G0; one with a wr edge is
//! G1c; one that needs a process edge too is G0-process or G1c-process.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::analysis::{Context, is_txn};
use super::{Atom, Type};

/// A relation between two ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rel {
    Ww = 1,
    Wr = 2,
    Process = 4,
    Realtime = 8,
}

/// The relations from one op to another, and the key of the first ww and
/// wr edge.
#[derive(Clone, Copy, Default)]
struct Link<'a> {
    rels: u8,
    ww: Option<&'a Atom>,
    wr: Option<&'a Atom>,
}

type Edges<'a> = BTreeMap<(usize, usize), Link<'a>>;

/// The anomalies looked for, each over a set of relations and needing an
/// edge of some relation inside the cycle, in the order reported.
const LEVELS: [(&str, u8, u8); 6] = [
    ("G0", Rel::Ww as u8, 0),
    ("G1c", Rel::Ww as u8 | Rel::Wr as u8, Rel::Wr as u8),
    (
        "G0-process",
        Rel::Ww as u8 | Rel::Process as u8,
        Rel::Process as u8,
    ),
    (
        "G1c-process",
        Rel::Ww as u8 | Rel::Wr as u8 | Rel::Process as u8,
        Rel::Wr as u8 | Rel::Process as u8,
    ),
    (
        "G0-realtime",
        Rel::Ww as u8 | Rel::Realtime as u8,
        Rel::Realtime as u8,
    ),
    (
        "G1c-realtime",
        Rel::Ww as u8 | Rel::Wr as u8 | Rel::Realtime as u8,
        Rel::Wr as u8 | Rel::Realtime as u8,
    ),
];

/// Each cycle found: its anomaly name, a sentence and its lines.
pub(super) fn find(cx: &Context<'_>, ww_deps: bool) -> Vec<(&'static str, (String, Vec<usize>))> {
    let nodes: Vec<usize> = cx
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| is_txn(o) && cx.committed(o))
        .map(|(i, _)| i)
        .collect();
    let (edges, virtual_nodes) = edges(cx, &nodes, ww_deps);
    let mut all: BTreeSet<usize> = nodes.iter().copied().collect();
    all.extend(virtual_nodes);
    let n = cx.ops.len();
    let mut out = Vec::new();
    // Ops of the components already reported: a real-time cycle among them
    // (one process's ops are in real-time order too) is not news.
    let mut reported: Vec<BTreeSet<usize>> = Vec::new();
    for (name, rels, needs) in LEVELS {
        for scc in components(&all, &edges, rels) {
            let inside: BTreeSet<usize> = scc.iter().copied().collect();
            let Some(cycle) = cycle_with(&inside, &edges, rels, needs) else {
                continue;
            };
            let real: BTreeSet<usize> = cycle.iter().copied().filter(|&x| x < n).collect();
            if rels & Rel::Realtime as u8 != 0 && reported.iter().any(|r| real.is_subset(r)) {
                continue;
            }
            reported.push(inside.into_iter().filter(|&x| x < n).collect());
            out.push((name, describe(cx, &cycle, &edges, rels)));
        }
    }
    out
}

/// The edges between committed ops, and the virtual nodes that carry the
/// real-time order: op A precedes op B when A completed before B was
/// invoked. Rather than an edge for every such pair, each completion
/// gets a node on a chain in completion order, and an op links from the
/// chain's node of the last completion before its invocation. Virtual
/// nodes are numbered from `cx.ops.len()`.
fn edges<'a>(cx: &'a Context<'_>, nodes: &[usize], ww_deps: bool) -> (Edges<'a>, Vec<usize>) {
    let n = cx.ops.len();
    let is_node: BTreeSet<usize> = nodes.iter().copied().collect();
    let mut edges: Edges<'a> = BTreeMap::new();
    let mut add = |a: usize, b: usize, rel: Rel, key: Option<&'a Atom>| {
        let known = |x: usize| x >= n || is_node.contains(&x);
        if a == b || !known(a) || !known(b) {
            return;
        }
        let link = edges.entry((a, b)).or_default();
        link.rels |= rel as u8;
        match rel {
            Rel::Ww => link.ww = link.ww.or(key),
            Rel::Wr => link.wr = link.wr.or(key),
            Rel::Process | Rel::Realtime => {}
        }
    };
    for &t in nodes {
        for (k, vs) in cx.ops[t].reads() {
            for v in vs {
                if let Some(&w) = cx.writer.get(&(k.clone(), v.clone())) {
                    add(w, t, Rel::Wr, Some(k));
                }
            }
        }
    }
    if ww_deps {
        for (k, order) in &cx.orders {
            for pair in order.by_index.windows(2) {
                let w = |v: &Atom| cx.writer.get(&(k.clone(), v.clone())).copied();
                if let (Some(a), Some(b)) = (w(&pair[0]), w(&pair[1])) {
                    add(a, b, Rel::Ww, Some(k));
                }
            }
        }
    }
    let mut last_of: BTreeMap<Option<&Atom>, usize> = BTreeMap::new();
    for &t in nodes {
        if let Some(prev) = last_of.insert(cx.ops[t].process.as_ref(), t) {
            add(prev, t, Rel::Process, None);
        }
    }
    // Real time. `nodes` are completions in history order; each one's
    // invocation is its process's last invoke before it.
    let mut invoked: BTreeMap<Option<&Atom>, usize> = BTreeMap::new();
    let mut invoke_of: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, op) in cx.ops.iter().enumerate() {
        match op.kind {
            Type::Invoke => {
                invoked.insert(op.process.as_ref(), i);
            }
            _ => {
                let start = invoked.remove(&op.process.as_ref()).unwrap_or(i);
                invoke_of.insert(i, start);
            }
        }
    }
    let chain: Vec<usize> = (0..nodes.len()).map(|j| n + j).collect();
    for (j, &t) in nodes.iter().enumerate() {
        add(t, chain[j], Rel::Realtime, None);
        if j + 1 < chain.len() {
            add(chain[j], chain[j + 1], Rel::Realtime, None);
        }
        // The last completion before this op's invocation.
        let start = invoke_of.get(&t).copied().unwrap_or(t);
        let before = nodes.partition_point(|&c| c < start);
        if before > 0 {
            add(chain[before - 1], t, Rel::Realtime, None);
        }
    }
    (edges, chain)
}

/// Successors of `v` over edges with a relation in `rels`, inside
/// `inside`.
fn successors<'e>(
    edges: &'e Edges<'_>,
    v: usize,
    rels: u8,
    inside: &'e BTreeSet<usize>,
) -> impl Iterator<Item = usize> + 'e {
    edges
        .range((v, 0)..=(v, usize::MAX))
        .filter(move |((_, w), l)| l.rels & rels != 0 && inside.contains(w))
        .map(|((_, w), _)| *w)
}

/// Strongly connected components of more than one node over the edges
/// with a relation in `rels` (Tarjan's algorithm, iteratively), each
/// sorted, in order of their least node.
fn components(nodes: &BTreeSet<usize>, edges: &Edges<'_>, rels: u8) -> Vec<Vec<usize>> {
    let mut index: BTreeMap<usize, (usize, usize)> = BTreeMap::new(); // node -> (index, lowlink)
    let mut on_stack = BTreeSet::new();
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    for &root in nodes {
        if index.contains_key(&root) {
            continue;
        }
        let succ = |v: usize| -> Vec<usize> { successors(edges, v, rels, nodes).collect() };
        let mut work: Vec<(usize, Vec<usize>, usize)> = vec![(root, succ(root), 0)];
        index.insert(root, (next, next));
        next += 1;
        stack.push(root);
        on_stack.insert(root);
        while let Some(top) = work.last_mut() {
            let v = top.0;
            if top.2 < top.1.len() {
                let w = top.1[top.2];
                top.2 += 1;
                match index.get(&w) {
                    None => {
                        index.insert(w, (next, next));
                        next += 1;
                        stack.push(w);
                        on_stack.insert(w);
                        work.push((w, succ(w), 0));
                    }
                    Some(&(wi, _)) if on_stack.contains(&w) => {
                        let e = index.get_mut(&v).expect("indexed");
                        e.1 = e.1.min(wi);
                    }
                    Some(_) => {}
                }
            } else {
                work.pop();
                let (vi, vl) = index[&v];
                if let Some(u) = work.last() {
                    let e = index.get_mut(&u.0).expect("indexed");
                    e.1 = e.1.min(vl);
                }
                if vi == vl {
                    let mut scc = Vec::new();
                    loop {
                        let w = stack.pop().expect("on the stack");
                        on_stack.remove(&w);
                        scc.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if scc.len() > 1 {
                        scc.sort_unstable();
                        out.push(scc);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// A cycle inside the component `inside` over relations `rels` that
/// contains an edge of each relation in `needs` (as far as one shortest
/// cycle through an edge of one of them shows), or `None`.
fn cycle_with(
    inside: &BTreeSet<usize>,
    edges: &Edges<'_>,
    rels: u8,
    needs: u8,
) -> Option<Vec<usize>> {
    for (&(a, b), link) in edges {
        let wanted = needs == 0 || link.rels & needs != 0;
        if !wanted || link.rels & rels == 0 || !inside.contains(&a) || !inside.contains(&b) {
            continue;
        }
        // b ... a, closed by the edge a -> b: a first.
        let Some(mut cycle) = path(inside, edges, rels, b, a) else {
            continue;
        };
        cycle.rotate_right(1);
        let mut have = 0u8;
        for (i, &x) in cycle.iter().enumerate() {
            let y = cycle[(i + 1) % cycle.len()];
            have |= edges[&(x, y)].rels & rels;
        }
        if have & needs == needs {
            return Some(cycle);
        }
    }
    None
}

/// A shortest path from `from` to `to` inside `inside` over `rels`,
/// both ends included.
fn path(
    inside: &BTreeSet<usize>,
    edges: &Edges<'_>,
    rels: u8,
    from: usize,
    to: usize,
) -> Option<Vec<usize>> {
    let mut prev: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = BTreeSet::from([from]);
    while let Some(v) = queue.pop_front() {
        if v == to {
            let mut p = vec![v];
            let mut at = v;
            while at != from {
                at = prev[&at];
                p.push(at);
            }
            p.reverse();
            return Some(p);
        }
        for w in successors(edges, v, rels, inside) {
            if seen.insert(w) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    None
}

fn describe(
    cx: &Context<'_>,
    cycle: &[usize],
    edges: &Edges<'_>,
    rels: u8,
) -> (String, Vec<usize>) {
    let n = cx.ops.len();
    // Start at a real op; a run of virtual nodes is one real-time step.
    let first = cycle.iter().position(|&x| x < n).unwrap_or(0);
    let order: Vec<usize> = cycle[first..]
        .iter()
        .chain(&cycle[..first])
        .copied()
        .collect();
    let mut s = String::from("cycle: ");
    let mut lines = Vec::new();
    for (i, &a) in order.iter().enumerate() {
        if a >= n {
            continue;
        }
        let b = order[(i + 1) % order.len()];
        let link = edges[&(a, b)];
        let on = link.rels & rels;
        let key = |k: Option<&Atom>| k.map_or_else(String::new, ToString::to_string);
        let step = if b >= n {
            "-realtime->".to_owned()
        } else if on & Rel::Ww as u8 != 0 {
            format!("-ww key {}->", key(link.ww))
        } else if on & Rel::Wr as u8 != 0 {
            format!("-wr key {}->", key(link.wr))
        } else {
            "-process->".to_owned()
        };
        s.push_str(&format!("line {} {step} ", cx.ops[a].line));
        lines.push(cx.ops[a].line);
    }
    s.push_str(&format!("line {}", cx.ops[order[0]].line));
    (s, lines)
}
