//! Reading a history file: one JSON object per line.

use serde_json::Value;

use super::{Atom, F, Mop, Op, Type};

/// A line of a history that is not an operation of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ParseError {
    /// The line (1-based).
    pub line: usize,
    /// The column, when the line is not JSON at all.
    pub column: Option<usize>,
    /// The field, as a path into the object (`value[0][2]`).
    pub field: String,
    /// What was expected there.
    pub expected: String,
    /// What was there.
    pub found: String,
}

impl ParseError {
    fn describe(&self) -> String {
        match self.column {
            Some(c) => format!("{}:{c}: not JSON: {}", self.line, self.found),
            None => format!(
                "{}: field `{}`: expected {}, found {}",
                self.line, self.field, self.expected, self.found
            ),
        }
    }
}

/// Parses a history: one JSON object per line; blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<Op>, ParseError> {
    let mut ops = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| ParseError {
            line: line_no,
            column: Some(e.column()),
            field: String::new(),
            expected: "a JSON object".into(),
            found: e.to_string(),
        })?;
        ops.push(op(line_no, ops.len() as u64, &v)?);
    }
    Ok(ops)
}

struct At {
    line: usize,
}

impl At {
    fn err(&self, field: &str, expected: &str, found: &Value) -> ParseError {
        ParseError {
            line: self.line,
            column: None,
            field: field.into(),
            expected: expected.into(),
            found: describe(found),
        }
    }
}

