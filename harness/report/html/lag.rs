//! Consumer lag per partition over time, as an SVG line chart.
//!
//! A group's lag on a partition is the partition's log end offset (one past
//! the highest offset appended) minus the group's committed offset there:
//! how many records a restart of the group would have to read. Both are
//! taken from the history, so the chart shows what the run did, not what a
//! model believed. Each series is reduced to one point per pixel column
//! (the highest lag in it), so a run of any length draws in constant size.

use std::fmt::Write;

use faultline_models::event::EventKind;

use super::escape;
use crate::history::Names;

const W: usize = 720;
const H: usize = 200;
const LEFT: usize = 48;
const TOP: usize = 12;
const BOTTOM: usize = 28;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

/// One group's lag on one partition, sampled per pixel column.
struct Series {
    label: String,
    /// Highest and last lag in each column (`None`: no change there).
    max: Vec<Option<(u64, u64)>>,
    lag: u64,
}

/// The chart, or `None` when the run has no consumer group.
pub fn svg(names: &Names<'_>, end_us: u64, healed_us: Option<u64>) -> Option<String> {
    let layout = names.layout;
    // (group, partition) → series index.
    let mut index: Vec<Vec<Option<usize>>> = Vec::new();
    let mut series: Vec<Series> = Vec::new();
    for g in &layout.groups {
        let mut row = vec![None; layout.partitions.len()];
        for (p, meta) in layout.partitions.iter().enumerate() {
            if meta.topic == g.topic {
                row[p] = Some(series.len());
                series.push(Series {
                    label: if layout.groups.len() > 1 {
                        format!("{} {}", g.name, meta.name)
                    } else {
                        meta.name.clone()
                    },
                    max: vec![None; W],
                    lag: 0,
                });
            }
        }
        index.push(row);
    }
    if series.is_empty() {
        return None;
    }
    let span = end_us.max(1);
    let column = |t: u64| ((u128::from(t) * (W as u128 - 1)) / u128::from(span)) as usize;
    let mut leo = vec![0u64; layout.partitions.len()];
    let mut committed = vec![vec![0u64; layout.partitions.len()]; layout.groups.len()];
    let note = |s: &mut Series, lag: u64, t: u64| {
        s.lag = lag;
        let c = column(t).min(W - 1);
        s.max[c] = Some(s.max[c].map_or((lag, lag), |(m, _)| (m.max(lag), lag)));
    };
    for e in &names.history.events {
        let t = e.time.as_us();
        match e.kind {
            EventKind::Appended {
                partition, offset, ..
            } => {
                let p = partition.index();
                if p >= leo.len() || offset < leo[p] {
                    continue;
                }
                leo[p] = offset + 1;
                for (g, row) in index.iter().enumerate() {
                    if let Some(k) = row[p] {
                        let lag = leo[p].saturating_sub(committed[g][p]);
                        note(&mut series[k], lag, t);
                    }
                }
            }
            EventKind::Truncated {
                partition, offset, ..
            } => {
                // A replica's log end moved back; the partition's log end
                // is its leader's, which the next append re-establishes.
                let p = partition.index();
                if p < leo.len() && offset < leo[p] {
                    leo[p] = offset;
                }
            }
            EventKind::CommitAccepted {
                group,
                partition,
                offset,
                ..
            } => {
                let (g, p) = (group.index(), partition.index());
                let Some(Some(k)) = index.get(g).and_then(|r| r.get(p)) else {
                    continue;
                };
                committed[g][p] = offset;
                let lag = leo[p].saturating_sub(offset);
                note(&mut series[*k], lag, t);
            }
            _ => {}
        }
    }
    let top = series
        .iter()
        .flat_map(|s| s.max.iter().flatten())
        .map(|&(m, _)| m)
        .max()
        .unwrap_or(0)
        .max(1);
    let width = LEFT + W + 160;
    let height = (TOP + H + BOTTOM).max(TOP + 16 * series.len() + 8);
    let ys = |lag: u64| TOP + H - ((u128::from(lag) * H as u128) / u128::from(top)) as usize;
    let mut s = String::with_capacity(8 * 1024);
    let _ = write!(
        s,
        r#"<svg class="lag" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="consumer lag per partition">"#
    );
    if let Some(h) = healed_us {
        let x = LEFT + column(h.min(span));
        let _ = write!(
            s,
            r#"<rect class="window" x="{LEFT}" y="{TOP}" width="{}" height="{H}"><title>fault window: 0ms to {}</title></rect>"#,
            x - LEFT,
            faultline_models::SimTime::from_us(h)
        );
    }
    let _ = write!(
        s,
        r#"<g class="axes"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{0}"/><line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}"/><text x="{2}" y="{3}" text-anchor="end">{top}</text><text x="{2}" y="{0}" text-anchor="end">0</text><text x="{LEFT}" y="{4}">0ms</text><text x="{1}" y="{4}" text-anchor="end">{5}</text><text x="{6}" y="{4}" text-anchor="middle">virtual time</text></g>"#,
        TOP + H,
        LEFT + W,
        LEFT - 6,
        TOP + 10,
        TOP + H + 18,
        faultline_models::SimTime::from_us(end_us),
        LEFT + W / 2,
    );
    for (k, se) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let mut points = String::new();
        let mut last = 0u64;
        for (c, m) in se.max.iter().enumerate() {
            if let Some((high, end)) = *m {
                // A step: hold the previous value up to this column, rise
                // to its highest, and leave it at its last.
                for v in [last, high, end] {
                    let _ = write!(points, "{},{} ", LEFT + c, ys(v));
                }
                last = end;
            }
        }
        let _ = write!(points, "{},{}", LEFT + W - 1, ys(last));
        let _ = write!(
            s,
            r#"<polyline class="series" stroke="{colour}" points="{points}"><title>{}: lag at the end {}</title></polyline>"#,
            escape(&se.label),
            se.lag
        );
        let ly = TOP + 10 + k * 16;
        let _ = write!(
            s,
            r#"<g class="key"><line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="{colour}"/><text x="{3}" y="{4}">{5}</text></g>"#,
            LEFT + W + 12,
            ly,
            LEFT + W + 30,
            LEFT + W + 36,
            ly + 4,
            escape(&se.label)
        );
    }
    s.push_str("</svg>");
    Some(s)
}
