//! Exploring many seeds: each seed with its own fault mix (swarm testing),
//! in parallel across runs, split into shards for CI matrices, summarised
//! as violated invariants and fault coverage.
//!
//! - [`swarm`]: the per-seed fault mix.
//! - [`coverage`]: which fault kinds fired.
//! - [`Exploration`]: what `explore` found, serialisable so shards merge.

pub mod coverage;
pub mod swarm;
pub mod text;

use std::ops::Range;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkers::Invariant;
use crate::faults::FaultPlan;
use crate::report::result::ScenarioRef;
use crate::scenario::Loaded;
use crate::setup::{Expect, Setup};

pub use coverage::{Coverage, FaultKind};

/// Seeds run per parallel round (bounds the outcomes held at once).
pub const ROUND: usize = 1024;

/// One shard of a seed range: seeds with `seed % count == index - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, from 1.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

impl Shard {
    /// Parses `K/N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("expected K/N (like 2/4), found \"{s}\""))?;
        let index: u64 = k
            .trim()
            .parse()
            .map_err(|_| format!("\"{k}\" is not a shard number"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("\"{n}\" is not a shard count"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("shard {index}/{count}: need 1 <= K <= N"));
        }
        Ok(Shard { index, count })
    }

    /// Whether `seed` belongs to this shard.
    pub fn includes(&self, seed: u64) -> bool {
        seed % self.count == self.index - 1
    }
}

/// Parses a seed range: `A..B` (B excluded) or `N` (meaning `0..N`).
pub fn parse_seeds(s: &str) -> Result<Range<u64>, String> {
    let range = match s.split_once("..") {
        Some((a, b)) => {
            let a: u64 = a
                .trim()
                .parse()
                .map_err(|_| format!("\"{a}\" is not a seed"))?;
            let b: u64 = b
                .trim()
                .parse()
                .map_err(|_| format!("\"{b}\" is not a seed"))?;
            a..b
        }
        None => {
            0..s.trim()
                .parse()
                .map_err(|_| format!("expected A..B or a count, found \"{s}\""))?
        }
    };
    if range.is_empty() {
        return Err(format!(
            "the seed range {}..{} is empty",
            range.start, range.end
        ));
    }
    Ok(range)
}

/// How to explore.
#[derive(Clone, Debug)]
pub struct Options {
    /// The seeds (before sharding).
    pub seeds: Range<u64>,
    /// Runs in parallel (1: on this thread).
    pub jobs: usize,
    /// Only this shard of the seeds.
    pub shard: Option<Shard>,
    /// Stop at the first seed that violates an invariant (expected or
    /// not) or misses an expectation.
    pub until_first: bool,
    /// Draw a fault mix per seed within the scenario's chaos bounds.
    pub swarm: bool,
    /// Seeds per round (0: the default). Rounds bound the outcomes held
    /// at once; the result does not depend on their size.
    pub round: usize,
}

/// One seed's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// The invariants violated (expected or not).
    pub violated: Vec<Invariant>,
    /// The invariants the scenario expects to hold that it violated.
    pub missed: Vec<Invariant>,
    /// The faults it injected.
    pub coverage: Coverage,
}

/// A failing seed, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The invariants whose expectation was not met.
    pub missed: Vec<Invariant>,
}

/// How often one invariant was violated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violations {
    /// The invariant.
    pub invariant: Invariant,
    /// What the scenario expects of it.
    pub expect: Expect,
    /// Seeds that violated it.
    pub seeds: u64,
    /// The first of them.
    pub first_seed: u64,
}

/// Coverage of one fault kind over many runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCoverage {
    /// The kind.
    pub kind: FaultKind,
    /// Whether the scenario enables it.
    pub enabled: bool,
    /// Faults injected in all.
    pub fired: u64,
    /// Runs in which it fired.
    pub runs: u64,
    /// Runs in which it fired and some invariant was violated, expected
    /// or not.
    pub violating_runs: u64,
}

/// What an exploration found: everything a summary needs, and additive,
/// so the files of several shards merge into the file of the whole range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exploration {
    /// Format version.
    pub schema_version: u32,
    /// The faultline version that ran it.
    pub faultline_version: String,
    /// The scenario.
    pub scenario: ScenarioRef,
    /// The scenario file's text, so a seed can be rerun or shrunk from this
    /// file alone.
    pub scenario_source: String,
    /// The seed range explored (before sharding).
    pub seeds: Range<u64>,
    /// The shards merged into this result (empty: unsharded).
    pub shards: Vec<Shard>,
    /// Whether each seed drew its own fault mix.
    pub swarm: bool,
    /// Runs made.
    pub runs: u64,
    /// Per fault kind.
    pub coverage: Vec<KindCoverage>,
    /// Invariants the scenario expects violated (by some seed).
    pub expected_violations: Vec<Invariant>,
    /// Invariants the scenario does not judge.
    pub allowed: Vec<Invariant>,
    /// Per violated invariant, in report order.
    pub violations: Vec<Violations>,
    /// Seeds that did not meet the scenario's expectations, in seed order.
    pub failures: Vec<Failure>,
    /// `--until-first` stopped the exploration before the end of its range.
    pub stopped_early: bool,
}