/// A short description of a JSON value for error messages.
fn describe(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

fn op(line: usize, position: u64, v: &Value) -> Result<Op, ParseError> {
    let at = At { line };
    let obj = v
        .as_object()
        .ok_or_else(|| at.err("line", "a JSON object", v))?;
    let get = |k: &str| obj.get(k).unwrap_or(&Value::Null);
    let index = match get("index") {
        Value::Null => position,
        x => x
            .as_u64()
            .ok_or_else(|| at.err("index", "a non-negative integer", x))?,
    };
    let time = match get("time") {
        Value::Null => None,
        x => Some(
            x.as_i64()
                .or_else(|| x.as_f64().map(|f| f as i64))
                .ok_or_else(|| at.err("time", "a number", x))?,
        ),
    };
    let process = match get("process") {
        Value::Null => None,
        x => Some(atom(x).ok_or_else(|| at.err("process", "an integer or a string", x))?),
    };
    let kind = match get("type").as_str() {
        Some("invoke") => Type::Invoke,
        Some("ok") => Type::Ok,
        Some("fail") => Type::Fail,
        Some("info") => Type::Info,
        _ => {
            return Err(at.err(
                "type",
                "\"invoke\", \"ok\", \"fail\" or \"info\"",
                get("type"),
            ));
        }
    };
    let f = match get("f") {
        Value::String(s) => match s.as_str() {
            "send" => F::Send,
            "poll" => F::Poll,
            "txn" => F::Txn,
            "assign" => F::Assign,
            "subscribe" => F::Subscribe,
            "crash" => F::Crash,
            other => F::Other(other.to_owned()),
        },
        x => return Err(at.err("f", "a string such as \"send\" or \"poll\"", x)),
    };
    let value = get("value");
    let mut mops = Vec::new();
    let mut keys = Vec::new();
    match f {
        F::Send | F::Poll | F::Txn => mops = micro_ops(&at, value)?,
        F::Assign | F::Subscribe => {
            // Completions of a failed or crashed assign may carry anything.
            if !value.is_null() {
                let list = value
                    .as_array()
                    .ok_or_else(|| at.err("value", "a list of keys", value))?;
                for (i, k) in list.iter().enumerate() {
                    keys.push(key(k).ok_or_else(|| {
                        at.err(&format!("value[{i}]"), "a key (integer or string)", k)
                    })?);
                }
            }
        }
        F::Crash | F::Other(_) => {}
    }
    let mut rebalanced = Vec::new();
    let log = obj
        .get("rebalance-log")
        .or_else(|| obj.get("rebalance_log"));
    if let Some(log) = log.filter(|l| !l.is_null()) {
        let events = log
            .as_array()
            .ok_or_else(|| at.err("rebalance-log", "a list of {\"keys\": [...]}", log))?;
        for (i, e) in events.iter().enumerate() {
            let ks = e.get("keys").and_then(Value::as_array).ok_or_else(|| {
                at.err(
                    &format!("rebalance-log[{i}]"),
                    "an object with a \"keys\" list",
                    e,
                )
            })?;
            for (j, k) in ks.iter().enumerate() {
                rebalanced.push(key(k).ok_or_else(|| {
                    at.err(
                        &format!("rebalance-log[{i}].keys[{j}]"),
                        "a key (integer or string)",
                        k,
                    )
                })?);
            }
        }
    }
    Ok(Op {
        line,
        index,
        time,
        process,
        kind,
        f,
        mops,
        keys,
        rebalanced,
    })
}

/// An integer or a string.
fn atom(v: &Value) -> Option<Atom> {
    match v {
        Value::Number(n) => n.as_i64().map(Atom::Int),
        Value::String(s) => Some(Atom::Str(s.clone())),
        _ => None,
    }
}

/// A key written as a JSON object's name: an integer if it reads as one
/// (JSON names are strings, so `{"3": ...}` is key 3).
fn key_name(s: &str) -> Atom {
    match s.parse::<i64>() {
        Ok(i) if i.to_string() == s => Atom::Int(i),
        _ => Atom::Str(s.to_owned()),
    }
}

/// A key anywhere else: an integer or a string, and a string that reads as
/// an integer is that integer, so it matches the poll results' names.
fn key(v: &Value) -> Option<Atom> {
    match atom(v)? {
        Atom::Str(s) => Some(key_name(&s)),
        k => Some(k),
    }
}

fn offset(at: &At, field: &str, v: &Value) -> Result<Option<u64>, ParseError> {
    match v {
        Value::Null => Ok(None),
        x => x
            .as_u64()
            .map(Some)
            .ok_or_else(|| at.err(field, "an offset (non-negative integer or null)", x)),
    }
}

fn micro_ops(at: &At, value: &Value) -> Result<Vec<Mop>, ParseError> {
    if value.is_null() {
        return Ok(Vec::new());
    }
    let list = value
        .as_array()
        .ok_or_else(|| at.err("value", "a list of micro-operations", value))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let field = format!("value[{i}]");
        let parts = m
            .as_array()
            .ok_or_else(|| at.err(&field, "[\"send\", key, value] or [\"poll\", ...]", m))?;
        match parts.first().and_then(Value::as_str) {
            Some("send") => {
                let k = parts.get(1).unwrap_or(&Value::Null);
                let key = key(k).ok_or_else(|| {
                    at.err(&format!("{field}[1]"), "a key (integer or string)", k)
                })?;
                let v = parts.get(2).unwrap_or(&Value::Null);
                let (offset, value) = match v {
                    Value::Array(pair) => {
                        let bad = || {
                            at.err(
                                &format!("{field}[2]"),
                                "[offset, value] or a value (integer or string)",
                                v,
                            )
                        };
                        if pair.len() != 2 {
                            return Err(bad());
                        }
                        let o = offset(at, &format!("{field}[2][0]"), &pair[0])?;
                        (o, atom(&pair[1]).ok_or_else(bad)?)
                    }
                    x => (
                        None,
                        atom(x).ok_or_else(|| {
                            at.err(
                                &format!("{field}[2]"),
                                "a value (integer or string) or [offset, value]",
                                x,
                            )
                        })?,
                    ),
                };
                out.push(Mop::Send { key, value, offset });
            }
            Some("poll") => {
                let mut keys = Vec::new();
                match parts.get(1) {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(map)) => {
                        for (name, pairs) in map {
                            let kf = format!("{field}[1][{name:?}]");
                            let list = pairs
                                .as_array()
                                .ok_or_else(|| at.err(&kf, "a list of [offset, value]", pairs))?;
                            let mut read = Vec::with_capacity(list.len());
                            for (j, p) in list.iter().enumerate() {
                                let pf = format!("{kf}[{j}]");
                                let pair = p
                                    .as_array()
                                    .filter(|a| a.len() == 2)
                                    .ok_or_else(|| at.err(&pf, "[offset, value]", p))?;
                                let o = offset(at, &format!("{pf}[0]"), &pair[0])?;
                                let v = atom(&pair[1]).ok_or_else(|| {
                                    at.err(
                                        &format!("{pf}[1]"),
                                        "a value (integer or string)",
                                        &pair[1],
                                    )
                                })?;
                                read.push((o, v));
                            }
                            keys.push((key_name(name), read));
                        }
                        keys.sort_by(|a, b| a.0.cmp(&b.0));
                    }
                    Some(x) => {
                        return Err(at.err(
                            &format!("{field}[1]"),
                            "an object of key: [[offset, value], ...]",
                            x,
                        ));
                    }
                }
                out.push(Mop::Poll(keys));
            }
            _ => {
                return Err(at.err(
                    &format!("{field}[0]"),
                    "\"send\" or \"poll\"",
                    parts.first().unwrap_or(&Value::Null),
                ));
            }
        }
    }
    Ok(out)
}
