//! `faultline shrink`: from a failing run to a minimal scenario file.

use std::path::{Path, PathBuf};

use faultline::explore::Exploration;
use faultline::report::ResultFile;
use faultline::report::files::write_run;
use faultline::scenario::Loaded;
use faultline::setup::Setup;
use faultline::shrink::{Shrunk, shrink};
use faultline::{Invariant, Registry};

use super::Status;
use super::run::report_error;

/// What to shrink, read from a result file, an exploration or a scenario.
struct Target {
    loaded: Loaded,
    seed: u64,
    swarm: bool,
    invariant: Option<Invariant>,
}

/// Parses an invariant's kebab-case name (for clap).
pub fn parse_invariant(s: &str) -> Result<Invariant, String> {
    Invariant::ALL
        .iter()
        .copied()
        .find(|i| i.name() == s)
        .ok_or_else(|| {
            let names: Vec<&str> = Invariant::ALL.iter().map(|i| i.name()).collect();
            format!("expected one of {}", names.join(", "))
        })
}

/// Runs `faultline shrink`.
pub fn command(
    input: &Path,
    seed: Option<u64>,
    swarm: bool,
    invariant: Option<Invariant>,
    out: Option<&Path>,
) -> Status {
    let target = match target(input, seed, swarm, invariant) {
        Ok(t) => t,
        Err(status) => return status,
    };
    let dir = out.map_or_else(
        || {
            PathBuf::from("reports")
                .join(stem(&target.loaded.path))
                .join("shrunk")
        },
        Path::to_path_buf,
    );
    match shrink_to_dir(
        &target.loaded,
        target.seed,
        target.swarm,
        target.invariant,
        &dir,
    ) {
        Ok((path, shrunk)) => {
            print_shrunk(&shrunk, &path);
            Status::Ok
        }
        Err(message) => {
            eprintln!("error: {message}");
            Status::Failed
        }
    }
}

fn target(
    input: &Path,
    seed: Option<u64>,
    swarm: bool,
    invariant: Option<Invariant>,
) -> Result<Target, Status> {
    if input.extension().is_some_and(|x| x == "json") {
        let text = std::fs::read_to_string(input).map_err(|e| {
            eprintln!("error: {}: cannot read it: {e}", input.display());
            Status::BadInput
        })?;
        if let Ok(r) = serde_json::from_str::<ResultFile>(&text) {
            let loaded = checked(Path::new(&r.scenario.path), r.scenario_source)?;
            return Ok(Target {
                loaded,
                seed: seed.unwrap_or(r.seed),
                swarm: r.swarm || swarm,
                invariant,
            });
        }
        if let Ok(x) = serde_json::from_str::<Exploration>(&text) {
            // The scenario as it was explored, wherever it is now.
            let loaded = checked(Path::new(&x.scenario.path), x.scenario_source.clone())?;
            // The first seed that failed, else the first seed of the first
            // violated invariant (or of the one asked for).
            let chosen = seed.or_else(|| {
                let first_of = |inv: Invariant| {
                    x.violations
                        .iter()
                        .find(|v| v.invariant == inv)
                        .map(|v| v.first_seed)
                };
                match invariant {
                    Some(inv) => first_of(inv),
                    None => x
                        .failures
                        .first()
                        .map(|f| f.seed)
                        .or_else(|| x.violations.first().map(|v| v.first_seed)),
                }
            });
            let Some(seed) = chosen else {
                eprintln!(
                    "error: {}: the exploration found no violation{}: nothing to shrink",
                    input.display(),
                    invariant.map_or(String::new(), |i| format!(" of {}", i.name()))
                );
                return Err(Status::Failed);
            };
            return Ok(Target {
                loaded,
                seed,
                swarm: x.swarm || swarm,
                invariant,
            });
        }
        eprintln!(
            "error: {}: neither a result.json (faultline run) nor an explore.json (faultline explore)",
            input.display()
        );
        return Err(Status::BadInput);
    }
    let loaded = match Setup::load(input, &Registry::with_built_ins()) {
        Ok((loaded, _)) => loaded,
        Err(e) => return Err(report_error(&e)),
    };
    let seed = seed.unwrap_or(loaded.file.seed);
    Ok(Target {
        loaded,
        seed,
        swarm,
        invariant,
    })
}

/// Recorded scenario text, checked as `faultline run` would check it.
fn checked(path: &Path, source: String) -> Result<Loaded, Status> {
    match Setup::parse(path, source, &Registry::with_built_ins()) {
        Ok((loaded, _)) => Ok(loaded),
        Err(e) => Err(report_error(&e)),
    }
}

/// The file stem of a scenario path, for output names.
pub fn stem(path: &Path) -> String {
    path.file_stem().map_or_else(
        || "scenario".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// Shrinks `(loaded, seed)` and writes the scenario into `dir` as
/// `<stem>-<invariant>-seed<N>.toml`, after checking that the written file
/// reproduces the violation.
pub fn shrink_to_dir(
    loaded: &Loaded,
    seed: u64,
    swarm: bool,
    invariant: Option<Invariant>,
    dir: &Path,
) -> Result<(PathBuf, Shrunk), String> {
    let registry = Registry::with_built_ins();
    let shrunk = shrink(&loaded.file, &registry, seed, swarm, invariant)
        .map_err(|e| format!("{}: {e}", loaded.path.display()))?;
    let chaos = Setup::from_file(&loaded.file, &registry).is_ok_and(|s| s.plan.chaos.any());
    let origin = format!(
        "{}{}",
        loaded.path.display(),
        if swarm && chaos {
            " (swarm fault mix)"
        } else {
            ""
        }
    );
    let text = shrunk.to_toml(&origin);
    let path = dir.join(format!(
        "{}-{}-seed{}.toml",
        stem(&loaded.path),
        shrunk.invariant.name(),
        seed
    ));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, &text))
        .map_err(|e| format!("{}: cannot write it: {e}", path.display()))?;
    // The file on disk, read back, must reproduce the violation.
    let (reread, setup) =
        Setup::parse(&path, text, &registry).map_err(|e| format!("{}: {e}", path.display()))?;
    let run = faultline::run(&setup, setup.seed);
    if !run.checked.violated(shrunk.invariant) {
        return Err(format!(
            "{}: the shrunk scenario does not reproduce {}; please report this",
            path.display(),
            shrunk.invariant.name()
        ));
    }
    let report = path.with_extension("");
    write_run(&report, &reread, &run, &setup.plan, false)
        .map_err(|e| format!("{}: cannot write the report: {e}", report.display()))?;
    Ok((path, shrunk))
}

/// Prints what shrinking removed.
pub fn print_shrunk(s: &Shrunk, path: &Path) {
    let mut removed = format!("faults {} -> {}", s.faults_before, s.faults_after);
    for (what, before, after) in &s.dimensions {
        if before != after {
            removed.push_str(&format!(", {what} {before} -> {after}"));
        }
    }
    println!(
        "shrunk {} at seed {} ({} runs): {removed}\n  wrote {}\n  report: {}\n  reproduce: faultline run {}",
        s.invariant.name(),
        s.seed,
        s.runs,
        path.display(),
        path.with_extension("").join("report.html").display(),
        path.display()
    );
}
