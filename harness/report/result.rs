//! `result.json`.

use serde::{Deserialize, Serialize};

use crate::checkers::{Finding, Info};
use crate::history::Names;
use crate::history::describe::what;
use crate::run::Run;
use crate::scenario::Loaded;

/// Version of the `result.json` format.
pub const SCHEMA_VERSION: u32 = 1;

/// The scenario a result came from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScenarioRef {
    /// Its name.
    pub name: String,
    /// The path it was read from.
    pub path: String,
    /// SHA-256 of its text.
    pub digest: String,
}

/// One expectation's outcome.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Expectation {
    /// The invariant.
    pub invariant: String,
    /// `hold`, `violate` or `allow`.
    pub expect: String,
    /// `held` or `violated`.
    pub outcome: String,
    /// Number of violations.
    pub violations: usize,
    /// Whether the expectation was met.
    pub met: bool,
}

/// One witness event.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WitnessEvent {
    /// Index in `history.jsonl`.
    pub i: usize,
    /// Virtual time in microseconds.
    pub t_us: u64,
    /// The event as a sentence.
    pub text: String,
}

/// One finding.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FindingOut {
    /// The violated invariant.
    pub invariant: String,
    /// One sentence.
    pub summary: String,
    /// The chain of events, in sentences.
    pub explanation: Vec<String>,
    /// The witness events.
    pub witness: Vec<WitnessEvent>,
    /// The message concerned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub msg: Option<String>,
    /// The key concerned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key: Option<String>,
    /// The partition concerned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub partition: Option<String>,
    /// Offsets concerned.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub offsets: Vec<u64>,
    /// Nodes concerned.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub nodes: Vec<String>,
}

impl FindingOut {
    /// The explanation's sentences that do not just restate a witness event
    /// (the explanation tells the chain of events and then why).
    pub fn why(&self) -> Vec<&str> {
        let told: Vec<String> = self
            .witness
            .iter()
            .map(|w| format!("{}: {}", faultline_models::SimTime(w.t_us), w.text))
            .collect();
        self.explanation
            .iter()
            .filter(|l| !told.iter().any(|t| t == *l))
            .map(String::as_str)
            .collect()
    }
}

/// One information item.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InfoOut {
    /// Kind.
    pub kind: String,
    /// Count.
    pub count: u64,
    /// One sentence.
    pub summary: String,
    /// Example events.
    pub examples: Vec<WitnessEvent>,
}

/// How the run went.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// Why it stopped.
    pub stop: String,
    /// Engine items processed.
    pub events: u64,
    /// History events recorded.
    pub history_events: usize,
    /// Network messages sent.
    pub messages: u64,
    /// Virtual time at the end, in microseconds.
    pub end_us: u64,
    /// When the fault window closed, in microseconds.
    pub healed_at_us: Option<u64>,
}

/// `result.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultFile {
    /// Format version.
    pub schema_version: u32,
    /// The faultline version that produced it.
    pub faultline_version: String,
    /// The scenario.
    pub scenario: ScenarioRef,
    /// The scenario file's text, so the result replays on its own.
    pub scenario_source: String,
    /// The seed.
    pub seed: u64,
    /// Whether the run used the seed's swarm fault mix (as `explore`
    /// draws it) instead of the scenario's own chaos rates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub swarm: bool,
    /// `pass` or `fail`.
    pub verdict: String,
    /// Per invariant.
    pub expectations: Vec<Expectation>,
    /// Violations, with witnesses.
    pub findings: Vec<FindingOut>,
    /// Information that is not a violation.
    pub info: Vec<InfoOut>,
    /// How the run went.
    pub stats: Stats,
    /// SHA-256 of `history.jsonl`.
    pub history_digest: String,
    /// The command that reproduces this run.
    pub replay: String,
}

fn witness(names: &Names<'_>, idx: &[usize]) -> Vec<WitnessEvent> {
    idx.iter()
        .filter_map(|&i| names.history.events.get(i).map(|e| (i, e)))
        .map(|(i, e)| WitnessEvent {
            i,
            t_us: e.time.as_us(),
            text: what(&e.kind, names),
        })
        .collect()
}

fn finding_out(f: &Finding, names: &Names<'_>) -> FindingOut {
    FindingOut {
        invariant: f.invariant.name().to_owned(),
        summary: f.summary.clone(),
        explanation: f.explanation.clone(),
        witness: witness(names, &f.witness),
        msg: f.msg.map(|m| names.msg(m)),
        key: f.key.map(|k| names.key(k)),
        partition: f.partition.map(|p| names.partition(p)),
        offsets: f.offsets.clone(),
        nodes: f.nodes.iter().map(|n| names.node(*n)).collect(),
    }
}

fn info_out(i: &Info, names: &Names<'_>) -> InfoOut {
    InfoOut {
        kind: i.kind.to_owned(),
        count: i.count,
        summary: i.summary.clone(),
        examples: witness(names, &i.examples),
    }
}

/// The command that reproduces a run of `path` with `seed` (under the
/// seed's swarm fault mix when `swarm`).
pub fn replay_command(path: &str, seed: u64, swarm: bool) -> String {
    let quoted = if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
    {
        path.to_owned()
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    };
    let swarm = if swarm { " --swarm" } else { "" };
    format!("faultline run {quoted} --seed {seed}{swarm}")
}

/// Builds `result.json` for a run.
///
/// `swarm`: the run used its seed's swarm fault mix.
pub fn build_result(loaded: &Loaded, run: &Run, swarm: bool, history_digest: String) -> ResultFile {
    let names = run.sim.names();
    let path = loaded.path.display().to_string();
    ResultFile {
        schema_version: SCHEMA_VERSION,
        faultline_version: crate::VERSION.to_owned(),
        scenario: ScenarioRef {
            name: loaded.file.name.clone(),
            path: path.clone(),
            digest: loaded.digest.clone(),
        },
        scenario_source: loaded.source.clone(),
        seed: run.sim.seed,
        swarm,
        verdict: if run.verdict.pass { "pass" } else { "fail" }.to_owned(),
        expectations: run
            .verdict
            .judgements
            .iter()
            .map(|j| Expectation {
                invariant: j.invariant.name().to_owned(),
                expect: j.expect.name().to_owned(),
                outcome: if j.violations > 0 { "violated" } else { "held" }.to_owned(),
                violations: j.violations,
                met: j.met,
            })
            .collect(),
        findings: run
            .checked
            .findings
            .iter()
            .map(|f| finding_out(f, &names))
            .collect(),
        info: run
            .checked
            .info
            .iter()
            .map(|i| info_out(i, &names))
            .collect(),
        stats: Stats {
            stop: run.sim.stats.stop.name().to_owned(),
            events: run.sim.stats.events,
            history_events: run.sim.history.events.len(),
            messages: run.sim.stats.messages,
            end_us: run.sim.stats.end.as_us(),
            healed_at_us: run.sim.stats.healed_at.map(|t| t.as_us()),
        },
        history_digest,
        replay: replay_command(&path, run.sim.seed, swarm),
    }
}
