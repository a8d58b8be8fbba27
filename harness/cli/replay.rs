//! `faultline replay`: re-run a recorded result from the scenario text and
//! seed it carries, and confirm the history is byte-identical.

use std::path::Path;

use faultline::history::jsonl::digest;
use faultline::report::{ResultFile, SCHEMA_VERSION};
use faultline::scenario;

use super::Status;
use faultline::Registry;
use faultline::setup::Setup;

use super::run::report_error;
use faultline::report::files::write_run;

/// Replays `result`.
pub fn replay(result: &Path, out: Option<&Path>) -> Status {
    let text = match std::fs::read_to_string(result) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: cannot read the result: {e}", result.display());
            return Status::BadInput;
        }
    };
    let recorded: ResultFile = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "error: {}: not a faultline result.json: {e}",
                result.display()
            );
            return Status::BadInput;
        }
    };
    if recorded.schema_version != SCHEMA_VERSION {
        eprintln!(
            "error: {}: schema_version {} is not supported (this faultline reads {SCHEMA_VERSION})",
            result.display(),
            recorded.schema_version
        );
        return Status::BadInput;
    }
    if recorded.faultline_version != faultline::VERSION {
        eprintln!(
            "warning: recorded with faultline {}, replaying with {}; a seed may mean something else across versions",
            recorded.faultline_version,
            faultline::VERSION
        );
    }
    let path = Path::new(&recorded.scenario.path);
    if let Ok(current) = scenario::load(path)
        && current.digest != recorded.scenario.digest
    {
        eprintln!(
            "note: {} has changed since this run was recorded; replaying the recorded copy",
            path.display()
        );
    }
    let (loaded, setup) = match Setup::parse(
        path,
        recorded.scenario_source.clone(),
        &Registry::with_built_ins(),
    ) {
        Ok(x) => x,
        Err(e) => return report_error(&e),
    };
    let plan = faultline::explore::plan_for(&setup, recorded.seed, recorded.swarm);
    let run = faultline::run_with(&setup, &plan, recorded.seed);
    let replayed = match out {
        Some(dir) => match write_run(dir, &loaded, &run, &plan, recorded.swarm) {
            Ok(r) => r.history_digest,
            Err(e) => {
                eprintln!("error: {}: cannot write the report: {e}", dir.display());
                return Status::BadInput;
            }
        },
        None => digest(&run.sim.names()),
    };
    let verdict = if run.verdict.pass { "pass" } else { "fail" };
    if replayed == recorded.history_digest && verdict == recorded.verdict {
        println!(
            "replayed {} with seed {}: history digest matches ({}), verdict {verdict}",
            recorded.scenario.path, recorded.seed, replayed
        );
        Status::Ok
    } else {
        println!(
            "replayed {} with seed {}: DIFFERENT\n  recorded digest {} verdict {}\n  replayed digest {} verdict {verdict}",
            recorded.scenario.path,
            recorded.seed,
            recorded.history_digest,
            recorded.verdict,
            replayed
        );
        Status::Failed
    }
}
