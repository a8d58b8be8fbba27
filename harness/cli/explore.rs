//! `faultline explore`: many seeds of a scenario (or of every scenario
//! under a directory), each with its own fault mix, with saved regressions
//! replayed first and the first violation of each invariant shrunk.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use faultline::Registry;
use faultline::explore::{Exploration, Options, SeedOutcome, Shard, explore, plan_for, text};
use faultline::report::files::{relative, write_run};
use faultline::report::junit;
use faultline::scenario::Loaded;
use faultline::setup::{Expect, Setup};

use super::Status;
use super::run::{collect, for_each_scenario, report_error};
use super::shrink::{print_shrunk, shrink_to_dir, stem};

/// The command line of `faultline explore`, parsed.
#[derive(Debug)]
pub struct Args {
    /// A scenario file or a directory of them.
    pub path: PathBuf,
    /// The seed range.
    pub seeds: Range<u64>,
    /// Parallel runs.
    pub jobs: usize,
    /// One shard of the range.
    pub shard: Option<Shard>,
    /// Stop at the first violation.
    pub until_first: bool,
    /// Per-seed fault mixes.
    pub swarm: bool,
    /// Shrink the first violation of each invariant.
    pub shrink: bool,
    /// Where shrunk unexpected violations are saved, and replayed from.
    pub regressions: Option<PathBuf>,
    /// Shift the seeds by an offset derived from the git commit.
    pub seed_from_git: bool,
    /// Output directory.
    pub out: Option<PathBuf>,
    /// No progress bar; summaries of failing explorations only.
    pub quiet: bool,
}

/// Runs `faultline explore`.
pub fn command(mut args: Args) -> Status {
    if args.seed_from_git {
        match git_commit() {
            Ok(commit) => {
                let offset = seed_offset(&commit);
                let (a, b) = (args.seeds.start, args.seeds.end);
                let (Some(start), Some(end)) = (offset.checked_add(a), offset.checked_add(b))
                else {
                    eprintln!("error: --seed-from-git: the seed range {a}..{b} is too large");
                    return Status::BadInput;
                };
                args.seeds = start..end;
                println!(
                    "seeds from commit {}: {start}..{end} (rerun exactly with --seeds {start}..{end})",
                    &commit[..commit.len().min(12)]
                );
            }
            Err(e) => {
                eprintln!("error: --seed-from-git: {e}");
                return Status::BadInput;
            }
        }
    }
    let mut status = Status::Ok;
    if let Some(dir) = &args.regressions {
        status = replay_regressions(dir, args.quiet);
        if status != Status::Ok && args.until_first {
            return status;
        }
    }
    if args.path.is_dir() {
        let base = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("reports/explore"));
        let cases = RefCell::new(Vec::new());
        let explore_one = |file: &Path, dir: &Path| {
            let (status, explored) = explore_file(file, dir, &args);
            let report = relative(&base, dir);
            cases.borrow_mut().extend(match explored {
                Ok(result) => junit::explore_cases(&result, &report),
                Err(message) => vec![junit::test_case(
                    &junit::Outcome::Invalid {
                        path: &file.display().to_string(),
                        message: &message,
                    },
                    &report,
                )],
            });
            status
        };
        let write_combined = || {
            let report = junit::report(&args.path.display().to_string(), cases.take());
            let written = std::fs::create_dir_all(&base)
                .and_then(|()| junit::to_xml(&report))
                .and_then(|xml| std::fs::write(base.join("junit.xml"), xml));
            match written {
                Ok(()) => Status::Ok,
                Err(e) => {
                    eprintln!("error: {}: cannot write junit.xml: {e}", base.display());
                    Status::BadInput
                }
            }
        };
        status.worst(for_each_scenario(
            &args.path,
            &base,
            "explored ",
            explore_one,
            write_combined,
        ))
    } else {
        let dir = args.out.clone().unwrap_or_else(|| {
            PathBuf::from("reports")
                .join(stem(&args.path))
                .join("explore")
        });
        status.worst(explore_file(&args.path, &dir, &args).0)
    }
}

/// Runs every scenario file in `dir` (the shrunk regressions saved by
/// earlier explorations) with its own seed and expectations.
fn replay_regressions(dir: &Path, quiet: bool) -> Status {
    if !dir.exists() {
        return Status::Ok;
    }
    let mut files = Vec::new();
    if let Err(e) = collect(dir, &mut files) {
        eprintln!("error: {}: cannot read the directory: {e}", dir.display());
        return Status::BadInput;
    }
    let registry = Registry::with_built_ins();
    let mut status = Status::Ok;
    let mut failing = 0usize;
    for file in &files {
        let setup = match Setup::load(file, &registry) {
            Ok((_, setup)) => setup,
            Err(e) => {
                status = status.worst(report_error(&e));
                continue;
            }
        };
        let run = faultline::run(&setup, setup.seed);
        if run.verdict.pass {
            if !quiet {
                println!("regression {}: passes", file.display());
            }
        } else {
            failing += 1;
            let missed: Vec<&str> = run
                .verdict
                .judgements
                .iter()
                .filter(|j| !j.met)
                .map(|j| j.invariant.name())
                .collect();
            println!(
                "regression {}: FAILS ({}); reproduce: faultline run {}",
                file.display(),
                missed.join(", "),
                file.display()
            );
            status = status.worst(Status::Failed);
        }
    }
    if !files.is_empty() {
        println!(
            "{} regression{} replayed from {}: {failing} failing",
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            dir.display()
        );
    }
    status
}

