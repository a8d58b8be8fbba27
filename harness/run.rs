//! One run: build the world, simulate it under the fault plan, check the
//! history, and judge it against the scenario's expectations.

use faultline_models::History;
use faultline_models::SimRng;
use faultline_models::kafka::KafkaWorld;
use faultline_models::rng::Stream;

use crate::checkers::{CheckInput, Checked, Invariant, check_all};
use crate::engine::{Engine, PartitionSides, RunStats};
use crate::faults::FaultPlan;
use crate::history::Names;
use crate::setup::{Expect, Setup};

/// A finished simulation, before checking.
pub struct Simulation {
    /// The seed it ran with.
    pub seed: u64,
    /// How it ended.
    pub stats: RunStats,
    /// The world at the end (logs, stores, offsets).
    pub world: KafkaWorld,
    /// What happened.
    pub history: History,
    /// Sides of the network partitions that happened.
    pub partitions: PartitionSides,
}

impl Simulation {
    /// Names for this simulation's ids.
    pub fn names(&self) -> Names<'_> {
        Names {
            layout: self.world.layout(),
            history: &self.history,
            partitions: &self.partitions,
        }
    }
}

/// Simulates `setup` with `seed`.
pub fn simulate(setup: &Setup, seed: u64) -> Simulation {
    simulate_with(setup, &setup.plan, seed)
}

/// Simulates `setup` with `seed` under `plan` instead of its own faults
/// (a swarm mix, or a shrinker's candidate).
pub fn simulate_with(setup: &Setup, plan: &FaultPlan, seed: u64) -> Simulation {
    let world = setup
        .world()
        .world(&mut SimRng::new(seed, Stream::Workload));
    let mut engine = Engine::new(
        world,
        seed,
        plan.clone(),
        setup.latency,
        setup.limits,
        setup.roles.clone(),
    );
    let stats = engine.run();
    let (world, history, partitions) = engine.into_parts();
    Simulation {
        seed,
        stats,
        world,
        history,
        partitions,
    }
}

/// How one invariant came out against its expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// The invariant.
    pub invariant: Invariant,
    /// What the scenario expected.
    pub expect: Expect,
    /// Violations found.
    pub violations: usize,
    /// Whether the expectation was met.
    pub met: bool,
}

/// The verdict of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Every expectation met.
    pub pass: bool,
    /// Per invariant, in report order.
    pub judgements: Vec<Judgement>,
}

/// Judges findings against expectations.
pub fn judge(setup: &Setup, checked: &Checked) -> Verdict {
    let judgements: Vec<Judgement> = setup
        .judged()
        .map(|inv| {
            let expect = setup.expectation(inv);
            let violations = checked.count(inv);
            let met = match expect {
                Expect::Hold => violations == 0,
                Expect::Violate => violations > 0,
                Expect::Allow => true,
            };
            Judgement {
                invariant: inv,
                expect,
                violations,
                met,
            }
        })
        .collect();
    Verdict {
        pass: judgements.iter().all(|j| j.met),
        judgements,
    }
}

/// A simulated, checked and judged run.
pub struct Run {
    /// The simulation.
    pub sim: Simulation,
    /// The findings.
    pub checked: Checked,
    /// The verdict.
    pub verdict: Verdict,
}

/// Simulates, checks and judges `setup` with `seed`.
pub fn run(setup: &Setup, seed: u64) -> Run {
    run_with(setup, &setup.plan, seed)
}

/// Simulates, checks and judges `setup` with `seed` under `plan`.
pub fn run_with(setup: &Setup, plan: &FaultPlan, seed: u64) -> Run {
    let sim = simulate_with(setup, plan, seed);
    let checked = check_all(&CheckInput {
        world: &sim.world,
        names: sim.names(),
        stats: &sim.stats,
        plan,
    });
    let verdict = judge(setup, &checked);
    Run {
        sim,
        checked,
        verdict,
    }
}
