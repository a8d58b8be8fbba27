//! Command-line parsing and the commands.
//!
//! Exit codes: 0 every expectation met; 1 an expectation not met (or a
//! replay that did not reproduce); 2 bad input or usage.

mod bench;
mod check;
mod explore;
mod merge;
mod replay;
mod run;
mod shrink;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use faultline::explore::Shard;

/// Deterministic simulator and chaos test harness for messaging systems.
#[derive(Parser, Debug)]
#[command(name = "faultline", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario file, or every scenario under a directory.
    ///
    /// Writes result.json, history.jsonl, report.html, summary.md and
    /// junit.xml per scenario (and, for a directory, index.html, junit.xml
    /// and summary.md at the top). Exit 0 when every expectation holds, 1
    /// when one does not, 2 on bad input.
    Run {
        /// A scenario file (.toml) or a directory of them.
        path: PathBuf,
        /// Run with this seed instead of the file's.
        #[arg(long)]
        seed: Option<u64>,
        /// Use the seed's swarm fault mix, as `explore` draws it, instead of
        /// the scenario's chaos rates (to rerun a seed explore reported).
        #[arg(long)]
        swarm: bool,
        /// Output directory (default: reports/<scenario>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print only failures and the final tally.
        #[arg(long, short)]
        quiet: bool,
        /// Also write kafka-history.jsonl: the run as a Kafka test history
        /// (the shape `faultline check` reads), sends and polls per
        /// partition.
        #[arg(long)]
        kafka_history: bool,
        /// Also write trace.log: every event of the run as a `tracing` log
        /// stamped with simulated time (faults at WARN, handler panics at
        /// ERROR).
        #[arg(long)]
        trace: bool,
    },
    /// Explore many seeds: each draws its own fault mix within the
    /// scenario's chaos bounds (swarm testing). Prints violated invariants
    /// with their first seed, and fault coverage; writes explore.json and
    /// shrinks the first violation of each invariant.
    ///
    /// Exit 0 when every seed keeps the invariants the scenario expects to
    /// hold (and some seed violates each it expects violated), 1 otherwise.
    Explore {
        /// A scenario file (.toml) or a directory of them.
        path: PathBuf,
        /// Seeds: A..B (B excluded) or a count N (0..N).
        #[arg(long, default_value = "0..1000", value_parser = faultline::explore::parse_seeds)]
        seeds: std::ops::Range<u64>,
        /// Runs in parallel (default: the number of cores).
        #[arg(long, short, value_parser = clap::value_parser!(u64).range(1..=1024))]
        jobs: Option<u64>,
        /// Explore only shard K of N (seeds with seed % N == K - 1); merge
        /// the shards' explore.json files with `faultline merge`.
        #[arg(long, value_parser = Shard::parse)]
        shard: Option<Shard>,
        /// Stop at the first seed that violates an invariant.
        #[arg(long)]
        until_first: bool,
        /// Run every seed with the scenario's own chaos rates.
        #[arg(long)]
        no_swarm: bool,
        /// Do not shrink the violations found.
        #[arg(long)]
        no_shrink: bool,
        /// Save shrunk unexpected violations here, and replay the scenarios
        /// in it before exploring.
        #[arg(long, value_name = "DIR")]
        save_regressions: Option<PathBuf>,
        /// Shift the seed range by an offset derived from the git commit
        /// (git rev-parse HEAD, else $GITHUB_SHA or $CI_COMMIT_SHA), so CI
        /// tries new seeds on every commit; the effective range is printed.
        #[arg(long)]
        seed_from_git: bool,
        /// Output directory (default: reports/<scenario>/explore, or
        /// reports/explore for a directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress bar; print only failing explorations, failing
        /// regressions, shrunk findings and the tally.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Merge the explore.json files of shards into one summary.
    Merge {
        /// The shards' explore.json files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write the merged explore.json here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Shrink a failing run to a minimal scenario file that still violates
    /// the same invariant.
    ///
    /// Takes a result.json (faultline run), an explore.json (its first
    /// failure) or a scenario file with --seed. Exit 0 when the shrunk
    /// scenario is written (and reproduces the violation), 1 when the run
    /// violates nothing to shrink or cannot be shrunk, 2 on bad input.
    Shrink {
        /// result.json, explore.json or a scenario .toml.
        input: PathBuf,
        /// The seed (default: the recorded one, or the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// The seed ran under its swarm fault mix (recorded files say so).
        #[arg(long)]
        swarm: bool,
        /// The invariant to preserve (default: the first the run violates
        /// unexpectedly, else the first it violates).
        #[arg(long, value_parser = shrink::parse_invariant)]
        invariant: Option<faultline::Invariant>,
        /// Output directory (default: reports/<scenario>/shrunk).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a Kafka history recorded outside the simulator (one JSON
    /// operation per line, as Jepsen's and Maelstrom's Kafka workloads
    /// record them) for the field's anomalies: lost-write, duplicate,
    /// poll-skip, G1a, ... Exit 0 when every anomaly found is tolerated, 1
    /// when one is not, 2 on bad input.
    Check {
        /// The history (.jsonl).
        history: PathBuf,
        /// Judge as assign or subscribe mode (default: subscribe if the
        /// history has a subscribe operation).
        #[arg(long, value_parser = parse_mode)]
        mode: Option<faultline::kafka_history::Mode>,
        /// Draw write-write edges from offset order when looking for
        /// cycles (G1c is then tolerated).
        #[arg(long)]
        ww_deps: bool,
        /// Output directory (default: reports/check/<history file stem>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Re-run a recorded result and confirm its history digest matches.
    Replay {
        /// A result.json written by `faultline run`.
        result: PathBuf,
        /// Also write the replayed run's output here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Measure simulation speed and peak memory on a scenario (default: the
    /// standard bench).
    Bench {
        /// The scenario.
        #[arg(default_value = "scenarios/bench/standard.toml")]
        scenario: PathBuf,
        /// Seeds to run.
        #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(1..))]
        seeds: u64,
        /// Produce this many records instead of the scenario's (a fault
        /// window the file sets moves by the extra time the records take),
        /// to time one big run: `--seeds 1 --records 1000000`.
        #[arg(
            long,
            value_parser = clap::value_parser!(u64).range(1..=faultline::setup::bounds::RECORDS_MAX)
        )]
        records: Option<u64>,
        /// After the serial runs, run the same seeds again on this many
        /// threads and report the speed-up (default: one per core; 1 skips
        /// it).
        #[arg(long, short = 'j', value_parser = clap::value_parser!(u64).range(1..=1024))]
        jobs: Option<u64>,
        /// Measure this many times, one round after another, and report
        /// the medians and the spread: on a shared machine speeds vary
        /// from minute to minute.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
        rounds: u64,
    },
}

/// Exit status of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything as expected.
    Ok,
    /// An expectation was not met.
    Failed,
    /// Bad input or usage.
    BadInput,
}

impl Status {
    fn code(self) -> ExitCode {
        match self {
            Status::Ok => ExitCode::SUCCESS,
            Status::Failed => ExitCode::from(1),
            Status::BadInput => ExitCode::from(2),
        }
    }

    /// The worse of two statuses (bad input beats failure beats ok).
    pub fn worst(self, other: Status) -> Status {
        use Status::*;
        match (self, other) {
            (BadInput, _) | (_, BadInput) => BadInput,
            (Failed, _) | (_, Failed) => Failed,
            _ => Ok,
        }
    }
}

/// Parses `--mode`.
fn parse_mode(s: &str) -> Result<faultline::kafka_history::Mode, String> {
    match s {
        "assign" => Ok(faultline::kafka_history::Mode::Assign),
        "subscribe" => Ok(faultline::kafka_history::Mode::Subscribe),
        _ => Err("expected assign or subscribe".into()),
    }
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    faultline::report::quiet_user_panics();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let status = match cli.command {
        Command::Run {
            path,
            seed,
            swarm,
            out,
            quiet,
            kafka_history,
            trace,
        } => run::run(
            &path,
            run::Opts {
                seed,
                swarm,
                quiet,
                kafka_history,
                trace,
            },
            out.as_deref(),
        ),
        Command::Explore {
            path,
            seeds,
            jobs,
            shard,
            until_first,
            no_swarm,
            no_shrink,
            save_regressions,
            seed_from_git,
            out,
            quiet,
        } => explore::command(explore::Args {
            path,
            seeds,
            jobs: jobs.map_or_else(
                || std::thread::available_parallelism().map_or(1, usize::from),
                |j| j as usize,
            ),
            shard,
            until_first,
            swarm: !no_swarm,
            shrink: !no_shrink,
            regressions: save_regressions,
            seed_from_git,
            out,
            quiet,
        }),
        Command::Merge { files, out } => merge::command(&files, out.as_deref()),
        Command::Shrink {
            input,
            seed,
            swarm,
            invariant,
            out,
        } => shrink::command(&input, seed, swarm, invariant, out.as_deref()),
        Command::Replay { result, out } => replay::replay(&result, out.as_deref()),
        Command::Check {
            history,
            mode,
            ww_deps,
            out,
        } => check::command(&history, mode, ww_deps, out),
        Command::Bench {
            scenario,
            seeds,
            records,
            jobs,
            rounds,
        } => bench::bench(&scenario, seeds, records, jobs, rounds),
    };
    status.code()
}