/// Explores one scenario file, writing its files into `out`; its status,
/// and the exploration or why the file could not be explored.
fn explore_file(path: &Path, out: &Path, args: &Args) -> (Status, Result<Exploration, String>) {
    let (loaded, setup) = match Setup::load(path, &Registry::with_built_ins()) {
        Ok(x) => x,
        Err(e) => return (report_error(&e), Err(e.to_string())),
    };
    let opts = Options {
        seeds: args.seeds.clone(),
        jobs: args.jobs,
        shard: args.shard,
        until_first: args.until_first,
        swarm: args.swarm,
        round: 0,
    };
    let bar = progress_bar(seeds_in(&opts), args.quiet);
    let findings = AtomicU64::new(0);
    let result = explore(&loaded, &setup, &opts, &|o: &SeedOutcome| {
        if !o.violated.is_empty() {
            let n = findings.fetch_add(1, Ordering::Relaxed) + 1;
            bar.set_message(format!("{n} violating"));
        }
        bar.inc(1);
    });
    bar.finish_and_clear();
    if !args.quiet || result.failed() {
        print!("{}", text::summary(&result));
    }
    if let Err(e) = write_json(out, &result).and_then(|()| write_junit(out, &result)) {
        let message = format!("{}: cannot write the result: {e}", out.display());
        eprintln!("error: {message}");
        return (Status::BadInput, Err(message));
    }
    if !args.quiet {
        println!("wrote {}", out.join("explore.json").display());
    }
    let mut status = if result.failed() {
        Status::Failed
    } else {
        Status::Ok
    };
    status = status.worst(report_first_violations(&loaded, &setup, &result, out, args));
    if args.shrink {
        status = status.worst(shrink_findings(&loaded, &result, out, args));
    }
    (status, Ok(result))
}

/// Writes the full report of the first seed that violated each invariant
/// into `out/failing/seed<N>/`.
fn report_first_violations(
    loaded: &Loaded,
    setup: &Setup,
    result: &Exploration,
    out: &Path,
    args: &Args,
) -> Status {
    let mut seeds: Vec<u64> = result
        .violations
        .iter()
        .filter(|v| v.expect != Expect::Allow)
        .map(|v| v.first_seed)
        .collect();
    seeds.sort_unstable();
    seeds.dedup();
    for seed in seeds {
        let dir = out.join("failing").join(format!("seed{seed}"));
        let plan = plan_for(setup, seed, args.swarm);
        let run = faultline::run_with(setup, &plan, seed);
        if let Err(e) = write_run(&dir, loaded, &run, &plan, args.swarm) {
            eprintln!("error: {}: cannot write the report: {e}", dir.display());
            return Status::BadInput;
        }
        if !args.quiet {
            println!(
                "report of seed {seed}: {}",
                dir.join("report.html").display()
            );
        }
    }
    Status::Ok
}

/// Writes `junit.xml` for an exploration.
fn write_junit(out: &Path, result: &Exploration) -> std::io::Result<()> {
    let cases = junit::explore_cases(result, ".");
    let report = junit::report(&result.scenario.path, cases);
    std::fs::write(out.join("junit.xml"), junit::to_xml(&report)?)
}

/// Shrinks the first violation of each invariant the scenario judges
/// (unexpected ones, and the demonstrations of expected ones) into
/// `out/shrunk/`, and saves the unexpected ones as regressions.
fn shrink_findings(loaded: &Loaded, result: &Exploration, out: &Path, args: &Args) -> Status {
    let mut status = Status::Ok;
    for v in &result.violations {
        let unexpected = match v.expect {
            Expect::Allow => continue,
            Expect::Hold => true,
            Expect::Violate => false,
        };
        let shrunk = shrink_to_dir(
            loaded,
            v.first_seed,
            args.swarm,
            Some(v.invariant),
            &out.join("shrunk"),
        );
        let (file, shrunk) = match shrunk {
            Ok(x) => x,
            Err(e) if unexpected => {
                eprintln!(
                    "error: shrinking {} at seed {}: {e}",
                    v.invariant.name(),
                    v.first_seed
                );
                status = status.worst(Status::Failed);
                continue;
            }
            Err(e) => {
                eprintln!(
                    "warning: shrinking the expected {} at seed {}: {e}",
                    v.invariant.name(),
                    v.first_seed
                );
                continue;
            }
        };
        if unexpected || !args.quiet {
            print_shrunk(&shrunk, &file);
        }
        if let (true, Some(dir)) = (unexpected, &args.regressions) {
            match save_regression(dir, &file) {
                Ok(saved) => println!("  saved as a regression: {}", saved.display()),
                Err(e) => {
                    eprintln!("error: {}: cannot save the regression: {e}", dir.display());
                    status = status.worst(Status::BadInput);
                }
            }
        }
    }
    status
}

