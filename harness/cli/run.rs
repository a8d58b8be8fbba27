//! `faultline run`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use faultline::history::jsonl::write_history;
use faultline::registry::Registry;
use faultline::report::text::summary;
use faultline::report::{ResultFile, build_result};
use faultline::scenario::{Loaded, ScenarioError};
use faultline::setup::Setup;

use super::Status;

/// Runs a file or a directory of scenarios.
pub fn run(path: &Path, seed: Option<u64>, out: Option<&Path>, quiet: bool) -> Status {
    if path.is_dir() {
        let mut files = Vec::new();
        if let Err(e) = collect(path, &mut files) {
            eprintln!("error: {}: cannot read the directory: {e}", path.display());
            return Status::BadInput;
        }
        if files.is_empty() {
            eprintln!(
                "error: {}: no scenario files (*.toml) found",
                path.display()
            );
            return Status::BadInput;
        }
        let base = out.map_or_else(|| PathBuf::from("reports"), Path::to_path_buf);
        let (mut passed, mut failed, mut invalid) = (0, 0, 0);
        let mut status = Status::Ok;
        for file in &files {
            let rel = file.strip_prefix(path).unwrap_or(file).with_extension("");
            let s = run_file(file, seed, &base.join(rel), quiet, false);
            match s {
                Status::Ok => passed += 1,
                Status::Failed => failed += 1,
                Status::BadInput => invalid += 1,
            }
            status = status.worst(s);
        }
        println!(
            "{} scenario{}: {passed} passed, {failed} failed, {invalid} invalid",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
        status
    } else {
        let dir = out.map_or_else(
            || PathBuf::from("reports").join(path.file_stem().unwrap_or_default()),
            Path::to_path_buf,
        );
        run_file(path, seed, &dir, quiet, true)
    }
}

/// Every `*.toml` under `dir`, sorted, recursively.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Prints a scenario error as the user should see it.
pub fn report_error(e: &ScenarioError) -> Status {
    match e {
        ScenarioError::Io { .. } => eprintln!("error: {e}"),
        ScenarioError::Invalid(_) => eprint!("{e}"),
    }
    Status::BadInput
}

fn run_file(path: &Path, seed: Option<u64>, out: &Path, quiet: bool, detail: bool) -> Status {
    let (loaded, setup) = match Setup::load(path, &Registry::with_built_ins()) {
        Ok(x) => x,
        Err(e) => return report_error(&e),
    };
    let seed = seed.unwrap_or(setup.seed);
    let run = faultline::run(&setup, seed);
    match write_outputs(out, &loaded, &run) {
        Ok(result) => {
            let pass = result.verdict == "pass";
            if !quiet || !pass {
                print!("{}", summary(&result, &out.display().to_string(), detail));
            }
            if pass { Status::Ok } else { Status::Failed }
        }
        Err(e) => {
            eprintln!("error: {}: cannot write the report: {e}", out.display());
            Status::BadInput
        }
    }
}

/// Writes `history.jsonl` and `result.json` for a run into `dir`.
pub fn write_outputs(
    dir: &Path,
    loaded: &Loaded,
    run: &faultline::Run,
) -> std::io::Result<ResultFile> {
    fs::create_dir_all(dir)?;
    let mut history = BufWriter::new(fs::File::create(dir.join("history.jsonl"))?);
    let digest = write_history(&mut history, &run.sim.names())?;
    history.flush()?;
    let result = build_result(loaded, run, digest);
    let mut json = serde_json::to_string_pretty(&result).map_err(std::io::Error::other)?;
    json.push('\n');
    fs::write(dir.join("result.json"), json)?;
    Ok(result)
}
