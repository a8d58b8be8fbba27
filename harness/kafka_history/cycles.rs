//! G0 and G1c: cycles in the dependency graph between committed
//! operations.
//!
//! Edges, as the Kafka workload draws them: *wr* from the op that sent a
//! key's value to each op whose last read of that key was that value;
//! *ww* (only when asked, since offset order need not be commit order)
//! from the sender of each value to the sender of the next value in the
//! key's version order. A cycle of ww edges alone is G0; one with a wr
//! edge is G1c.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::analysis::Context;
use super::{Atom, F, Type};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rel {
    Ww,
    Wr,
}

/// Each cycle found: its anomaly name, a sentence and its lines.
pub(super) fn find(cx: &Context<'_>, ww_deps: bool) -> Vec<(&'static str, (String, Vec<usize>))> {
    let nodes: BTreeSet<usize> = cx
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o.f, F::Send | F::Poll | F::Txn) && o.kind != Type::Invoke)
        .filter(|(_, o)| cx.committed(o))
        .map(|(i, _)| i)
        .collect();
    // (from, to) -> the first (relation, key) that links them.
    let mut edges: BTreeMap<(usize, usize), (Rel, &Atom)> = BTreeMap::new();
    for &t in &nodes {
        for (k, vs) in cx.ops[t].reads() {
            let Some(v) = vs.last() else { continue };
            if let Some(&w) = cx.writer.get(&(k.clone(), (*v).clone()))
                && w != t
                && nodes.contains(&w)
            {
                edges.entry((w, t)).or_insert((Rel::Wr, k));
            }
        }
    }
    if ww_deps {
        for (k, order) in &cx.orders {
            for pair in order.by_index.windows(2) {
                let w = |v: &Atom| cx.writer.get(&(k.clone(), v.clone())).copied();
                if let (Some(a), Some(b)) = (w(&pair[0]), w(&pair[1]))
                    && a != b
                    && nodes.contains(&a)
                    && nodes.contains(&b)
                {
                    let e = edges.entry((a, b)).or_insert((Rel::Ww, k));
                    // Prefer ww, so ww-only cycles are found as G0.
                    if e.0 == Rel::Wr {
                        *e = (Rel::Ww, k);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for scc in components(&nodes, &edges, |_| true) {
        // A cycle of ww edges alone inside this component is G0.
        let ww_sccs = components(&scc.iter().copied().collect(), &edges, |r| r == Rel::Ww);
        if let Some(ww) = ww_sccs.first() {
            let cycle = cycle_through(ww, &edges, |r| r == Rel::Ww);
            out.push(("G0", describe(cx, &cycle, &edges)));
        } else {
            let cycle = cycle_through(&scc, &edges, |_| true);
            out.push(("G1c", describe(cx, &cycle, &edges)));
        }
    }
    out
}

/// Strongly connected components of more than one node over the edges
/// whose relation passes `keep` (Tarjan's algorithm, iteratively), each
/// sorted, in order of their least node.
fn components(
    nodes: &BTreeSet<usize>,
    edges: &BTreeMap<(usize, usize), (Rel, &Atom)>,
    keep: impl Fn(Rel) -> bool,
) -> Vec<Vec<usize>> {
    let mut succ: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (&(a, b), &(r, _)) in edges {
        if keep(r) && nodes.contains(&a) && nodes.contains(&b) {
            succ.entry(a).or_default().push(b);
        }
    }
    let mut index: BTreeMap<usize, (usize, usize)> = BTreeMap::new(); // node -> (index, lowlink)
    let mut on_stack = BTreeSet::new();
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    let empty = Vec::new();
    for &root in nodes {
        if index.contains_key(&root) {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index.insert(root, (next, next));
        next += 1;
        stack.push(root);
        on_stack.insert(root);
        while let Some(top) = work.last_mut() {
            let (v, i) = *top;
            let next_of = succ.get(&v).unwrap_or(&empty);
            if i < next_of.len() {
                let w = next_of[i];
                top.1 += 1;
                match index.get(&w) {
                    None => {
                        index.insert(w, (next, next));
                        next += 1;
                        stack.push(w);
                        on_stack.insert(w);
                        work.push((w, 0));
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
                if let Some(&(u, _)) = work.last() {
                    let e = index.get_mut(&u).expect("indexed");
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

/// A shortest cycle through the least node of `scc`, over edges inside it
/// whose relation passes `keep`.
fn cycle_through(
    scc: &[usize],
    edges: &BTreeMap<(usize, usize), (Rel, &Atom)>,
    keep: impl Fn(Rel) -> bool,
) -> Vec<usize> {
    let inside: BTreeSet<usize> = scc.iter().copied().collect();
    let start = scc[0];
    let mut prev: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for (&(_, w), &(r, _)) in edges.range((v, 0)..=(v, usize::MAX)) {
            if !keep(r) || !inside.contains(&w) {
                continue;
            }
            if w == start {
                let mut path = vec![v];
                let mut at = v;
                while at != start {
                    at = prev[&at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = prev.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    scc.to_vec()
}

fn describe(
    cx: &Context<'_>,
    cycle: &[usize],
    edges: &BTreeMap<(usize, usize), (Rel, &Atom)>,
) -> (String, Vec<usize>) {
    let mut s = String::from("cycle: ");
    for (i, &a) in cycle.iter().enumerate() {
        let b = cycle[(i + 1) % cycle.len()];
        let (rel, key) = edges.get(&(a, b)).map_or(("?", None), |&(r, k)| {
            (if r == Rel::Ww { "ww" } else { "wr" }, Some(k))
        });
        s.push_str(&format!("line {} -{rel}", cx.ops[a].line));
        if let Some(k) = key {
            s.push_str(&format!(" key {k}"));
        }
        s.push_str("-> ");
    }
    s.push_str(&format!("line {}", cx.ops[cycle[0]].line));
    (s, cycle.iter().map(|&i| cx.ops[i].line).collect())
}
