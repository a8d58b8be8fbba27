//! Writing a run's files, and a directory run's combined files.
//!
//! Per run: `history.jsonl`, `result.json`, `report.html`, `summary.md`,
//! `junit.xml`. Per directory run, at the top of the output directory: one
//! `junit.xml` with a test case per scenario, `summary.md` and an
//! `index.html` linking every report.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::faults::FaultPlan;
use crate::history::jsonl::write_history;
use crate::run::Run;
use crate::scenario::Loaded;

use super::html::{self, ReportInput, index};
use super::junit::{self, Outcome};
use super::markdown::{self, SuiteLine};
use super::result::{ResultFile, build_result};

/// Writes every file of a run into `dir` (created if missing) and returns
/// its result. `plan`: the faults it ran under; `swarm`: they were the
/// seed's swarm mix.
pub fn write_run(
    dir: &Path,
    loaded: &Loaded,
    run: &Run,
    plan: &FaultPlan,
    swarm: bool,
) -> io::Result<ResultFile> {
    fs::create_dir_all(dir)?;
    let mut history = BufWriter::new(fs::File::create(dir.join("history.jsonl"))?);
    let digest = write_history(&mut history, &run.sim.names())?;
    history.flush()?;
    let result = build_result(loaded, run, swarm, digest);
    let mut json = serde_json::to_string_pretty(&result).map_err(io::Error::other)?;
    json.push('\n');
    fs::write(dir.join("result.json"), json)?;
    let description = loaded.file.description.as_str();
    let page = html::render(&ReportInput {
        result: &result,
        description,
        sim: &run.sim,
        plan,
        links: html::run_links(),
    });
    fs::write(dir.join("report.html"), page)?;
    fs::write(
        dir.join("summary.md"),
        markdown::run_summary(&result, description),
    )?;
    // Paths in junit.xml are relative to it, so the file does not depend on
    // where the output directory is.
    let case = junit::test_case(&Outcome::Ran(&result), ".");
    let report = junit::report(&result.scenario.path, vec![case]);
    fs::write(dir.join("junit.xml"), junit::to_xml(&report)?)?;
    Ok(result)
}

/// One scenario of a directory run.
pub struct SuiteEntry {
    /// The scenario file, as found.
    pub path: String,
    /// Its report directory.
    pub dir: PathBuf,
    /// Its result and description, or why it did not run.
    pub outcome: Result<(ResultFile, String), String>,
}

/// `dir` relative to `base`, with `/` between components (as links and
/// junit files name it, whatever the platform).
pub fn relative(base: &Path, dir: &Path) -> String {
    dir.strip_prefix(base)
        .unwrap_or(dir)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Writes the combined `junit.xml`, `summary.md` and `index.html` of the
/// scenarios run under `root` into `base`.
pub fn write_suite(base: &Path, root: &str, entries: &[SuiteEntry]) -> io::Result<()> {
    fs::create_dir_all(base)?;
    let rel = |dir: &Path| relative(base, dir);
    let cases = entries
        .iter()
        .map(|e| {
            let report = rel(&e.dir);
            match &e.outcome {
                Ok((r, _)) => junit::test_case(&Outcome::Ran(r), &report),
                Err(message) => junit::test_case(
                    &Outcome::Invalid {
                        path: &e.path,
                        message,
                    },
                    &report,
                ),
            }
        })
        .collect();
    fs::write(
        base.join("junit.xml"),
        junit::to_xml(&junit::report(root, cases))?,
    )?;
    let lines: Vec<SuiteLine<'_>> = entries
        .iter()
        .map(|e| SuiteLine {
            path: &e.path,
            result: e.outcome.as_ref().ok().map(|(r, _)| r),
            error: e.outcome.as_ref().err().map(String::as_str),
            report: rel(&e.dir),
        })
        .collect();
    fs::write(
        base.join("summary.md"),
        markdown::suite_summary(root, &lines),
    )?;
    let items: Vec<index::Entry> = entries
        .iter()
        .map(|e| match &e.outcome {
            Ok((r, description)) => index::Entry {
                verdict: r.verdict.clone(),
                name: r.scenario.name.clone(),
                path: e.path.clone(),
                description: description.clone(),
                seed: r.seed.to_string(),
                unmet: r
                    .expectations
                    .iter()
                    .filter(|x| !x.met)
                    .map(|x| x.invariant.clone())
                    .collect(),
                shows: r
                    .expectations
                    .iter()
                    .filter(|x| x.met && x.violations > 0)
                    .map(|x| x.invariant.clone())
                    .collect(),
                report: html::escape(&format!("{}/report.html", rel(&e.dir))).into_owned(),
            },
            Err(message) => index::Entry {
                verdict: "invalid".to_owned(),
                name: e.path.clone(),
                path: e.path.clone(),
                description: message.lines().next().unwrap_or("").to_owned(),
                seed: String::new(),
                unmet: Vec::new(),
                shows: Vec::new(),
                report: String::new(),
            },
        })
        .collect();
    fs::write(base.join("index.html"), index::render(root, &items))?;
    Ok(())
}
