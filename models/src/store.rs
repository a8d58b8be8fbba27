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
/// from a store) is deterministic. Tables are found by name with a pointer
/// comparison first, since handlers name them with string literals.
#[derive(Clone, Debug, Default)]
pub struct Store {
    /// Tables sorted by name.
    tables: Vec<Table>,
}

#[derive(Clone, Debug)]
struct Table {
    name: &'static str,
    rows: BTreeMap<RowKey, Value>,
}

impl PartialEq for Store {
    fn eq(&self, other: &Store) -> bool {
        self.rows().eq(other.rows())
    }
}

impl Eq for Store {}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    fn table(&self, name: &'static str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| std::ptr::eq(t.name, name))
            .or_else(|| self.tables.iter().find(|t| t.name == name))
    }

    fn table_mut(&mut self, name: &'static str) -> &mut BTreeMap<RowKey, Value> {
        let i = match self
            .tables
            .iter()
            .position(|t| std::ptr::eq(t.name, name) || t.name == name)
        {
            Some(i) => i,
            None => {
                let i = self.tables.partition_point(|t| t.name < name);
                self.tables.insert(
                    i,
                    Table {
                        name,
                        rows: BTreeMap::new(),
                    },
                );
                i
            }
        };
        &mut self.tables[i].rows
    }

    /// The value at `table`/`key`.
    pub fn get(&self, table: &'static str, key: impl Into<RowKey>) -> Option<&Value> {
        self.get_ref(table, &key.into())
    }

    fn get_ref(&self, table: &'static str, key: &RowKey) -> Option<&Value> {
        self.table(table)?.rows.get(key)
    }

    /// Every row, ordered by table then key.
    pub fn rows(&self) -> impl Iterator<Item = (&'static str, &RowKey, &Value)> {
        self.tables
            .iter()
            .flat_map(|t| t.rows.iter().map(move |(k, v)| (t.name, k, v)))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }

    /// Whether the store holds no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies a committed write set.
    pub(crate) fn apply(&mut self, writes: &mut Vec<Write>) {
        for w in writes.drain(..) {
            let rows = self.table_mut(w.table);
            match w.value {
                Some(v) => {
                    rows.insert(w.key, v);
                }
                None => {
                    rows.remove(&w.key);
                }
            }
        }
    }

    /// Rows that differ between `self` and `other`: `(table, key, here,
    /// there)`, ordered by table and key.
    pub fn diff<'a>(
        &'a self,
        other: &'a Store,
    ) -> Vec<(
        &'static str,
        &'a RowKey,
        Option<&'a Value>,
        Option<&'a Value>,
    )> {
        let mut out = Vec::new();
        let mut a = self.rows().peekable();
        let mut b = other.rows().peekable();
        loop {
            match (a.peek().copied(), b.peek().copied()) {
                (None, None) => break,
                (Some((ta, ka, va)), None) => {
                    out.push((ta, ka, Some(va), None));
                    a.next();
                }
                (None, Some((tb, kb, vb))) => {
                    out.push((tb, kb, None, Some(vb)));
                    b.next();
                }
                (Some((ta, ka, va)), Some((tb, kb, vb))) => match (ta, ka).cmp(&(tb, kb)) {
                    std::cmp::Ordering::Less => {
                        out.push((ta, ka, Some(va), None));
                        a.next();
                    }
                    std::cmp::Ordering::Greater => {
                        out.push((tb, kb, None, Some(vb)));
                        b.next();
                    }
                    std::cmp::Ordering::Equal => {
                        if va != vb {
                            out.push((ta, ka, Some(va), Some(vb)));
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
        match self.lookup(table, &key) {
            Some(v) => v.clone(),
            None => self.store.get_ref(table, &key).cloned(),
        }
    }

    /// Whether a row exists at `table`/`key`.
    pub fn contains(&self, table: &'static str, key: impl Into<RowKey>) -> bool {
        let key = key.into();
        match self.lookup(table, &key) {
            Some(v) => v.is_some(),
            None => self.store.get_ref(table, &key).is_some(),
        }
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
        let old = match self.lookup(table, &key) {
            Some(Some(Value::Int(i))) => *i,
            Some(_) => 0,
            None => match self.store.get_ref(table, &key) {
                Some(Value::Int(i)) => *i,
                _ => 0,
            },
        };
        let new = old.wrapping_add(delta);
        self.put(table, key, new);
        new
    }

    /// This transaction's own latest write to `table`/`key`, if any.
    fn lookup(&self, table: &'static str, key: &RowKey) -> Option<&Option<Value>> {
        self.writes
            .iter()
            .rev()
            .find(|w| w.key == *key && (std::ptr::eq(w.table, table) || w.table == table))
            .map(|w| &w.value)
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
