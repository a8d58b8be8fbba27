//! The consumer's durable store: its database.
//!
//! A [`Store`] belongs to a consumer group (all instances of one service
//! share one database) and survives crashes; a handler's in-memory fields do
//! not. Handlers change it only inside transactions ([`crate::HandlerCx`]),
//! which commit atomically or not at all.

use std::collections::BTreeMap;
use std::fmt;

use crate::ids::{KeyId, MessageId};

/// A row key: an integer or a string.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RowKey {
    /// An integer key (message ids and key ids convert to these).
    Int(i64),
    /// A string key.
    Str(Box<str>),
}

impl From<i64> for RowKey {
    fn from(v: i64) -> Self {
        RowKey::Int(v)
    }
}
impl From<u64> for RowKey {
    fn from(v: u64) -> Self {
        RowKey::Int(v as i64)
    }
}
impl From<u32> for RowKey {
    fn from(v: u32) -> Self {
        RowKey::Int(i64::from(v))
    }
}
impl From<MessageId> for RowKey {
    fn from(v: MessageId) -> Self {
        RowKey::Int(i64::from(v.0))
    }
}
impl From<KeyId> for RowKey {
    fn from(v: KeyId) -> Self {
        RowKey::Int(i64::from(v.0))
    }
}
impl From<&str> for RowKey {
    fn from(v: &str) -> Self {
        RowKey::Str(v.into())
    }
}
impl From<String> for RowKey {
    fn from(v: String) -> Self {
        RowKey::Str(v.into_boxed_str())
    }
}

impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowKey::Int(i) => write!(f, "{i}"),
            RowKey::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// A stored value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A string.
    Text(String),
}

impl Value {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Text(_) => None,
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// A durable key-value database of named tables.
///
/// Ordered maps throughout, so iteration (and therefore every report built
/// from a store) is deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Store {
    rows: BTreeMap<(&'static str, RowKey), Value>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// The value at `table`/`key`.
    pub fn get(&self, table: &'static str, key: impl Into<RowKey>) -> Option<&Value> {
        self.rows.get(&(table, key.into()))
    }

    /// Every row, ordered by table then key.
    pub fn rows(&self) -> impl Iterator<Item = (&'static str, &RowKey, &Value)> {
        self.rows.iter().map(|((t, k), v)| (*t, k, v))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the store holds no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Applies a committed write set.
    pub(crate) fn apply(&mut self, writes: &mut Vec<Write>) {
        for w in writes.drain(..) {
            match w.value {
                Some(v) => {
                    self.rows.insert((w.table, w.key), v);
                }
                None => {
                    self.rows.remove(&(w.table, w.key));
                }
            }
        }
    }

    /// Rows that differ between `self` and `other`: `(table, key, here,
    /// there)`, ordered by table and key.
    pub fn diff<'a>(
        &'a self,
        other: &'a Store,
    ) -> Vec<(&'static str, &'a RowKey, Option<&'a Value>, Option<&'a Value>)> {
        let mut out = Vec::new();
        let mut a = self.rows.iter().peekable();
        let mut b = other.rows.iter().peekable();
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some((ka, va)), None) => {
                    out.push((ka.0, &ka.1, Some(*va), None));
                    a.next();
                }
                (None, Some((kb, vb))) => {
                    out.push((kb.0, &kb.1, None, Some(*vb)));
                    b.next();
                }
                (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                    std::cmp::Ordering::Less => {
                        out.push((ka.0, &ka.1, Some(*va), None));
                        a.next();
                    }
                    std::cmp::Ordering::Greater => {
                        out.push((kb.0, &kb.1, None, Some(*vb)));
                        b.next();
                    }
                    std::cmp::Ordering::Equal => {
                        if va != vb {
                            out.push((ka.0, &ka.1, Some(*va), Some(*vb)));
                        }
                        a.next();
                        b.next();
                    }
                },
            }
        }
        out
    }
}

