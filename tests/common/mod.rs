//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

use faultline::Registry;
use faultline::history::jsonl::write_history;
use faultline::report::build_result;
use faultline::scenario::{self, Loaded};
use faultline::setup::Setup;

/// Every bundled scenario file, sorted.
pub fn bundled() -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"),
        &mut out,
    );
    out.sort();
    assert!(!out.is_empty(), "no bundled scenarios found");
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("scenarios/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

/// Loads and sets up a scenario file with the built-in handlers.
pub fn load(path: &Path) -> (Loaded, Setup) {
    load_with(path, &Registry::with_built_ins())
}

/// Loads and sets up a scenario file with `registry`.
pub fn load_with(path: &Path, registry: &Registry) -> (Loaded, Setup) {
    let loaded = scenario::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let setup = Setup::from_file(&loaded.file, registry)
        .unwrap_or_else(|p| panic!("{}: {p:?}", path.display()));
    (loaded, setup)
}

/// Sets up scenario text (as if read from `name`) with `registry`.
pub fn parse_with(name: &str, text: &str, registry: &Registry) -> (Loaded, Setup) {
    let loaded =
        scenario::parse(Path::new(name), text.to_owned()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let setup =
        Setup::from_file(&loaded.file, registry).unwrap_or_else(|p| panic!("{name}: {p:?}"));
    (loaded, setup)
}

/// Runs a scenario and returns its `history.jsonl` bytes and `result.json`
/// text, exactly as `faultline run` writes them.
pub fn artifacts(loaded: &Loaded, setup: &Setup, seed: u64) -> (Vec<u8>, String) {
    let run = faultline::run(setup, seed);
    let mut history = Vec::new();
    let digest = write_history(&mut history, &run.sim.names()).expect("writing to memory");
    let result = build_result(loaded, &run, false, digest);
    (
        history,
        serde_json::to_string_pretty(&result).expect("serializable"),
    )
}

/// One line per expectation `run` missed, naming the command that replays
/// it (`faultline run <path> --seed <seed>`).
pub fn unmet(path: &Path, seed: u64, run: &faultline::Run) -> Vec<String> {
    run.verdict
        .judgements
        .iter()
        .filter(|j| !j.met)
        .map(|j| {
            format!(
                "faultline run {} --seed {seed}: {} expected {}, {} violations",
                path.display(),
                j.invariant.name(),
                j.expect.name(),
                j.violations
            )
        })
        .collect()
}
