//! The shrinker: from a failing `(scenario, seed)` to a minimal scenario
//! that still violates the same invariant.
//!
//! 1. The run's faults, whatever produced them (the timeline, the chaos
//!    mix, a swarm draw), are read back from its history and written as an
//!    explicit timeline, to the microsecond; chaos is switched off. The
//!    scenario now injects exactly what the run injected.
//! 2. Delta debugging (Zeller's ddmin) removes faults while the invariant
//!    stays violated.
//! 3. The workload and topology shrink the same way: fewer records, keys,
//!    partitions, group members, producers and brokers; the fault window
//!    ends right after the last fault.
//!
//! Every step is a re-run with the same seed, so shrinking is
//! deterministic. The result is a standalone scenario file with a fixed
//! seed; `faultline run` on it reproduces the violation.

use faultline_models::event::{DropCause, EventKind};
use faultline_models::{NodeId, SimTime};

use crate::checkers::Invariant;
use crate::explore::plan_for;
use crate::faults::FaultPlan;
use crate::history::jsonl::point_name;
use crate::registry::Registry;
use crate::run::{Run, run_with};
use crate::scenario::schema::{ChaosFile, ExpectFile, LinkFile, ScenarioFile, TimelineFile};
use crate::scenario::values::Millis;
use crate::setup::Setup;

/// Why a run could not be shrunk.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShrinkError {
    /// The scenario file does not set up (it was valid when recorded?).
    #[error("the scenario is not valid: {0}")]
    Invalid(String),
    /// The run violates no invariant it is asked to preserve.
    #[error("seed {seed} {}: nothing to shrink", .target.map_or("violates no invariant".to_owned(), |t| format!("does not violate {}", t.name())))]
    NothingToShrink {
        /// The seed.
        seed: u64,
        /// The invariant asked for.
        target: Option<Invariant>,
    },
    /// Written as an explicit timeline, the run's faults no longer produce
    /// the violation (the run depended on something the timeline cannot
    /// express).
    #[error(
        "the faults of seed {0}, written as an explicit timeline, no longer reproduce the violation"
    )]
    NotReproducible(u64),
}

/// A shrunk scenario and what shrinking removed.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The invariant the scenario still violates.
    pub invariant: Invariant,
    /// The seed.
    pub seed: u64,
    /// The minimal scenario.
    pub file: ScenarioFile,
    /// Faults injected by the original run.
    pub faults_before: usize,
    /// Faults left.
    pub faults_after: usize,
    /// `(what, before, after)` for each shrunk dimension.
    pub dimensions: Vec<(&'static str, u64, u64)>,
    /// Runs made while shrinking.
    pub runs: usize,
}

impl Shrunk {
    /// The scenario file's text, with a header saying where it came from.
    pub fn to_toml(&self, origin: &str) -> String {
        let mut file = self.file.clone();
        file.description = format!(
            "Shrunk from {origin} seed {}: the faults below still violate {}.\n{}",
            self.seed,
            self.invariant.name(),
            file.description
        );
        let mut head = format!(
            "# Shrunk by faultline {} from {origin} seed {}.\n# It violates {}; faults {} -> {}",
            crate::VERSION,
            self.seed,
            self.invariant.name(),
            self.faults_before,
            self.faults_after
        );
        for (what, before, after) in &self.dimensions {
            if before != after {
                head.push_str(&format!(", {what} {before} -> {after}"));
            }
        }
        head.push_str(&format!(
            ".\n# Reproduce: faultline run <this file>{}\n\n{}",
            if self.file.expect.violate.contains(&self.invariant) {
                " (passes: the scenario expects the violation)"
            } else {
                " (fails until the bug is fixed)"
            },
            toml::to_string(&file).unwrap_or_default()
        ));
        head
    }
}