/// Scratch space for the writes of open transactions, reused across
/// transactions so that handling a message does not allocate.
#[derive(Clone, Debug, Default)]
pub struct TxBuffer {
    pub(crate) writes: Vec<Write>,
}

/// One buffered write of an open transaction (`None` deletes).
#[derive(Clone, Debug)]
pub(crate) struct Write {
    pub table: &'static str,
    pub key: RowKey,
    pub value: Option<Value>,
}

/// An open transaction on a [`Store`]: reads see the transaction's own
/// writes; nothing reaches the store until the transaction commits.
pub struct Tx<'a> {
    store: &'a Store,
    writes: &'a mut Vec<Write>,
    aborted: bool,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(store: &'a Store, writes: &'a mut Vec<Write>) -> Self {
        writes.clear();
        Tx {
            store,
            writes,
            aborted: false,
        }
    }

    /// The value at `table`/`key` as this transaction sees it.
    pub fn get(&self, table: &'static str, key: impl Into<RowKey>) -> Option<Value> {
        let key = key.into();
        if let Some(w) = self
            .writes
            .iter()
            .rev()
            .find(|w| w.table == table && w.key == key)
        {
            return w.value.clone();
        }
        self.store.rows.get(&(table, key)).cloned()
    }

    /// Whether a row exists at `table`/`key`.
    pub fn contains(&self, table: &'static str, key: impl Into<RowKey>) -> bool {
        self.get(table, key).is_some()
    }

    /// Writes `value` at `table`/`key`.
    pub fn put(&mut self, table: &'static str, key: impl Into<RowKey>, value: impl Into<Value>) {
        self.writes.push(Write {
            table,
            key: key.into(),
            value: Some(value.into()),
        });
    }

    /// Deletes the row at `table`/`key`.
    pub fn delete(&mut self, table: &'static str, key: impl Into<RowKey>) {
        self.writes.push(Write {
            table,
            key: key.into(),
            value: None,
        });
    }

    /// Adds `delta` to the integer at `table`/`key` (missing counts as 0)
    /// and returns the new value.
    pub fn add(&mut self, table: &'static str, key: impl Into<RowKey>, delta: i64) -> i64 {
        let key = key.into();
        let old = self
            .get(table, key.clone())
            .and_then(|v| v.as_int())
            .unwrap_or(0);
        let new = old.wrapping_add(delta);
        self.put(table, key, new);
        new
    }

    /// Rolls the transaction back when it ends: none of its writes apply.
    pub fn abort(&mut self) {
        self.aborted = true;
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_reads_its_own_writes_and_commits_atomically() {
        let mut store = Store::new();
        let mut writes = Vec::new();
        {
            let mut tx = Tx::new(&store, &mut writes);
            assert_eq!(tx.add("balance", 1u32, 5), 5);
            assert_eq!(tx.add("balance", 1u32, 5), 10);
            tx.put("inbox", MessageId(3), 1);
            assert!(tx.contains("inbox", MessageId(3)));
        }
        assert!(store.is_empty(), "nothing applies before commit");
        store.apply(&mut writes);
        assert_eq!(store.get("balance", 1u32), Some(&Value::Int(10)));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn diff_lists_rows_that_differ() {
        let mut a = Store::new();
        let mut b = Store::new();
        let mut w = vec![Write {
            table: "t",
            key: RowKey::Int(1),
            value: Some(Value::Int(1)),
        }];
        a.apply(&mut w.clone());
        b.apply(&mut w);
        assert!(a.diff(&b).is_empty());
        let mut w = vec![Write {
            table: "t",
            key: RowKey::Int(1),
            value: Some(Value::Int(2)),
        }];
        b.apply(&mut w);
        let d = a.diff(&b);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].2, Some(&Value::Int(1)));
        assert_eq!(d[0].3, Some(&Value::Int(2)));
    }
}
