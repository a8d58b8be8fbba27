//! The console summary of a run.

use std::fmt::Write;

use super::result::ResultFile;

/// A few lines on a run: verdict, each expectation, and the findings that
/// broke an expectation. With `detail`, the first finding of every violated
/// invariant is told in full, expected or not (what a workshop wants to
/// see).
pub fn summary(r: &ResultFile, out_dir: &str, detail: bool) -> String {
    let mut s = String::new();
    let verdict = if r.verdict == "pass" { "PASS" } else { "FAIL" };
    let _ = writeln!(
        s,
        "{verdict}  {} (seed {})  [{}]",
        r.scenario.path, r.seed, r.scenario.name
    );
    let _ = writeln!(
        s,
        "      {} events, {} virtual, stopped: {}",
        r.stats.history_events,
        faultline_models::SimTime(r.stats.end_us),
        r.stats.stop
    );
    for e in &r.expectations {
        if e.expect == "allow" && e.violations == 0 {
            continue;
        }
        let mark = if e.met { "ok  " } else { "MISS" };
        let outcome = if e.violations > 0 {
            format!("violated ({})", e.violations)
        } else {
            "held".to_owned()
        };
        let _ = writeln!(
            s,
            "      {mark} {:<14} {:<14} expected: {}",
            e.invariant, outcome, e.expect
        );
    }
    for i in r.info.iter().filter(|i| i.kind == "fault-not-fired") {
        let _ = writeln!(s, "      warning: {}", i.summary);
    }
    if detail {
        for e in r.expectations.iter().filter(|e| e.met && e.violations > 0) {
            if let Some(f) = r.findings.iter().find(|f| f.invariant == e.invariant) {
                let _ = writeln!(s, "      {} (as expected): {}", e.invariant, f.summary);
                for line in &f.explanation {
                    let _ = writeln!(s, "          {line}");
                }
            }
        }
    }
    if r.verdict != "pass" {
        for e in r.expectations.iter().filter(|e| !e.met) {
            if e.violations == 0 {
                let _ = writeln!(
                    s,
                    "      expected {} to be violated, but it held: the failure this scenario demonstrates did not happen",
                    e.invariant
                );
            }
            for f in r
                .findings
                .iter()
                .filter(|f| f.invariant == e.invariant)
                .take(3)
            {
                let _ = writeln!(s, "      - {}", f.summary);
                for line in &f.explanation {
                    let _ = writeln!(s, "          {line}");
                }
            }
        }
        let _ = writeln!(s, "      reproduce: {}", r.replay);
    }
    let _ = writeln!(s, "      report: {out_dir}/report.html");
    s
}
