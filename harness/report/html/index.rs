//! `index.html` of a directory run: every scenario with its verdict and a
//! link to its report.

use serde::Serialize;

const TEMPLATE: &str = include_str!("index.html.j2");

/// One scenario on the index.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// `pass`, `fail` or `invalid`.
    pub verdict: String,
    /// The scenario's name (its path when it could not be loaded).
    pub name: String,
    /// The scenario file.
    pub path: String,
    /// Its one-line description, or the error that kept it from running.
    pub description: String,
    /// The seed it ran with (empty when it did not run).
    pub seed: String,
    /// Invariants whose expectation was not met.
    pub unmet: Vec<String>,
    /// Its report, relative to the index (empty when it did not run),
    /// escaped for an HTML attribute.
    pub report: String,
}

#[derive(Serialize)]
struct Page<'a> {
    root: &'a str,
    total: usize,
    passed: usize,
    failed: usize,
    invalid: usize,
    entries: &'a [Entry],
}

/// Renders the index of the scenarios run under `root`.
pub fn render(root: &str, entries: &[Entry]) -> String {
    let count = |v: &str| entries.iter().filter(|e| e.verdict == v).count();
    let page = Page {
        root,
        total: entries.len(),
        passed: count("pass"),
        failed: count("fail"),
        invalid: count("invalid"),
        entries,
    };
    super::render_template("index.html", TEMPLATE, &page)
}
