//! Command-line parsing and the commands.
//!
//! Exit codes: 0 every expectation met; 1 an expectation not met (or a
//! replay that did not reproduce); 2 bad input or usage.

mod bench;
mod replay;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Writes result.json and history.jsonl per scenario. Exit 0 when every
    /// expectation holds, 1 when one does not, 2 on bad input.
    Run {
        /// A scenario file (.toml) or a directory of them.
        path: PathBuf,
        /// Run with this seed instead of the file's.
        #[arg(long)]
        seed: Option<u64>,
        /// Output directory (default: reports/<scenario>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print only failures and the final tally.
        #[arg(long, short)]
        quiet: bool,
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
            out,
            quiet,
        } => run::run(&path, seed, out.as_deref(), quiet),
        Command::Replay { result, out } => replay::replay(&result, out.as_deref()),
        Command::Bench {
            scenario,
            seeds,
            records,
        } => bench::bench(&scenario, seeds, records),
    };
    status.code()
}
