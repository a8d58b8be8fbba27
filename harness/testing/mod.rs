//! Testing your own consumer logic from `cargo test`.
//!
//! A [`Harness`] is a base scenario plus a [`Registry`] holding your
//! handlers. Two ways to use it:
//!
//! - **proptest**: [`Harness::cases`] is a `Strategy` of workloads and fault
//!   plans, and [`Harness::check`] runs one and fails the test case with
//!   the report. Proptest shrinks a failing case to a minimal fault plan
//!   and records it in its regression file.
//! - **seeds**: `harness.seeds(0..500).assert_hold()` explores seeds like
//!   `faultline explore`, and on failure shrinks the first failing seed and
//!   panics with the finding, the minimal scenario and the command that
//!   reruns just that seed (`FAULTLINE_SEED=<n> cargo test <test>`).
//!
//! ```no_run
//! use faultline::testing::Harness;
//! use faultline::{CommitMode, Registry};
//! # #[derive(Default)] struct MyHandler;
//! # impl faultline::Handler for MyHandler {
//! #     fn handle(&mut self, _: &faultline::Delivery<'_>, _: &mut faultline::HandlerCx<'_>) -> faultline::Outcome { faultline::Outcome::Ok }
//! # }
//! let mut registry = Registry::with_built_ins();
//! registry.register("mine", CommitMode::AfterBatch, MyHandler::default);
//! let harness = Harness::new(
//!     r#"
//!     name = "mine under faults"
//!     [topology]
//!     brokers = 1
//!     topics = [{ name = "t", partitions = 2 }]
//!     [workload]
//!     records = 100
//!     keys = 5
//!     [[consumers]]
//!     group = "g"
//!     handler = "mine"
//!     "#,
//!     registry,
//! );
//! harness.seeds(0..200).assert_hold();
//! ```

mod strategy;

use std::ops::Range;
use std::path::Path;

use proptest::strategy::BoxedStrategy;
use proptest::test_runner::TestCaseError;

use crate::explore::{Exploration, Options, explore, plan_for};
use crate::history::jsonl::digest;
use crate::registry::Registry;
use crate::report::build_result;
use crate::report::text::summary;
use crate::run::{Run, run_with};
use crate::scenario::schema::ScenarioFile;
use crate::scenario::{self, Loaded};
use crate::setup::Setup;
use crate::shrink::shrink;

pub use strategy::{Case, Fault, Shape};

/// The environment variable that makes [`Seeds::assert_hold`] run one seed.
pub const SEED_VAR: &str = "FAULTLINE_SEED";

/// A base scenario and the handlers it may name.
pub struct Harness {
    loaded: Loaded,
    setup: Setup,
    registry: Registry,
    shape: Shape,
}

impl Harness {
    /// Sets up `scenario` (TOML text) with `registry`.
    ///
    /// # Panics
    ///
    /// When the scenario is not valid, with its diagnostics: in a test,
    /// that is the failure to report.
    pub fn new(scenario: &str, registry: Registry) -> Harness {
        Harness::try_new("scenario.toml", scenario, registry).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sets up the scenario file at `path` with `registry`.
    ///
    /// # Panics
    ///
    /// When it cannot be read or is not valid.
    pub fn load(path: impl AsRef<Path>, registry: Registry) -> Harness {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: cannot read it: {e}", path.display()));
        Harness::try_new(&path.display().to_string(), &text, registry)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sets up `scenario`, named `name` in messages; the error is the
    /// diagnostics a user would see from `faultline run`.
    pub fn try_new(name: &str, scenario: &str, registry: Registry) -> Result<Harness, String> {
        let (loaded, setup) = Setup::parse(Path::new(name), scenario.to_owned(), &registry)
            .map_err(|e| e.to_string())?;
        let f = &loaded.file;
        let shape = Shape {
            producers: f.workload.producers.unwrap_or(1),
            brokers: f.topology.brokers,
            consumers: f.consumers.iter().map(|c| c.members.unwrap_or(1)).sum(),
            records: f.workload.records,
            keys: f.workload.keys,
            horizon_ms: (setup.plan.window_end.as_us() / 1000).max(1),
            max_faults: 6,
        };
        Ok(Harness {
            loaded,
            setup,
            registry,
            shape,
        })
    }

    /// Generate at most `n` faults per case (default 6).
    pub fn max_faults(mut self, n: usize) -> Harness {
        self.shape.max_faults = n;
        self
    }

    /// What generated faults may name.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// A proptest `Strategy` of cases: a seed, a workload between a tenth
    /// and all of the base scenario's records, 1 to its keys, and up to
    /// `max_faults` faults on its nodes within its fault window.
    pub fn cases(&self) -> BoxedStrategy<Case> {
        self.shape.cases()
    }

    /// The scenario a case runs.
    pub fn scenario_of(&self, case: &Case) -> ScenarioFile {
        case.apply(&self.loaded.file)
    }

    /// Runs a case.
    ///
    /// # Panics
    ///
    /// When the case's scenario is not valid (a bug in the strategy).
    pub fn run_case(&self, case: &Case) -> Run {
        let file = self.scenario_of(case);
        let setup = Setup::from_file(&file, &self.registry).unwrap_or_else(|p| {
            panic!(
                "a generated case is not a valid scenario: {}",
                crate::setup::problems_text(&p)
            )
        });
        crate::run::run(&setup, case.seed)
    }

    /// Runs a case and fails the proptest test case, with the report and
    /// the scenario as TOML, unless every expectation of the base scenario
    /// is met.
    pub fn check(&self, case: &Case) -> Result<(), TestCaseError> {
        let file = self.scenario_of(case);
        let setup = Setup::from_file(&file, &self.registry).map_err(|p| {
            TestCaseError::fail(format!(
                "a generated case is not a valid scenario: {}",
                crate::setup::problems_text(&p)
            ))
        })?;
        let run = crate::run::run(&setup, case.seed);
        if run.verdict.pass {
            return Ok(());
        }
        Err(TestCaseError::fail(format!(
            "{}\nthe case as a scenario file:\n{}",
            self.report(&file, &run, false),
            toml::to_string(&file).unwrap_or_default()
        )))
    }

    /// Explores seeds of the base scenario.
    pub fn seeds(&self, seeds: Range<u64>) -> Seeds<'_> {
        Seeds {
            harness: self,
            seeds,
            swarm: true,
            jobs: 1,
        }
    }

    /// The console report of a run of `file`.
    fn report(&self, file: &ScenarioFile, run: &Run, swarm: bool) -> String {
        let text = toml::to_string(file).unwrap_or_default();
        match scenario::parse(&self.loaded.path, text) {
            Ok(loaded) => {
                let result = build_result(&loaded, run, swarm, digest(&run.sim.names()));
                // Without the CLI's report files and replay command: a test
                // reruns a seed through FAULTLINE_SEED.
                summary(&result, "", true)
                    .lines()
                    .filter(|l| {
                        let l = l.trim_start();
                        !l.starts_with("reproduce:") && !l.starts_with("report:")
                    })
                    .fold(String::new(), |acc, l| acc + l + "\n")
            }
            Err(e) => e.to_string(),
        }
    }
}

/// Seeds to explore from a test; see [`Harness::seeds`].
pub struct Seeds<'a> {
    harness: &'a Harness,
    seeds: Range<u64>,
    swarm: bool,
    jobs: usize,
}

