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

impl Loaded {
    /// The same scenario producing `records` records. A fault window the
    /// file sets is moved by the time the records added (or removed) take
    /// to produce at the file's rate, so faults still cover the whole
    /// workload and end as long after it as in the file. The result is
    /// checked like any scenario when it is set up.
    pub fn with_records(mut self, records: u64) -> Loaded {
        let w = &mut self.file.workload;
        let rate = w.rate_per_sec.unwrap_or(1000.0);
        if let Some(window) = &mut self.file.faults.window_ms
            && rate.is_finite()
            && rate > 0.0
        {
            // The engine spaces records by the rounded interval.
            let interval_us = (1_000_000.0 / rate).round() as i128;
            let moved = (i128::from(records) - i128::from(w.records)) * interval_us;
            let us = (i128::from(window.0) + moved).clamp(0, i128::from(u64::MAX));
            window.0 = us as u64;
        }
        w.records = records;
        self
    }
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
        let field = e
            .span()
            .map_or_else(FieldPath::root, |sp| guess_field(source, sp.start));
        Box::new(Diagnostic::new(
            file,
            source,
            e.span(),
            field,
            format!("not valid TOML: {}", first_line(e.message())),
            None,
        ))
    })?;
    serde_path_to_error::deserialize::<_, ScenarioFile>(de).map_err(|e| {
        let path = FieldPath::parse(&e.path().to_string());
        let inner = e.into_inner();
        let (message, help) = friendly(inner.message(), &path);
        // A missing top-level section has no place in the file to point
        // at: name it as the field instead.
        if path.0.is_empty()
            && let Some(name) = message
                .strip_prefix("missing field `")
                .and_then(|r| r.strip_suffix('`'))
        {
            return Box::new(Diagnostic::new(
                file,
                source,
                None,
                FieldPath::root().key(name),
                "required, but missing",
                Some("a scenario needs `name`, `[topology]`, `[workload]` and at least one `[[consumers]]`".to_owned()),
            ));
        }
        let span = inner.span().or_else(|| span_of(source, &path));
        Box::new(Diagnostic::new(file, source, span, path, message, help))
    })
}

/// The field a TOML syntax error at byte `at` is most likely in: the key on
/// that line, under the last table header above it.
fn guess_field(source: &str, at: usize) -> FieldPath {
    let at = at.min(source.len());
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[at..].find('\n').map_or(source.len(), |i| at + i);
    let line = &source[line_start..line_end];
    let mut path = FieldPath::root();
    for header in source[..line_start].lines().rev() {
        let h = header.trim();
        if h.starts_with('[') {
            let name = h
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            path = FieldPath::parse(name);
            break;
        }
    }
    let t = line.trim();
    if t.starts_with('[') {
        return FieldPath::parse(
            t.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim(),
        );
    }
    match t.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() && !key.contains(['"', '\'', '{']) => {
            path.key(key.trim())
        }
        _ => path,
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// What a value at `path` is called in messages about unknown names.
fn what_name(path: &FieldPath) -> &'static str {
    let last = path.0.iter().rev().find_map(|s| match s {
        error::Seg::Key(k) => Some(k.as_str()),
        error::Seg::Index(_) => None,
    });
    match last {
        Some("hold" | "violate" | "allow") => "invariant",
        Some("commit") => "commit mode",
        Some("auto_offset_reset") => "auto.offset.reset value",
        Some("key_distribution") => "key distribution",
        _ => "value",
    }
}

/// The backquoted names in serde's "expected one of `a`, `b`".
fn expected_names(list: &str) -> Vec<&str> {
    list.split('`').skip(1).step_by(2).collect()
}

/// Rewrites serde's wording where it is unclear to someone writing a file.
fn friendly(message: &str, path: &FieldPath) -> (String, Option<String>) {
    let m = first_line(message);
    if let Some(rest) = m.strip_prefix("invalid type: integer `")
        && let Some((num, tail)) = rest.split_once('`')
        && tail.starts_with(" as i128")
    {
        return (format!("{num} is too large for this field"), None);
    }
    let m = m
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number");
    for (prefix, what) in [
        ("unknown field ", "field"),
        ("unknown variant ", what_name(path)),
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            let (name, expected) = match rest.split_once(", expected ") {
                Some((n, e)) => (n, Some(e)),
                None => (rest.split(", there are no").next().unwrap_or(rest), None),
            };
            let bare = name.trim_matches('`');
            let help =
                expected.map(
                    |e| match crate::registry::did_you_mean(bare, expected_names(e)) {
                        Some(s) => format!("did you mean `{s}`? expected {e}"),
                        None => format!("expected {e}"),
                    },
                );
            return (format!("unknown {what} {name}"), help);
        }
    }
    (m, None)
}
