//! `faultline check`: judge a Kafka history recorded outside the simulator.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use faultline::kafka_history::{Analysis, Mode, Options, analyse, parse, text};

use super::Status;

/// What `check` writes to `result.json`.
#[derive(Serialize)]
struct CheckResult<'a> {
    schema_version: u32,
    faultline_version: &'static str,
    kind: &'static str,
    history: HistoryRef,
    #[serde(flatten)]
    analysis: &'a Analysis,
}

#[derive(Serialize)]
struct HistoryRef {
    path: String,
    sha256: String,
}

/// Checks the history at `path`; writes `result.json` under `out` (default
/// `reports/check/<file stem>`).
pub fn command(path: &Path, mode: Option<Mode>, ww_deps: bool, out: Option<PathBuf>) -> Status {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {}: cannot read it: {e}", path.display());
            return Status::BadInput;
        }
    };
    let Ok(source) = std::str::from_utf8(&bytes) else {
        eprintln!("error: {}: not UTF-8 text", path.display());
        return Status::BadInput;
    };
    let ops = match parse(source) {
        Ok(ops) => ops,
        Err(e) => {
            eprintln!("error: {}:{e}", path.display());
            return Status::BadInput;
        }
    };
    let analysis = analyse(&ops, Options { mode, ww_deps });
    print!("{}", text::summary(&path.display().to_string(), &analysis));
    let out = out.unwrap_or_else(|| {
        let stem = path
            .file_stem()
            .map_or_else(|| "history".into(), |s| s.to_string_lossy());
        Path::new("reports").join("check").join(stem.as_ref())
    });
    let result = CheckResult {
        schema_version: 1,
        faultline_version: faultline::VERSION,
        kind: "history-check",
        history: HistoryRef {
            path: path.display().to_string(),
            sha256: faultline::scenario::hex(&Sha256::digest(&bytes)),
        },
        analysis: &analysis,
    };
    let file = out.join("result.json");
    let written = serde_json::to_string_pretty(&result)
        .map_err(std::io::Error::other)
        .and_then(|json| {
            std::fs::create_dir_all(&out)?;
            std::fs::write(&file, json + "\n")
        });
    if let Err(e) = written {
        eprintln!("error: {}: cannot write it: {e}", file.display());
        return Status::BadInput;
    }
    println!("wrote {}", file.display());
    if analysis.valid {
        Status::Ok
    } else {
        Status::Failed
    }
}
