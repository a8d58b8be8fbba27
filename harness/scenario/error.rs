//! Errors in scenario files: file, line, column, field, what was expected.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Where a value sits in a scenario file: `consumers[0].handler`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// The root.
    pub fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, k: &str) -> FieldPath {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_owned()));
        FieldPath(v)
    }

    /// This path extended by an index.
    pub fn index(&self, i: usize) -> FieldPath {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        FieldPath(v)
    }

    /// Parses `a.b[2].c`.
    pub fn parse(s: &str) -> FieldPath {
        let mut out = Vec::new();
        for part in s.split('.') {
            if part.is_empty() || part == "?" {
                continue;
            }
            let (name, rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                out.push(Seg::Key(name.to_owned()));
            }
            for idx in rest.split('[').filter(|x| !x.is_empty()) {
                if let Ok(i) = idx.trim_end_matches(']').parse() {
                    out.push(Seg::Index(i));
                }
            }
        }
        FieldPath(out)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// The field.
    pub field: FieldPath,
    /// What is wrong and what was expected.
    pub message: String,
    /// A suggestion.
    pub help: Option<String>,
    /// The offending line and the underlined byte range within it.
    snippet: Option<(String, Range<usize>)>,
}

impl Diagnostic {
    /// A problem at `span` (byte range into `source`).
    pub fn new(
        file: &str,
        source: &str,
        span: Option<Range<usize>>,
        field: FieldPath,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let (line, column, snippet) = match span {
            Some(span) => locate(source, span),
            None => (0, 0, None),
        };
        Diagnostic {
            file: file.to_owned(),
            line,
            column,
            field,
            message: message.into(),
            help,
            snippet,
        }
    }
}

/// Line, column and the underlined line for a byte span.
fn locate(source: &str, span: Range<usize>) -> (usize, usize, Option<(String, Range<usize>)>) {
    let start = span.start.min(source.len());
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line = source[..start].matches('\n').count() + 1;
    let text = source[line_start..line_end]
        .trim_end_matches('\r')
        .to_owned();
    let col_start = start - line_start;
    let col_end = span.end.min(line_end).max(start + 1) - line_start;
    let column = source[line_start..start].chars().count() + 1;
    let width = text.len();
    (
        line,
        column,
        Some((
            text,
            col_start.min(width)..col_end.min(width.max(col_start + 1)),
        )),
    )
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        } else {
            write!(f, "{}: ", self.file)?;
        }
        writeln!(f, "{}: {}", self.field, self.message)?;
        if let Some((text, range)) = &self.snippet {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            writeln!(f, "{pad} |")?;
            writeln!(f, "{num} | {text}")?;
            let lead: String = text[..range.start.min(text.len())]
                .chars()
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let marks = text
                .get(range.clone())
                .map_or(1, |s| s.chars().count().max(1));
            writeln!(f, "{pad} | {lead}{}", "^".repeat(marks))?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read the scenario file: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The file is not a valid scenario.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render(ds: &[Diagnostic]) -> String {
    let mut s = String::new();
    for d in ds {
        s.push_str("error: ");
        s.push_str(&d.to_string());
    }
    if ds.len() > 1 {
        s.push_str(&format!("{} problems in all\n", ds.len()));
    }
    s
}

impl ScenarioError {
    /// The diagnostics, if the file was read but is invalid.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ScenarioError::Invalid(d) => d,
            ScenarioError::Io { .. } => &[],
        }
    }
}

/// Finds the span of the value at `path` in a TOML document (or of the
/// nearest enclosing value that exists).
pub fn span_of(source: &str, path: &FieldPath) -> Option<Range<usize>> {
    let doc = DeTable::parse(source).ok()?;
    let mut span = doc.span();
    let root = doc.into_inner();
    let mut table: Option<&DeTable<'_>> = Some(&root);
    let mut value: Option<&DeValue<'_>> = None;
    for seg in &path.0 {
        let next = match (seg, table, value) {
            (Seg::Key(k), Some(t), _) => t
                .iter()
                .find(|(key, _)| key.get_ref().as_ref() == k.as_str())
                .map(|(_, v)| v),
            (Seg::Key(k), None, Some(v)) => v.get(k.as_str()),
            (Seg::Index(i), _, Some(v)) => v.get(*i),
            _ => None,
        };
        let Some(next) = next else {
            break;
        };
        span = next.span();
        value = Some(next.get_ref());
        table = next.get_ref().as_table();
    }
    Some(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        let p = FieldPath::parse("consumers[0].handler");
        assert_eq!(p.to_string(), "consumers[0].handler");
        assert_eq!(
            FieldPath::root().key("a").index(2).key("b").to_string(),
            "a[2].b"
        );
    }

    #[test]
    fn spans_point_at_the_value() {
        let src = "name = \"x\"\n[[consumers]]\ngroup = \"g\"\nhandler = \"nope\"\n";
        let span = span_of(src, &FieldPath::parse("consumers[0].handler")).unwrap();
        assert_eq!(&src[span], "\"nope\"");
    }

    #[test]
    fn diagnostics_name_file_line_column_and_field() {
        let src = "a = 1\nhandler = \"nope\"\n";
        let span = span_of(src, &FieldPath::parse("handler"));
        let d = Diagnostic::new(
            "s.toml",
            src,
            span,
            FieldPath::parse("handler"),
            "unknown handler \"nope\"",
            Some("expected one of: x".into()),
        );
        let text = d.to_string();
        assert!(
            text.starts_with("s.toml:2:11: handler: unknown handler"),
            "{text}"
        );
        assert!(text.contains("^^^^^^"), "{text}");
    }
}
