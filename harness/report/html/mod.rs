//! `report.html`: one self-contained page per run that works offline.
//!
//! - [`select`]: which events the diagram draws (all of a short run; the
//!   witnesses and their surroundings in a long one).
//! - [`diagram`]: the space-time diagram as SVG.
//! - [`lag`]: consumer lag per partition over time as SVG.
//! - [`index`]: the index page of a directory run.
//!
//! The page itself is a minijinja template (`report.html.j2`) with its
//! styles and a few lines of script inline. Everything on it comes from the
//! run and the result, so the same run gives the same bytes.

pub mod diagram;
pub mod index;
pub mod lag;
pub mod select;

use std::borrow::Cow;
use std::collections::BTreeSet;

use minijinja::Environment;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use serde::Serialize;

use crate::explore::coverage::{Coverage, FaultKind, enabled};
use crate::faults::FaultPlan;
use crate::report::result::{Expectation, InfoOut, ResultFile};
use crate::run::Simulation;

const TEMPLATE: &str = include_str!("report.html.j2");

/// Escapes text for HTML and SVG (element content and quoted attributes).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A file written next to the report, linked from it.
#[derive(Clone, Debug, Serialize)]
pub struct Link {
    /// Relative address, escaped for an HTML attribute.
    pub href: String,
    /// What it is.
    pub label: String,
}

/// What a report is made from.
pub struct ReportInput<'a> {
    /// The run's result, as written to `result.json`.
    pub result: &'a ResultFile,
    /// The scenario's one-line description.
    pub description: &'a str,
    /// The simulation (history, layout, partition sides).
    pub sim: &'a Simulation,
    /// The faults the run was given.
    pub plan: &'a FaultPlan,
    /// Files next to the report.
    pub links: Vec<Link>,
}

#[derive(Serialize)]
struct WitnessView {
    i: usize,
    time: String,
    text: String,
    /// Drawn in the diagram (so `#ev-i` resolves).
    drawn: bool,
}

#[derive(Serialize)]
struct FindingView<'a> {
    n: usize,
    summary: &'a str,
    /// The explanation's sentences that are not witness events.
    why: Vec<&'a str>,
    witness: Vec<WitnessView>,
    centred: bool,
}

/// The findings of one invariant: the first told in full, the rest folded.
#[derive(Serialize)]
struct FindingGroup<'a> {
    invariant: &'a str,
    /// The scenario expected this invariant to be violated.
    expected: bool,
    findings: Vec<FindingView<'a>>,
}

#[derive(Serialize)]
struct CoverageRow {
    kind: &'static str,
    enabled: bool,
    fired: u32,
}

#[derive(Serialize)]
struct Page<'a> {
    title: String,
    verdict: &'a str,
    name: &'a str,
    description: &'a str,
    path: &'a str,
    seed: u64,
    swarm: bool,
    replay: &'a str,
    version: &'a str,
    digest: &'a str,
    expectations: &'a [Expectation],
    groups: Vec<FindingGroup<'a>>,
    findings: usize,
    findings_centred: usize,
    info: &'a [InfoOut],
    stop: &'a str,
    history_events: usize,
    messages: u64,
    end: String,
    healed: Option<String>,
    coverage: Vec<CoverageRow>,
    diagram: String,
    drawn: usize,
    left_out: usize,
    lag: Option<String>,
    links: Vec<Link>,
}

