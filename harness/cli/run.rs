//! `faultline run`.

use std::cell::RefCell;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use faultline::explore::plan_for;
use faultline::registry::Registry;
use faultline::report::files::{SuiteEntry, write_run, write_suite};
use faultline::report::text::summary;
use faultline::scenario::ScenarioError;
use faultline::setup::Setup;

use super::Status;

/// How `run` runs each scenario.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    /// The seed instead of the file's.
    pub seed: Option<u64>,
    /// Run under the seed's swarm fault mix.
    pub swarm: bool,
    /// Print only failures and the tally.
    pub quiet: bool,
    /// Also write `kafka-history.jsonl`.
    pub kafka_history: bool,
    /// Also write `trace.log`.
    pub trace: bool,
}

/// Runs a file or a directory of scenarios.
pub fn run(path: &Path, opts: Opts, out: Option<&Path>) -> Status {
    if path.is_dir() {
        let base = out.map_or_else(|| PathBuf::from("reports"), Path::to_path_buf);
        let entries = RefCell::new(Vec::new());
        let run_one = |file: &Path, dir: &Path| {
            let (status, entry) = run_file(file, opts, dir, false);
            entries.borrow_mut().push(entry);
            status
        };
        let write_index =
            || match write_suite(&base, &path.display().to_string(), &entries.borrow()) {
                Ok(()) => {
                    if !opts.quiet {
                        println!("index: {}", base.join("index.html").display());
                    }
                    Status::Ok
                }
                Err(e) => {
                    eprintln!(
                        "error: {}: cannot write the suite's files: {e}",
                        base.display()
                    );
                    Status::BadInput
                }
            };
        for_each_scenario(path, &base, "", run_one, write_index)
    } else {
        let dir = out.map_or_else(
            || PathBuf::from("reports").join(path.file_stem().unwrap_or_default()),
            Path::to_path_buf,
        );
        run_file(path, opts, &dir, true).0
    }
}

/// Runs `f(file, report directory)` for every scenario file under `root`
/// (report directories mirror the tree under `base`), then `finish`, then
/// prints the tally (after `verb`, like "explored ") and returns the worst
/// status.
pub fn for_each_scenario(
    root: &Path,
    base: &Path,
    verb: &str,
    mut f: impl FnMut(&Path, &Path) -> Status,
    finish: impl FnOnce() -> Status,
) -> Status {
    let mut files = Vec::new();
    if let Err(e) = collect(root, &mut files) {
        eprintln!("error: {}: cannot read the directory: {e}", root.display());
        return Status::BadInput;
    }
    if files.is_empty() {
        eprintln!(
            "error: {}: no scenario files (*.toml) found",
            root.display()
        );
        return Status::BadInput;
    }
    let (mut passed, mut failed, mut invalid) = (0, 0, 0);
    let mut status = Status::Ok;
    for file in &files {
        let rel = file.strip_prefix(root).unwrap_or(file);
        let s = f(file, &report_dir(base, rel));
        match s {
            Status::Ok => passed += 1,
            Status::Failed => failed += 1,
            Status::BadInput => invalid += 1,
        }
        status = status.worst(s);
    }
    status = status.worst(finish());
    println!(
        "{verb}{} scenario{}: {passed} passed, {failed} failed, {invalid} invalid",
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    status
}

/// Every `*.toml` under `dir`, sorted, recursively. Symbolic links to
/// directories are not followed (no loops, nothing outside the tree).
pub fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        entries.push((e.path(), e.file_type()?));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (p, kind) in entries {
        if kind.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "toml") && p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// The report directory of a scenario found at `rel` below the scanned
/// directory: the same relative path without `.toml`, with any component
/// that could leave the output directory replaced.
pub fn report_dir(base: &Path, rel: &Path) -> PathBuf {
    let mut dir = base.to_path_buf();
    for c in rel.with_extension("").components() {
        match c {
            std::path::Component::Normal(s) => dir.push(s),
            _ => dir.push("_"),
        }
    }
    dir
}

/// Prints a scenario error as the user should see it.
pub fn report_error(e: &ScenarioError) -> Status {
    match e {
        ScenarioError::Io { .. } => eprintln!("error: {e}"),
        ScenarioError::Invalid(_) => eprint!("{e}"),
    }
    Status::BadInput
}

fn run_file(path: &Path, opts: Opts, out: &Path, detail: bool) -> (Status, SuiteEntry) {
    let Opts {
        seed, swarm, quiet, ..
    } = opts;
    let entry = |outcome| SuiteEntry {
        path: path.display().to_string(),
        dir: out.to_path_buf(),
        outcome,
    };
    let (loaded, setup) = match Setup::load(path, &Registry::with_built_ins()) {
        Ok(x) => x,
        Err(e) => return (report_error(&e), entry(Err(e.to_string()))),
    };
    let seed = seed.unwrap_or(setup.seed);
    let plan = plan_for(&setup, seed, swarm);
    let run = faultline::run_with(&setup, &plan, seed);
    let written = write_run(out, &loaded, &run, &plan, swarm).and_then(|result| {
        if opts.kafka_history {
            let file = fs::File::create(out.join("kafka-history.jsonl"))?;
            let mut w = BufWriter::new(file);
            faultline::kafka_history::export::write(&mut w, &run.sim.names())?;
            w.flush()?;
        }
        if opts.trace {
            let log = faultline::report::trace::trace_log(&run.sim.names())?;
            fs::write(out.join("trace.log"), log)?;
        }
        Ok(result)
    });
    match written {
        Ok(result) => {
            let pass = result.verdict == "pass";
            if !quiet || !pass {
                print!("{}", summary(&result, &out.display().to_string(), detail));
            }
            let status = if pass { Status::Ok } else { Status::Failed };
            (status, entry(Ok((result, loaded.file.description.clone()))))
        }
        Err(e) => {
            let message = format!("{}: cannot write the report: {e}", out.display());
            eprintln!("error: {message}");
            (Status::BadInput, entry(Err(message)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_dirs_stay_inside_the_output_directory() {
        let base = Path::new("out");
        assert_eq!(
            report_dir(base, Path::new("kafka/a.toml")),
            Path::new("out/kafka/a")
        );
        assert_eq!(report_dir(base, Path::new("..toml")), Path::new("out/_"));
        assert!(report_dir(base, Path::new("../x.toml")).starts_with("out"));
    }
}