/// Shrinks the run of `file` with `seed` (under its swarm draw when
/// `swarm`) to a minimal scenario violating `target`, or the first
/// invariant the run violates against the scenario's expectations (then
/// any it violates).
pub fn shrink(
    file: &ScenarioFile,
    registry: &Registry,
    seed: u64,
    swarm: bool,
    target: Option<Invariant>,
) -> Result<Shrunk, ShrinkError> {
    let setup = Setup::from_file(file, registry)
        .map_err(|p| ShrinkError::Invalid(crate::setup::problems_text(&p)))?;
    let plan = plan_for(&setup, seed, swarm);
    let run = run_with(&setup, &plan, seed);
    let violated: Vec<Invariant> = run
        .verdict
        .judgements
        .iter()
        .filter(|j| j.violations > 0)
        .map(|j| j.invariant)
        .collect();
    let unexpected = run
        .verdict
        .judgements
        .iter()
        .find(|j| !j.met && j.violations > 0)
        .map(|j| j.invariant);
    let invariant = match target {
        Some(t) if violated.contains(&t) => t,
        Some(t) => {
            return Err(ShrinkError::NothingToShrink {
                seed,
                target: Some(t),
            });
        }
        None => unexpected
            .or(violated.first().copied())
            .ok_or(ShrinkError::NothingToShrink { seed, target: None })?,
    };

    let mut current = realized_file(file, &run, &plan);
    let faults_before = current.faults.timeline.len();
    let mut s = Shrinker {
        registry,
        seed,
        invariant,
        runs: 1,
    };
    // The shrunk scenario judges only this invariant, as the scenario did:
    // a violation it expects is a demonstration that passes, one it
    // expects to hold is a regression that fails until the bug is fixed.
    // What shrinking did to the other invariants is incidental.
    let hold = setup.expectation(invariant) == crate::setup::Expect::Hold;
    current.expect = ExpectFile {
        hold: if hold { vec![invariant] } else { Vec::new() },
        violate: if hold { Vec::new() } else { vec![invariant] },
        allow: setup.judged().filter(|i| *i != invariant).collect(),
    };
    if !s.fails(&current) {
        return Err(ShrinkError::NotReproducible(seed));
    }

    let before = dimensions(&current);
    s.faults(&mut current);
    // Smaller systems, then whatever faults they no longer need.
    loop {
        let mut changed = s.workload(&mut current);
        changed |= s.topology(&mut current);
        changed |= s.window(&mut current);
        if !changed {
            break;
        }
        s.faults(&mut current);
    }
    let after = dimensions(&current);
    Ok(Shrunk {
        invariant,
        seed,
        faults_after: current.faults.timeline.len(),
        file: current,
        faults_before,
        dimensions: before
            .iter()
            .zip(after)
            .map(|(&(what, b), (_, a))| (what, b, a))
            .collect(),
        runs: s.runs,
    })
}

fn dimensions(f: &ScenarioFile) -> Vec<(&'static str, u64)> {
    vec![
        ("records", f.workload.records),
        ("keys", f.workload.keys),
        (
            "partitions",
            f.topology.topics.iter().map(|t| t.partitions).sum(),
        ),
        ("brokers", f.topology.brokers),
        (
            "members",
            f.consumers.iter().map(|c| c.members.unwrap_or(1)).sum(),
        ),
        ("producers", f.workload.producers.unwrap_or(1)),
    ]
}

struct Shrinker<'a> {
    registry: &'a Registry,
    seed: u64,
    invariant: Invariant,
    runs: usize,
}

