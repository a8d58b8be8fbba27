//! `faultline merge`: shard results into one summary.

use std::path::{Path, PathBuf};

use faultline::explore::{Exploration, text};

use super::Status;

/// Merges the `explore.json` files of the shards of one exploration.
pub fn command(files: &[PathBuf], out: Option<&Path>) -> Status {
    let mut parts = Vec::with_capacity(files.len());
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: cannot read it: {e}", f.display());
                return Status::BadInput;
            }
        };
        match serde_json::from_str::<Exploration>(&text) {
            Ok(x) => parts.push(x),
            Err(e) => {
                eprintln!(
                    "error: {}: not an explore.json written by faultline explore: {e}",
                    f.display()
                );
                return Status::BadInput;
            }
        }
    }
    let merged = match Exploration::merge(parts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: cannot merge: {e}");
            return Status::BadInput;
        }
    };
    print!("{}", text::summary(&merged));
    if let Some(out) = out {
        let written = serde_json::to_string_pretty(&merged)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(out, json + "\n"));
        if let Err(e) = written {
            eprintln!("error: {}: cannot write it: {e}", out.display());
            return Status::BadInput;
        }
        println!("wrote {}", out.display());
    }
    if merged.failed() {
        Status::Failed
    } else {
        Status::Ok
    }
}