/// The plan a seed runs with.
pub fn plan_for(setup: &Setup, seed: u64, swarm: bool) -> FaultPlan {
    let mut plan = setup.plan.clone();
    if swarm {
        plan.chaos = swarm::draw(&setup.plan.chaos, seed);
    }
    plan
}

/// Runs one seed.
pub fn run_seed(setup: &Setup, seed: u64, swarm: bool) -> SeedOutcome {
    let plan = plan_for(setup, seed, swarm);
    let run = crate::run::run_with(setup, &plan, seed);
    SeedOutcome {
        seed,
        violated: run
            .verdict
            .judgements
            .iter()
            .filter(|j| j.violations > 0)
            .map(|j| j.invariant)
            .collect(),
        // An expected violation is a demonstration: across many seeds it
        // must happen somewhere (see `Exploration::undemonstrated`), not in
        // every seed.
        missed: run
            .verdict
            .judgements
            .iter()
            .filter(|j| !j.met && j.expect != Expect::Violate)
            .map(|j| j.invariant)
            .collect(),
        coverage: Coverage::of(
            &run.sim.history,
            (&setup.roles.brokers, &setup.roles.consumers),
        ),
    }
}

/// Explores `setup` (set up from `loaded`) over the seeds of `opts`,
/// calling `progress` after each seed (from the worker threads; for a
/// progress bar). The result does not depend on `opts.jobs`.
pub fn explore(
    loaded: &Loaded,
    setup: &Setup,
    opts: &Options,
    progress: &(dyn Fn(&SeedOutcome) + Sync),
) -> Exploration {
    let enabled = coverage::enabled(&setup.plan, (&setup.roles.brokers, &setup.roles.consumers));
    let with = |want: crate::setup::Expect| -> Vec<Invariant> {
        setup
            .judged()
            .filter(|&i| setup.expectation(i) == want)
            .collect()
    };
    let mut out = Exploration {
        schema_version: 1,
        faultline_version: crate::VERSION.to_owned(),
        scenario: ScenarioRef {
            name: loaded.file.name.clone(),
            path: loaded.path.display().to_string(),
            digest: loaded.digest.clone(),
        },
        scenario_source: loaded.source.clone(),
        seeds: opts.seeds.clone(),
        shards: opts.shard.into_iter().collect(),
        swarm: opts.swarm,
        runs: 0,
        coverage: FaultKind::ALL
            .iter()
            .map(|&kind| KindCoverage {
                kind,
                enabled: enabled.contains(&kind),
                fired: 0,
                runs: 0,
                violating_runs: 0,
            })
            .collect(),
        expected_violations: with(Expect::Violate),
        allowed: with(Expect::Allow),
        violations: Vec::new(),
        failures: Vec::new(),
        stopped_early: false,
    };
    let one = |s: u64| {
        let o = run_seed(setup, s, opts.swarm);
        progress(&o);
        o
    };
    let pool = (opts.jobs > 1)
        .then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(opts.jobs)
                .build()
                .ok()
        })
        .flatten();
    // Seeds go in rounds, in seed order; a round's outcomes are added in
    // seed order, so neither the round size nor the number of jobs changes
    // the result. With `until_first` the rounds are small, so a failure
    // found early stops the exploration early.
    let round = match (&pool, opts.until_first) {
        _ if opts.round > 0 => opts.round,
        (None, true) => 1,
        (None, false) => ROUND,
        (Some(p), true) => p.current_num_threads() * 2,
        (Some(_), false) => ROUND,
    };
    let mut seeds = opts
        .seeds
        .clone()
        .filter(|s| opts.shard.is_none_or(|sh| sh.includes(*s)))
        .peekable();
    let mut batch = Vec::with_capacity(round);
    while seeds.peek().is_some() {
        batch.clear();
        batch.extend(seeds.by_ref().take(round));
        let outcomes: Vec<SeedOutcome> = match &pool {
            None => batch.iter().map(|&s| one(s)).collect(),
            Some(p) => p.install(|| batch.par_iter().map(|&s| one(s)).collect()),
        };
        let stop_at = opts
            .until_first
            .then(|| {
                outcomes
                    .iter()
                    .position(|o| !o.missed.is_empty() || !o.violated.is_empty())
            })
            .flatten();
        let keep = stop_at.map_or(outcomes.len(), |i| i + 1);
        for o in &outcomes[..keep] {
            out.add(o);
        }
        if stop_at.is_some() {
            out.stopped_early = keep < outcomes.len() || seeds.peek().is_some();
            break;
        }
    }
    out
}

