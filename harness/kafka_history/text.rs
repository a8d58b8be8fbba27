//! The summary `faultline check` prints.

use std::fmt::Write;

use super::analysis::{Analysis, Mode};

/// The plain-text summary of an analysis of the history at `path`.
pub fn summary(path: &str, a: &Analysis) -> String {
    let mut s = String::new();
    let mode = match a.mode {
        Mode::Assign => "assign",
        Mode::Subscribe => "subscribe",
    };
    let _ = writeln!(
        s,
        "checked {path}: {} operations, {mode} mode{}",
        a.ops,
        if a.ww_deps {
            ", ww edges from offset order"
        } else {
            ""
        }
    );
    if a.anomalies.is_empty() {
        let _ = writeln!(s, "no anomalies");
    }
    for an in &a.anomalies {
        let _ = writeln!(
            s,
            "{}  {:<22} {:>6} {}",
            if an.tolerated { "  ok" } else { "FAIL" },
            an.name,
            an.count,
            if an.count == 1 { "case" } else { "cases" },
        );
        for c in an.cases.iter().take(3) {
            let _ = writeln!(s, "        {}", c.explanation);
        }
        if an.count > 3 {
            let _ = writeln!(s, "        ... and {} more in result.json", an.count - 3);
        }
        if let Some(why) = super::analysis::tolerance(an.name, a.mode, a.ww_deps) {
            let _ = writeln!(s, "        (tolerated: {why})");
        }
    }
    let t = &a.totals;
    let _ = writeln!(
        s,
        "queue totals: attempted {}, acknowledged {}, ok {}, lost {}, duplicated {}, unexpected {}, recovered {}",
        t.attempted, t.acknowledged, t.ok, t.lost, t.duplicated, t.unexpected, t.recovered
    );
    let _ = writeln!(
        s,
        "{}",
        if a.valid {
            "valid: no anomaly the rules do not tolerate"
        } else {
            "INVALID: the history shows anomalies the rules do not tolerate"
        }
    );
    s
}