impl Shrinker<'_> {
    /// Whether `file` still violates the invariant.
    fn fails(&mut self, file: &ScenarioFile) -> bool {
        let Ok(setup) = Setup::from_file(file, self.registry) else {
            return false;
        };
        self.runs += 1;
        let run: Run = crate::run::run(&setup, self.seed);
        run.checked.violated(self.invariant)
    }

    /// ddmin over the timeline.
    fn faults(&mut self, file: &mut ScenarioFile) {
        let mut faults = std::mem::take(&mut file.faults.timeline);
        let mut n = 2usize;
        while faults.len() >= 2 {
            let chunk = faults.len().div_ceil(n);
            let mut reduced = false;
            // Try each complement: everything but one chunk.
            for start in (0..faults.len()).step_by(chunk) {
                let end = (start + chunk).min(faults.len());
                let candidate: Vec<TimelineFile> = faults[..start]
                    .iter()
                    .chain(&faults[end..])
                    .cloned()
                    .collect();
                file.faults.timeline = candidate;
                if self.fails(file) {
                    faults = std::mem::take(&mut file.faults.timeline);
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if n >= faults.len() {
                    break;
                }
                n = (2 * n).min(faults.len());
            }
        }
        if faults.len() == 1 {
            file.faults.timeline = Vec::new();
            if self.fails(file) {
                faults.clear();
            }
        }
        file.faults.timeline = faults;
    }

    /// Tries smaller values of one number while the run still fails:
    /// halving first, then smaller steps. Returns whether it shrank.
    fn smaller(
        &mut self,
        file: &mut ScenarioFile,
        min: u64,
        get: fn(&ScenarioFile) -> u64,
        set: fn(&mut ScenarioFile, u64),
    ) -> bool {
        let start = get(file);
        let mut value = start;
        let mut step = value / 2;
        while step > 0 && value > min {
            let candidate = value.saturating_sub(step).max(min);
            set(file, candidate);
            if candidate < value && self.fails(file) {
                value = candidate;
            } else {
                step /= 2;
            }
        }
        set(file, value);
        value < start
    }

    fn workload(&mut self, f: &mut ScenarioFile) -> bool {
        let mut changed = self.smaller(f, 1, |f| f.workload.records, |f, v| f.workload.records = v);
        changed |= self.smaller(f, 1, |f| f.workload.keys, |f, v| f.workload.keys = v);
        changed |= self.smaller(
            f,
            1,
            |f| f.workload.producers.unwrap_or(1),
            |f, v| f.workload.producers = (v != 1).then_some(v),
        );
        changed
    }

    fn topology(&mut self, f: &mut ScenarioFile) -> bool {
        let mut changed = false;
        for t in 0..f.topology.topics.len() {
            let start = f.topology.topics[t].partitions;
            let mut value = start;
            while value > 1 {
                f.topology.topics[t].partitions = value / 2;
                if self.fails(f) {
                    value /= 2;
                } else {
                    f.topology.topics[t].partitions = value - 1;
                    if self.fails(f) {
                        value -= 1;
                    } else {
                        break;
                    }
                }
            }
            f.topology.topics[t].partitions = value;
            changed |= value < start;
        }
        for g in 0..f.consumers.len() {
            let start = f.consumers[g].members.unwrap_or(1);
            let mut value = start;
            while value > 1 {
                f.consumers[g].members = Some(value - 1);
                if !self.fails(f) {
                    break;
                }
                value -= 1;
            }
            f.consumers[g].members = Some(value);
            changed |= value < start;
        }
        let start = f.topology.brokers;
        while f.topology.brokers > 1 {
            f.topology.brokers -= 1;
            if !self.fails(f) {
                f.topology.brokers += 1;
                break;
            }
        }
        changed | (f.topology.brokers < start)
    }

    /// Ends the fault window right after the last fault ends.
    fn window(&mut self, f: &mut ScenarioFile) -> bool {
        let end = f
            .faults
            .timeline
            .iter()
            .map(|t| {
                t.at_ms.as_us()
                    + [t.restart_after_ms, t.heal_after_ms, t.for_ms]
                        .iter()
                        .flatten()
                        .map(|m| m.as_us())
                        .max()
                        .unwrap_or(0)
            })
            .max()
            .unwrap_or(0)
            + 1_000;
        let current = f.faults.window_ms.map_or(u64::MAX, Millis::as_us);
        if end >= current {
            return false;
        }
        let old = f.faults.window_ms;
        f.faults.window_ms = Some(Millis(end));
        if self.fails(f) {
            true
        } else {
            f.faults.window_ms = old;
            false
        }
    }
}