impl Exploration {
    /// Adds one seed's outcome.
    pub fn add(&mut self, o: &SeedOutcome) {
        self.runs += 1;
        for &inv in &o.violated {
            match self.violations.iter_mut().find(|v| v.invariant == inv) {
                Some(v) => {
                    v.seeds += 1;
                    v.first_seed = v.first_seed.min(o.seed);
                }
                None => {
                    self.violations.push(Violations {
                        invariant: inv,
                        expect: self.expectation(inv),
                        seeds: 1,
                        first_seed: o.seed,
                    });
                    self.violations.sort_by_key(|v| v.invariant);
                }
            }
        }
        let failed = !o.missed.is_empty();
        let violated = !o.violated.is_empty();
        for c in &mut self.coverage {
            let n = o.coverage.get(c.kind);
            if n > 0 {
                c.fired += u64::from(n);
                c.runs += 1;
                c.violating_runs += u64::from(violated);
            }
        }
        if failed {
            self.failures.push(Failure {
                seed: o.seed,
                missed: o.missed.clone(),
            });
        }
    }

    /// Merges shard results of one scenario and range into one. Each part
    /// must cover shards of the same count (`K/N` with one `N`), none twice;
    /// when every shard is there, the result is the unsharded exploration.
    pub fn merge(parts: Vec<Exploration>) -> Result<Exploration, String> {
        if parts.len() > 1
            && let Some(p) = parts.iter().find(|p| p.shards.is_empty())
        {
            return Err(format!(
                "a result of {} covers every seed (it was not run with --shard); there is nothing to merge it with",
                p.scenario.path
            ));
        }
        let mut parts = parts.into_iter();
        let mut out = parts.next().ok_or("nothing to merge")?;
        for p in parts {
            if p.scenario.digest != out.scenario.digest {
                return Err(format!(
                    "{} and {} explored different scenario files",
                    out.scenario.path, p.scenario.path
                ));
            }
            if p.seeds != out.seeds || p.swarm != out.swarm {
                return Err(format!(
                    "the results cover different seed ranges or swarm settings ({}..{} swarm {} and {}..{} swarm {})",
                    out.seeds.start, out.seeds.end, out.swarm, p.seeds.start, p.seeds.end, p.swarm
                ));
            }
            if p.faultline_version != out.faultline_version {
                return Err(format!(
                    "the results come from faultline {} and {}; a seed may mean different runs",
                    out.faultline_version, p.faultline_version
                ));
            }
            if let Some(s) = p.shards.iter().find(|s| s.count != out.shards[0].count) {
                return Err(format!(
                    "shard {}/{} does not split the range like shard {}/{}",
                    s.index, s.count, out.shards[0].index, out.shards[0].count
                ));
            }
            if let Some(s) = p.shards.iter().find(|s| out.shards.contains(s)) {
                return Err(format!("shard {}/{} appears twice", s.index, s.count));
            }
            out.shards.extend(p.shards);
            out.runs += p.runs;
            for (a, b) in out.coverage.iter_mut().zip(p.coverage) {
                a.fired += b.fired;
                a.runs += b.runs;
                a.violating_runs += b.violating_runs;
            }
            for v in p.violations {
                match out
                    .violations
                    .iter_mut()
                    .find(|w| w.invariant == v.invariant)
                {
                    Some(w) => {
                        w.seeds += v.seeds;
                        w.first_seed = w.first_seed.min(v.first_seed);
                    }
                    None => out.violations.push(v),
                }
            }
            out.failures.extend(p.failures);
            out.stopped_early |= p.stopped_early;
        }
        out.shards.sort_by_key(|s| s.index);
        out.violations.sort_by_key(|v| v.invariant);
        out.failures.sort_by_key(|f| f.seed);
        let complete = out
            .shards
            .iter()
            .map(|s| s.index)
            .eq(1..=out.shards.first().map_or(0, |s| s.count));
        if complete {
            // Every shard is here: the result is the unsharded one.
            out.shards.clear();
        }
        Ok(out)
    }

    /// What the scenario expects of `inv`.
    pub fn expectation(&self, inv: Invariant) -> Expect {
        if self.expected_violations.contains(&inv) {
            Expect::Violate
        } else if self.allowed.contains(&inv) {
            Expect::Allow
        } else {
            Expect::Hold
        }
    }

    /// Invariants the scenario expects violated that no seed violated.
    pub fn undemonstrated(&self) -> Vec<Invariant> {
        self.expected_violations
            .iter()
            .copied()
            .filter(|i| !self.violations.iter().any(|v| v.invariant == *i))
            .collect()
    }

    /// Whether the exploration failed: a seed violated an invariant the
    /// scenario expects to hold, or no seed violated one it expects
    /// violated.
    /// An incomplete set of shards cannot judge the second.
    pub fn failed(&self) -> bool {
        !self.failures.is_empty() || (self.shards.is_empty() && !self.undemonstrated().is_empty())
    }

    /// Enabled fault kinds that never fired.
    pub fn never_fired(&self) -> Vec<FaultKind> {
        self.coverage
            .iter()
            .filter(|c| c.enabled && c.runs == 0)
            .map(|c| c.kind)
            .collect()
    }
}