/// Copies the shrunk scenario `file` into the regression directory `dir`
/// under its own name, or, when a different file already has that name (a
/// scenario of the same name in another directory), under the name with
/// `-2`, `-3`, ... added. A file with the same text is not saved twice.
fn save_regression(dir: &Path, file: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let text = std::fs::read(file)?;
    let stem = file
        .file_stem()
        .map_or_else(|| "regression".into(), |s| s.to_string_lossy());
    for n in 1u32.. {
        let name = match n {
            1 => format!("{stem}.toml"),
            _ => format!("{stem}-{n}.toml"),
        };
        let saved = dir.join(name);
        match std::fs::read(&saved) {
            Ok(existing) if existing == text => return Ok(saved),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::write(&saved, &text)?;
                return Ok(saved);
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free regression file name"))
}

fn write_json(out: &Path, result: &Exploration) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut json = serde_json::to_string_pretty(result).map_err(std::io::Error::other)?;
    json.push('\n');
    std::fs::write(out.join("explore.json"), json)
}

/// How many seeds `opts` covers (after sharding).
fn seeds_in(opts: &Options) -> u64 {
    let Range { start, end } = opts.seeds;
    match opts.shard {
        None => end - start,
        Some(sh) => {
            // Seeds below `m` in the shard: those with m' % count == index - 1.
            let below = |m: u64| m / sh.count + u64::from(m % sh.count > sh.index - 1);
            below(end) - below(start)
        }
    }
}

/// A progress bar on stderr: seeds done, seeds/s, violating seeds. Hidden
/// when stderr is not a terminal, under CI, or with `--quiet`.
fn progress_bar(len: u64, quiet: bool) -> ProgressBar {
    if quiet || std::env::var_os("CI").is_some() || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let rate = |state: &ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{:.0} seeds/s", state.per_sec());
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:30.cyan/blue} {pos}/{len} seeds  {rate}  eta {eta}  {msg}",
    ) {
        bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
    }
    bar.set_message("0 violating");
    bar
}

/// The commit being tested: `git rev-parse HEAD`, or the commit CI
/// services export (`GITHUB_SHA`, `CI_COMMIT_SHA`) outside a checkout.
fn git_commit() -> Result<String, String> {
    let from_git = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    from_git
        .or_else(|| std::env::var("GITHUB_SHA").ok())
        .or_else(|| std::env::var("CI_COMMIT_SHA").ok())
        .ok_or_else(|| {
            "no git commit found (not in a git checkout, and neither GITHUB_SHA nor CI_COMMIT_SHA is set)"
                .to_owned()
        })
        .and_then(|c| {
            if c.len() >= 8 && c.chars().all(|ch| ch.is_ascii_hexdigit()) {
                Ok(c)
            } else {
                Err(format!("\"{c}\" is not a commit id (expected at least 8 hex digits)"))
            }
        })
}

/// The seed offset of a commit: its first 8 hex digits (32 bits) times
/// 2^20, so every commit starts a fresh block of about a million seeds,
/// and seeds stay below 2^52: exact in JSON tools that read numbers as
/// doubles.
fn seed_offset(commit: &str) -> u64 {
    u64::from_str_radix(&commit[..8], 16).unwrap_or(0) << 20
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_sizes_add_up_to_the_range() {
        for (a, b) in [(0, 10), (3, 17), (5, 6), (7, 7 + 1000)] {
            let total: u64 = (1..=4)
                .map(|k| {
                    seeds_in(&Options {
                        seeds: a..b,
                        jobs: 1,
                        shard: Some(Shard { index: k, count: 4 }),
                        until_first: false,
                        swarm: true,
                        round: 0,
                    })
                })
                .sum();
            assert_eq!(total, b - a);
            for k in 1..=4u64 {
                let sh = Shard { index: k, count: 4 };
                let counted = (a..b).filter(|s| sh.includes(*s)).count() as u64;
                let opts = Options {
                    seeds: a..b,
                    jobs: 1,
                    shard: Some(sh),
                    until_first: false,
                    swarm: true,
                    round: 0,
                };
                assert_eq!(seeds_in(&opts), counted, "{a}..{b} shard {k}/4");
            }
        }
    }

    #[test]
    fn commits_map_to_disjoint_seed_blocks() {
        let a = seed_offset("00000001aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        let b = seed_offset("00000002bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        assert_eq!(b - a, 1 << 20);
        assert!(seed_offset("ffffffffffffffffffffffffffffffffffffffff") + (1 << 20) <= 1 << 52);
    }
}