impl Seeds<'_> {
    /// Draw a fault mix per seed within the scenario's chaos bounds (the
    /// default), or run each seed with the scenario's own rates.
    pub fn swarm(mut self, on: bool) -> Self {
        self.swarm = on;
        self
    }

    /// Run this many seeds in parallel (default 1; the result is the same).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Explores the seeds (or only `$FAULTLINE_SEED`, when set).
    pub fn explore(&self) -> Exploration {
        let h = self.harness;
        let opts = Options {
            seeds: self.effective(),
            jobs: self.jobs,
            shard: None,
            until_first: false,
            swarm: self.swarm,
            round: 0,
        };
        explore(&h.loaded, &h.setup, &opts, &|_| {})
    }

    /// The seeds to run: `$FAULTLINE_SEED` alone when it is set.
    ///
    /// # Panics
    ///
    /// When `$FAULTLINE_SEED` is set but not a seed.
    fn effective(&self) -> Range<u64> {
        let Some(value) = std::env::var_os(SEED_VAR) else {
            return self.seeds.clone();
        };
        let text = value.to_string_lossy();
        match text.trim().parse::<u64>() {
            Ok(seed) if seed < u64::MAX => seed..seed + 1,
            _ => panic!("{SEED_VAR}={text:?} is not a seed (expected a number below 2^64 - 1)"),
        }
    }

    /// Asserts that every seed keeps the invariants the scenario expects to
    /// hold (and that some seed violates each one it expects violated).
    ///
    /// # Panics
    ///
    /// On failure, with the first failing seed's finding, the scenario
    /// shrunk to a minimal fault timeline, and the command that reruns
    /// only that seed.
    pub fn assert_hold(self) {
        let x = self.explore();
        if !x.failed() {
            return;
        }
        let h = self.harness;
        let test = std::thread::current()
            .name()
            .filter(|n| *n != "main")
            .map_or_else(|| "<test name>".to_owned(), str::to_owned);
        let Some(first) = x.failures.first() else {
            let missing: Vec<&str> = x.undemonstrated().iter().map(|i| i.name()).collect();
            panic!(
                "faultline: no seed of {}..{} violated {}, which the scenario expects violated",
                x.seeds.start,
                x.seeds.end,
                missing.join(", ")
            );
        };
        let seed = first.seed;
        let run = run_with(&h.setup, &plan_for(&h.setup, seed, self.swarm), seed);
        let mut msg = format!(
            "faultline: {} of {} seeds broke an invariant; the first, seed {seed}:\n{}",
            x.failures.len(),
            x.runs,
            h.report(&h.loaded.file, &run, self.swarm)
        );
        match shrink(
            &h.loaded.file,
            &h.registry,
            seed,
            self.swarm,
            first.missed.first().copied(),
        ) {
            Ok(s) => {
                msg.push_str(&format!(
                    "shrunk to a minimal scenario (faults {} -> {}):\n{}\n",
                    s.faults_before,
                    s.faults_after,
                    s.to_toml(&h.loaded.path.display().to_string())
                ));
            }
            Err(e) => msg.push_str(&format!("(not shrunk: {e})\n")),
        }
        msg.push_str(&format!(
            "rerun only this seed: {SEED_VAR}={seed} cargo test {test} -- --exact\n"
        ));
        panic!("{msg}");
    }
}
