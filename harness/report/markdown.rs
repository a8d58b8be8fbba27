//! `summary.md`: the verdict in Markdown, for a pull request comment or a
//! CI job summary (`cat summary.md >> "$GITHUB_STEP_SUMMARY"`).

use std::fmt::Write;

use super::result::ResultFile;

/// Findings of one invariant told in full, at most; the rest are counted.
const FINDINGS_SHOWN: usize = 3;

/// Markdown-safe text for a table cell or a line.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The summary of one run.
pub fn run_summary(r: &ResultFile, description: &str) -> String {
    let mut s = String::new();
    let verdict = r.verdict.to_uppercase();
    let _ = writeln!(
        s,
        "# {verdict}: {} (seed {})\n",
        cell(&r.scenario.name),
        r.seed
    );
    if !description.is_empty() {
        let _ = writeln!(s, "> {}\n", cell(description));
    }
    let _ = writeln!(
        s,
        "Scenario `{}`, {} events, {} of virtual time, stopped: {}.\n",
        r.scenario.path,
        r.stats.history_events,
        faultline_models::SimTime::from_us(r.stats.end_us),
        r.stats.stop
    );
    let _ = writeln!(s, "Reproduce: `{}`\n", r.replay);
    s.push_str("| invariant | expected | outcome | |\n|---|---|---|---|\n");
    for e in &r.expectations {
        let outcome = if e.violations > 0 {
            format!("violated ({})", e.violations)
        } else {
            "held".to_owned()
        };
        let mark = if e.met { "met" } else { "**NOT MET**" };
        let _ = writeln!(
            s,
            "| `{}` | {} | {outcome} | {mark} |",
            e.invariant, e.expect
        );
    }
    if !r.findings.is_empty() {
        s.push_str("\n## Findings\n");
    }
    for e in r.expectations.iter().filter(|e| e.violations > 0) {
        let of: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.invariant == e.invariant)
            .collect();
        let expected = if e.expect == "hold" {
            ""
        } else {
            " (expected)"
        };
        let _ = writeln!(s, "\n### `{}`{expected}\n", e.invariant);
        for f in of.iter().take(FINDINGS_SHOWN) {
            let _ = writeln!(s, "- {}", cell(&f.summary));
            for line in f.why() {
                let _ = writeln!(s, "  {}", cell(line));
            }
            for w in &f.witness {
                let _ = writeln!(
                    s,
                    "  - `{}` {}",
                    faultline_models::SimTime::from_us(w.t_us),
                    cell(&w.text)
                );
            }
        }
        if of.len() > FINDINGS_SHOWN {
            let _ = writeln!(
                s,
                "- … and {} more in `result.json`",
                of.len() - FINDINGS_SHOWN
            );
        }
    }
    s.push_str("\nFiles: [report.html](report.html) · [result.json](result.json) · [history.jsonl](history.jsonl) · [junit.xml](junit.xml)\n");
    s
}

/// One line of a suite summary.
pub struct SuiteLine<'a> {
    /// The scenario file.
    pub path: &'a str,
    /// Its result (`None`: it could not be loaded).
    pub result: Option<&'a ResultFile>,
    /// The error when it could not.
    pub error: Option<&'a str>,
    /// Its report, relative to the summary.
    pub report: String,
}

/// The summary of a directory of scenarios.
pub fn suite_summary(root: &str, lines: &[SuiteLine<'_>]) -> String {
    let passed = lines
        .iter()
        .filter(|l| l.result.is_some_and(|r| r.verdict == "pass"))
        .count();
    let invalid = lines.iter().filter(|l| l.result.is_none()).count();
    let failed = lines.len() - passed - invalid;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# faultline: {} scenario{} under `{root}`\n\n{passed} passed, {failed} failed, {invalid} invalid.\n",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" }
    );
    s.push_str("| verdict | scenario | seed | not met | report |\n|---|---|---|---|---|\n");
    for l in lines {
        match (l.result, l.error) {
            (Some(r), _) => {
                let unmet: Vec<&str> = r
                    .expectations
                    .iter()
                    .filter(|e| !e.met)
                    .map(|e| e.invariant.as_str())
                    .collect();
                let _ = writeln!(
                    s,
                    "| {} | `{}` | {} | {} | [report]({}/report.html) |",
                    if r.verdict == "pass" {
                        "PASS"
                    } else {
                        "**FAIL**"
                    },
                    l.path,
                    r.seed,
                    unmet.join(", "),
                    l.report
                );
            }
            (None, e) => {
                let _ = writeln!(
                    s,
                    "| **INVALID** | `{}` | | {} | |",
                    l.path,
                    cell(e.unwrap_or("").lines().next().unwrap_or(""))
                );
            }
        }
    }
    s
}
