//! `faultline bench`: simulation speed on a scenario, against a bare
//! discrete-event loop measured in the same process.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // timing the CLI itself

use std::path::Path;
use std::time::Instant;

use faultline::Registry;
use faultline::engine::Queue;
use faultline::models::rng::Stream;
use faultline::models::{SimRng, SimTime};
use faultline::setup::Setup;

use super::Status;
use super::run::report_error;

/// Runs the benchmark.
pub fn bench(path: &Path, seeds: u64) -> Status {
    let (_, setup) = match Setup::load(path, &Registry::with_built_ins()) {
        Ok(x) => x,
        Err(e) => return report_error(&e),
    };
    let seeds = seeds.max(1);
    // Warm up caches and the allocator.
    for s in 0..seeds.min(20) {
        std::hint::black_box(faultline::run(&setup, s));
    }
    let start = Instant::now();
    let mut events = 0u64;
    let mut history = 0u64;
    let mut failed = 0u64;
    for s in 0..seeds {
        let run = faultline::run(&setup, s);
        events += run.sim.stats.events;
        history += run.sim.history.events.len() as u64;
        failed += u64::from(!run.verdict.pass);
    }
    let secs = start.elapsed().as_secs_f64();
    let records = u64::from(setup.spec.workload.records) * seeds;

    // Baseline: the same number of events through a bare queue with one
    // ChaCha8 draw each, no models, no network, no checks.
    let start = Instant::now();
    let mut q = Queue::default();
    let mut rng = SimRng::new(0, Stream::Network);
    for i in 0..64u64 {
        q.push(SimTime(i), i);
    }
    let mut left = events;
    while left > 0 {
        let (t, x) = q.pop().expect("the queue never empties");
        q.push(t + SimTime(1 + rng.below(1000)), std::hint::black_box(x));
        left -= 1;
    }
    let base_secs = start.elapsed().as_secs_f64();

    let eps = events as f64 / secs;
    let base_eps = events as f64 / base_secs.max(1e-9);
    println!("scenario        {}", path.display());
    println!("seeds           {seeds} ({failed} not meeting their expectations)");
    println!("seeds/s         {:.0}", seeds as f64 / secs);
    println!(
        "records/s       {:.0} (produced, appended, delivered, handled, committed; end to end)",
        records as f64 / secs
    );
    println!(
        "events/s        {eps:.0} ({:.1} history events per engine event)",
        history as f64 / events as f64
    );
    println!("bare loop       {base_eps:.0} events/s (queue + ChaCha8 only)");
    println!(
        "ratio           {:.2} of the bare loop's speed per event",
        eps / base_eps
    );
    Status::Ok
}
