//! `faultline run`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use faultline::history::jsonl::write_history;
use faultline::registry::Registry;
use faultline::report::text::summary;
use faultline::report::{ResultFile, build_result};
use faultline::scenario::{self, Diagnostic, Loaded, ScenarioError, span_of};
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
            let s = run_file(file, seed, &base.join(rel), quiet);
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
        run_file(path, seed, &dir, quiet)
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

/// Loads a scenario and resolves it, printing diagnostics on failure.
pub fn prepare(loaded: Result<Loaded, ScenarioError>) -> Result<(Loaded, Setup), Status> {
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            eprint!("{}", with_prefix(&e));
            return Err(Status::BadInput);
        }
    };
    match Setup::from_file(&loaded.file, &Registry::with_built_ins()) {
        Ok(setup) => Ok((loaded, setup)),
        Err(problems) => {
            let file = loaded.path.display().to_string();
            let diags = problems
                .into_iter()
                .map(|p| {
                    let span = span_of(&loaded.source, &p.field);
                    Diagnostic::new(&file, &loaded.source, span, p.field, p.message, p.help)
                })
                .collect();
            eprint!("{}", ScenarioError::Invalid(diags));
            Err(Status::BadInput)
        }
    }
}

fn with_prefix(e: &ScenarioError) -> String {
    match e {
        ScenarioError::Io { .. } => format!("error: {e}\n"),
        ScenarioError::Invalid(_) => e.to_string(),
    }
}

fn run_file(path: &Path, seed: Option<u64>, out: &Path, quiet: bool) -> Status {
    let (loaded, setup) = match prepare(scenario::load(path)) {
        Ok(x) => x,
        Err(s) => return s,
    };
    let seed = seed.unwrap_or(setup.seed);
    let run = faultline::run(&setup, seed);
    match write_outputs(out, &loaded, &run) {
        Ok(result) => {
            let pass = result.verdict == "pass";
            if !quiet || !pass {
                print!("{}", summary(&result, &out.display().to_string()));
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