/// `file` with the faults `run` injected (under `plan`) as its explicit
/// timeline, chaos off and the run's seed: it runs exactly as `run` did.
pub fn realized_file(file: &ScenarioFile, run: &Run, plan: &FaultPlan) -> ScenarioFile {
    let mut f = file.clone();
    f.seed = run.sim.seed;
    f.faults.chaos = ChaosFile::default();
    f.faults.timeline = realize(run);
    f.faults.window_ms = Some(Millis(plan.window_end.as_us()));
    f
}

/// The faults a run injected, as explicit timeline entries in the order
/// they happened.
pub fn realize(run: &Run) -> Vec<TimelineFile> {
    let names = run.sim.names();
    let events = &run.sim.history.events;
    let healed = run.sim.stats.healed_at.unwrap_or(SimTime::NEVER);
    let node = |n: NodeId| names.node(n);
    let at = |t: SimTime| Millis(t.as_us());
    // The time of the first event after `i` that `pred` picks, unless it is
    // the window's close (then the fault lasted until the window closed).
    let until = |i: usize, pred: &dyn Fn(&EventKind) -> bool| -> Option<Millis> {
        events[i + 1..]
            .iter()
            .find(|e| pred(&e.kind))
            .filter(|e| e.time < healed)
            .map(|e| Millis(e.time.since(events[i].time).as_us()))
    };
    // `nth`: earlier messages of the kind on the link at that instant.
    let link = |from: NodeId, to: NodeId, kind: &str, nth: u32| LinkFile {
        from: node(from),
        to: node(to),
        kind: Some(kind.to_owned()),
        count: None,
        extra_ms: None,
        reorder: None,
        skip: (nth > 0).then_some(u64::from(nth)),
    };
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let mut t = TimelineFile {
            at_ms: at(e.time),
            ..TimelineFile::default()
        };
        match e.kind {
            EventKind::Crashed {
                node: n,
                point,
                pass,
            } => {
                t.crash = Some(node(n));
                if point != faultline_models::CrashPoint::Now {
                    t.point = Some(point_name(point, &names));
                    t.skip = (pass > 0).then_some(u64::from(pass));
                }
                t.restart_after_ms = until(
                    i,
                    &|k| matches!(k, EventKind::Restarted { node: r } if *r == n),
                );
            }
            EventKind::MessageDropped {
                from,
                to,
                kind,
                cause: DropCause::Loss,
                nth,
            } => t.drop = Some(link(from, to, kind, nth)),
            EventKind::MessageDuplicated {
                from,
                to,
                kind,
                nth,
            } => t.duplicate = Some(link(from, to, kind, nth)),
            EventKind::MessageDelayed {
                from,
                to,
                kind,
                extra_us,
                reorder,
                nth,
            } => {
                let mut l = link(from, to, kind, nth);
                l.extra_ms = Some(Millis(extra_us));
                l.reorder = Some(reorder);
                t.delay = Some(l);
            }
            EventKind::PartitionStarted { id } => {
                let Some((a, b, oneway)) = names.partitions.get(id as usize) else {
                    continue;
                };
                let side = |s: &Vec<NodeId>| s.iter().map(|n| node(*n)).collect();
                t.partition = Some(vec![side(a), side(b)]);
                t.oneway = Some(*oneway);
                t.heal_after_ms = until(
                    i,
                    &|k| matches!(k, EventKind::PartitionHealed { id: h } if *h == id),
                );
            }
            EventKind::SlowStarted {
                node: n,
                processing_us,
            } => {
                t.slow = Some(node(n));
                t.processing_ms = Some(Millis(processing_us));
                t.for_ms = until(
                    i,
                    &|k| matches!(k, EventKind::SlowEnded { node: s } if *s == n),
                );
            }
            _ => continue,
        }
        out.push(t);
    }
    out
}
