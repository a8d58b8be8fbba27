//! `faultline bench`: simulation speed on a scenario, against a bare
//! discrete-event loop measured in the same process, and the process's
//! peak memory.

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

/// Runs before the timed ones, to warm caches and the allocator.
const WARM_UP_MAX: u64 = 20;

/// Runs the benchmark: `seeds` runs of the scenario at `path`, with
/// `records` records instead of the file's if given, one after the other
/// and then on `jobs` threads (default: one per core).
pub fn bench(path: &Path, seeds: u64, records: Option<u64>, jobs: Option<u64>) -> Status {
    let loaded = match faultline::scenario::load(path) {
        Ok(l) => l,
        Err(e) => return report_error(&e),
    };
    let loaded = match records {
        Some(n) => loaded.with_records(n),
        None => loaded,
    };
    let (_, setup) = match Setup::from_loaded(loaded, &Registry::with_built_ins()) {
        Ok(x) => x,
        Err(e) => return report_error(&e),
    };
    let seeds = seeds.max(1);
    // A single run is measured cold: warming up would double a long run.
    for s in 0..(seeds - 1).min(WARM_UP_MAX) {
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
    let produced = u64::from(setup.spec().workload.records) * seeds;

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

    // The same seeds again, spread over a thread pool as `explore` spreads
    // them.
    let jobs = jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    let parallel_secs = (jobs > 1 && seeds > 1)
        .then(|| parallel_secs(&setup, seeds, jobs))
        .flatten();

    let eps = events as f64 / secs;
    let base_eps = events as f64 / base_secs.max(1e-9);
    let seeds_per_sec = seeds as f64 / secs;
    match records {
        Some(n) => println!("scenario        {} (records: {n})", path.display()),
        None => println!("scenario        {}", path.display()),
    }
    println!("seeds           {seeds} ({failed} not meeting their expectations)");
    if seeds_per_sec < 10.0 {
        println!(
            "seeds/s         {seeds_per_sec:.2} ({:.2} s per seed)",
            secs / seeds as f64
        );
    } else {
        println!("seeds/s         {seeds_per_sec:.0}");
    }
    println!(
        "records/s       {:.0} (produced, appended, delivered, handled, committed; end to end)",
        produced as f64 / secs
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
    if let Some(p) = parallel_secs {
        println!(
            "{:<16}{:.0} seeds/s, {:.2}x one job",
            format!("jobs {jobs}"),
            seeds as f64 / p,
            secs / p
        );
    }
    match peak_resident_bytes() {
        Some(b) => println!(
            "peak memory     {:.1} MiB (peak resident set of the process, VmHWM)",
            b as f64 / (1024.0 * 1024.0)
        ),
        None => println!("peak memory     unavailable (read from /proc/self/status on Linux)"),
    }
    Status::Ok
}

/// Seconds to run seeds `0..seeds` of `setup` on a pool of `jobs` threads
/// (`None` if the pool cannot be built).
fn parallel_secs(setup: &Setup, seeds: u64, jobs: usize) -> Option<f64> {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .ok()?;
    let start = Instant::now();
    let passed = pool.install(|| {
        (0..seeds)
            .into_par_iter()
            .filter(|&s| faultline::run(setup, s).verdict.pass)
            .count()
    });
    std::hint::black_box(passed);
    Some(start.elapsed().as_secs_f64())
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`),
/// where the platform reports it.
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
