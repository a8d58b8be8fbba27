//! Scenario files: reading, and turning serde's errors into diagnostics
//! that name the file, line, column and field.
//!
//! - [`schema`]: the format.
//! - [`values`]: values with several spellings.
//! - [`error`]: diagnostics and span lookup.

pub mod error;
pub mod schema;
pub mod values;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use error::{Diagnostic, FieldPath, ScenarioError, span_of};
pub use schema::ScenarioFile;

/// A scenario file as read from disk (or from a recorded result).
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Where it came from (as given).
    pub path: PathBuf,
    /// Its text.
    pub source: String,
    /// Its parsed contents.
    pub file: ScenarioFile,
    /// SHA-256 of its text, hex.
    pub digest: String,
}

/// Reads and parses a scenario file.
pub fn load(path: &Path) -> Result<Loaded, ScenarioError> {
    let source = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(path, source)
}

/// Parses scenario text that came from `path`.
pub fn parse(path: &Path, source: String) -> Result<Loaded, ScenarioError> {
    let file_name = path.display().to_string();
    let file = parse_text(&file_name, &source).map_err(|d| ScenarioError::Invalid(vec![*d]))?;
    let digest = hex(&Sha256::digest(source.as_bytes()));
    Ok(Loaded {
        path: path.to_owned(),
        source,
        file,
        digest,
    })
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn parse_text(file: &str, source: &str) -> Result<ScenarioFile, Box<Diagnostic>> {
    let de = toml::de::Deserializer::parse(source).map_err(|e| {
        Box::new(Diagnostic::new(
            file,
            source,
            e.span(),
            FieldPath::root(),
            format!("not valid TOML: {}", first_line(e.message())),
            None,
        ))
    })?;
    serde_path_to_error::deserialize::<_, ScenarioFile>(de).map_err(|e| {
        let path = FieldPath::parse(&e.path().to_string());
        let inner = e.into_inner();
        let span = inner.span().or_else(|| span_of(source, &path));
        let (message, help) = friendly(inner.message());
        Box::new(Diagnostic::new(file, source, span, path, message, help))
    })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// Rewrites serde's wording where it is unclear to someone writing a file.
fn friendly(message: &str) -> (String, Option<String>) {
    let m = first_line(message);
    let m = m
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number");
    if let Some(rest) = m.strip_prefix("unknown field ") {
        return (
            format!(
                "unknown field {}",
                rest.split(", expected").next().unwrap_or(rest)
            ),
            rest.split_once(", expected ")
                .map(|(_, exp)| format!("expected {exp}")),
        );
    }
    if let Some(rest) = m.strip_prefix("unknown variant ") {
        return (
            format!(
                "unknown name {}",
                rest.split(", expected").next().unwrap_or(rest)
            ),
            rest.split_once(", expected ")
                .map(|(_, exp)| format!("expected {exp}")),
        );
    }
    (m, None)
}