/// Renders `report.html`.
pub fn render(input: &ReportInput<'_>) -> String {
    let r = input.result;
    let names = input.sim.names();
    let events = &input.sim.history.events;
    let witnesses: Vec<Vec<usize>> = r
        .findings
        .iter()
        .map(|f| f.witness.iter().map(|w| w.i).collect())
        .collect();
    let mut by_event = diagram::Witnesses::new();
    for (f, ws) in witnesses.iter().enumerate() {
        for &i in ws {
            let list = by_event.entry(i).or_default();
            if list.last() != Some(&f) {
                list.push(f);
            }
        }
    }
    let sel = select::select(events, &witnesses, &|k| diagram::node_of(k, &names));
    let drawn: BTreeSet<usize> = sel.events.iter().copied().collect();
    let violate: BTreeSet<&str> = r
        .expectations
        .iter()
        .filter(|e| e.expect == "violate" || e.expect == "allow")
        .map(|e| e.invariant.as_str())
        .collect();
    let mut groups: Vec<FindingGroup<'_>> = Vec::new();
    for (n, f) in r.findings.iter().enumerate() {
        let witness: Vec<WitnessView> = f
            .witness
            .iter()
            .map(|w| WitnessView {
                i: w.i,
                time: faultline_models::SimTime::from_us(w.t_us).to_string(),
                text: w.text.clone(),
                drawn: drawn.contains(&w.i),
            })
            .collect();
        let view = FindingView {
            n,
            summary: &f.summary,
            why: f.why(),
            witness,
            centred: n < sel.findings_centred,
        };
        match groups.iter_mut().find(|g| g.invariant == f.invariant) {
            Some(g) => g.findings.push(view),
            None => groups.push(FindingGroup {
                invariant: &f.invariant,
                expected: violate.contains(f.invariant.as_str()),
                findings: vec![view],
            }),
        }
    }
    let brokers = &names.layout.brokers;
    let consumers: Vec<faultline_models::NodeId> =
        names.layout.consumers.iter().map(|c| c.0).collect();
    let on = enabled(input.plan, (brokers, &consumers));
    let fired = Coverage::of(&input.sim.history, (brokers, &consumers));
    // Producers crash only in a few scenarios: their row shows there.
    let coverage = FaultKind::ALL
        .iter()
        .filter(|&&k| k != FaultKind::ProducerCrash || on.contains(&k) || fired.get(k) > 0)
        .map(|&k| CoverageRow {
            kind: k.name(),
            enabled: on.contains(&k),
            fired: fired.get(k),
        })
        .collect();
    let page = Page {
        title: format!(
            "{} {} (seed {})",
            r.verdict.to_uppercase(),
            r.scenario.name,
            r.seed
        ),
        verdict: &r.verdict,
        name: &r.scenario.name,
        description: input.description,
        path: &r.scenario.path,
        seed: r.seed,
        swarm: r.swarm,
        replay: &r.replay,
        version: &r.faultline_version,
        digest: &r.history_digest,
        expectations: &r.expectations,
        groups,
        findings: r.findings.len(),
        findings_centred: sel.findings_centred,
        info: &r.info,
        stop: &r.stats.stop,
        history_events: r.stats.history_events,
        messages: r.stats.messages,
        end: faultline_models::SimTime::from_us(r.stats.end_us).to_string(),
        healed: r
            .stats
            .healed_at_us
            .map(|t| faultline_models::SimTime::from_us(t).to_string()),
        coverage,
        diagram: diagram::svg(&sel, &names, &by_event),
        drawn: sel.events.len(),
        left_out: sel.left_out,
        lag: lag::svg(&names, r.stats.end_us, r.stats.healed_at_us),
        links: input.links.clone(),
    };
    render_template("report.html", TEMPLATE, &page)
}

/// Renders one of the report templates (`name` ends in `.html`, so values
/// are escaped). The templates are part of the binary; a failure to parse
/// or render one is a harness bug, shown on the page rather than by a
/// panic.
pub(crate) fn render_template(name: &str, template: &str, ctx: &impl Serialize) -> String {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder().keep_trailing_newline(true).build();
    let rendered = syntax.and_then(|syntax| {
        env.set_syntax(syntax);
        env.add_template(name, template)?;
        env.get_template(name)?.render(Value::from(Serde(ctx)))
    });
    match rendered {
        Ok(html) => html,
        Err(e) => format!(
            "<!doctype html><meta charset=\"utf-8\"><title>{name}: error</title><p>faultline could not render this page: {}</p>\n",
            escape(&e.to_string())
        ),
    }
}

/// The usual links: the files `faultline run` writes next to a report.
pub fn run_links() -> Vec<Link> {
    [
        ("result.json", "result.json: the verdict and findings"),
        ("history.jsonl", "history.jsonl: every event of the run"),
        ("summary.md", "summary.md"),
        ("junit.xml", "junit.xml"),
    ]
    .into_iter()
    .map(|(href, label)| Link {
        href: href.to_owned(),
        label: label.to_owned(),
    })
    .collect()
}
