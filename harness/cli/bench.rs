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
/// and then on `jobs` threads (default: one per core), `rounds` times.
pub fn bench(
    path: &Path,
    seeds: u64,
    records: Option<u64>,
    jobs: Option<u64>,
    rounds: u64,
) -> Status {
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
    let rounds = rounds.max(1);
    // A single run is measured cold: warming up would double a long run.
    for s in 0..(seeds - 1).min(WARM_UP_MAX) {
        std::hint::black_box(faultline::run(&setup, s));
    }
    let jobs = jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    // Each round times the seeds one after the other, the bare loop, and
    // the seeds on the pool, so that a slow spell on a shared machine
    // shows as a spread between rounds rather than in one figure.
    let mut measured = Vec::with_capacity(rounds as usize);
    for _ in 0..rounds {
        measured.push(Round::measure(&setup, seeds, jobs));
    }
    let first = &measured[0];
    let (events, history, failed) = (first.events, first.history, first.failed);
    let secs = median(measured.iter().map(|r| r.secs));
    let base_secs = median(measured.iter().map(|r| r.base_secs));
    let parallel_secs = measured
        .iter()
        .map(|r| r.parallel_secs)
        .collect::<Option<Vec<f64>>>()
        .map(|p| median(p.into_iter()));
    let produced = u64::from(setup.spec().workload.records) * seeds;

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
    if rounds > 1 {
        let spread = |f: &dyn Fn(&Round) -> f64| {
            let (lo, hi) = measured
                .iter()
                .map(f)
                .fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
                    (lo.min(x), hi.max(x))
                });
            // Two decimals for a long run's few seeds a second.
            let digits = if lo < 10.0 { 2 } else { 0 };
            format!("{lo:.digits$}\u{2013}{hi:.digits$}")
        };
        let mut line = format!(
            "{rounds} (the figures above are medians; seeds/s {}, records/s {}",
            spread(&|r: &Round| seeds as f64 / r.secs),
            spread(&|r: &Round| produced as f64 / r.secs)
        );
        if parallel_secs.is_some() {
            line += &format!(
                ", jobs {jobs} {} seeds/s",
                spread(&|r: &Round| r.parallel_secs.map_or(0.0, |p| seeds as f64 / p))
            );
        }
        println!("rounds          {line})");
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

/// One round of measurements.
struct Round {
    /// Seconds for the seeds one after the other.
    secs: f64,
    /// Seconds for as many events through the bare loop.
    base_secs: f64,
    /// Seconds for the seeds on the pool (`None` with one job).
    parallel_secs: Option<f64>,
    /// Engine events over the seeds.
    events: u64,
    /// History events over the seeds.
    history: u64,
    /// Seeds not meeting their expectations.
    failed: u64,
}

impl Round {
    fn measure(setup: &Setup, seeds: u64, jobs: usize) -> Round {
        let start = Instant::now();
        let mut events = 0u64;
        let mut history = 0u64;
        let mut failed = 0u64;
        for s in 0..seeds {
            let run = faultline::run(setup, s);
            events += run.sim.stats.events;
            history += run.sim.history.events.len() as u64;
            failed += u64::from(!run.verdict.pass);
        }
        let secs = start.elapsed().as_secs_f64();
        let base_secs = bare_loop_secs(events);
        // The same seeds again, spread over a thread pool as `explore`
        // spreads them.
        let parallel_secs = (jobs > 1 && seeds > 1)
            .then(|| parallel_secs(setup, seeds, jobs))
            .flatten();
        Round {
            secs,
            base_secs,
            parallel_secs,
            events,
            history,
            failed,
        }
    }
}

/// Seconds to push `events` events through a bare queue with one ChaCha8
/// draw each: no models, no network, no checks.
fn bare_loop_secs(events: u64) -> f64 {
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
    start.elapsed().as_secs_f64()
}

/// The median of some figures (the mean of the middle two of an even
/// number); 0 for none.
fn median(xs: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = xs.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
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
