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
    Str(KeyStr),
}

/// Bytes a [`KeyStr`] holds without allocating.
const INLINE_MAX: usize = 22;

/// A string row key. Short keys (entity names, most ids) are stored inline,
/// so keying a row by a name does not allocate.
#[derive(Clone)]
pub struct KeyStr(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE_MAX] },
    Heap(Box<str>),
}

impl KeyStr {
    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        // Built only from a whole `&str`, so always UTF-8.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The key's UTF-8 bytes (what comparisons use: byte order is `str`
    /// order).
    fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(s) => s.as_bytes(),
        }
    }
}

impl From<&str> for KeyStr {
    fn from(s: &str) -> Self {
        if s.len() <= INLINE_MAX {
            let mut bytes = [0u8; INLINE_MAX];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            KeyStr(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            KeyStr(Repr::Heap(s.into()))
        }
    }
}

impl PartialEq for KeyStr {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for KeyStr {}
impl PartialOrd for KeyStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for KeyStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (&self.0, &other.0) {
            // Zero padding sorts below every byte, so comparing the padded
            // arrays and then the lengths is byte-wise string order; done
            // as two big-endian integers, without a call to memcmp.
            (Repr::Inline { len: la, bytes: a }, Repr::Inline { len: lb, bytes: b }) => {
                let head = |x: &[u8; INLINE_MAX]| {
                    u128::from_be_bytes(x[..16].try_into().expect("16 bytes"))
                };
                let tail = |x: &[u8; INLINE_MAX]| {
                    let mut t = [0u8; 8];
                    t[..INLINE_MAX - 16].copy_from_slice(&x[16..]);
                    u64::from_be_bytes(t)
                };
                (head(a), tail(a), la).cmp(&(head(b), tail(b), lb))
            }
            _ => self.as_bytes().cmp(other.as_bytes()),
        }
    }
}
impl std::hash::Hash for KeyStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}
impl fmt::Debug for KeyStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
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
        RowKey::Str(v.as_str().into())
    }
}

impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowKey::Int(i) => write!(f, "{i}"),
            RowKey::Str(s) => write!(f, "{:?}", s.as_str()),
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
    /// Integer-keyed rows and string-keyed rows, kept apart so lookups
    /// compare plain integers or bytes; integer keys sort first, as in
    /// `RowKey`'s order.
    ints: BTreeMap<i64, Value>,
    strs: BTreeMap<KeyStr, Value>,
}

impl Table {
    fn new(name: &'static str) -> Table {
        Table {
            name,
            ints: BTreeMap::new(),
            strs: BTreeMap::new(),
        }
    }

    fn get(&self, key: &RowKey) -> Option<&Value> {
        match key {
            RowKey::Int(i) => self.ints.get(i),
            RowKey::Str(s) => self.strs.get(s),
        }
    }

    fn set(&mut self, key: RowKey, value: Option<Value>) {
        match (key, value) {
            (RowKey::Int(i), Some(v)) => {
                self.ints.insert(i, v);
            }
            (RowKey::Int(i), None) => {
                self.ints.remove(&i);
            }
            (RowKey::Str(s), Some(v)) => {
                self.strs.insert(s, v);
            }
            (RowKey::Str(s), None) => {
                self.strs.remove(&s);
            }
        }
    }

    fn len(&self) -> usize {
        self.ints.len() + self.strs.len()
    }

    fn iter(&self) -> impl Iterator<Item = (RowKey, &Value)> {
        self.ints
            .iter()
            .map(|(k, v)| (RowKey::Int(*k), v))
            .chain(self.strs.iter().map(|(k, v)| (RowKey::Str(k.clone()), v)))
    }
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

    fn table_mut(&mut self, name: &'static str) -> &mut Table {
        let i = match self
            .tables
            .iter()
            .position(|t| std::ptr::eq(t.name, name) || t.name == name)
        {
            Some(i) => i,
            None => {
                let i = self.tables.partition_point(|t| t.name < name);
                self.tables.insert(i, Table::new(name));
                i
            }
        };
        &mut self.tables[i]
    }

    /// The value at `table`/`key`.
    pub fn get(&self, table: &'static str, key: impl Into<RowKey>) -> Option<&Value> {
        self.get_ref(table, &key.into())
    }

    fn get_ref(&self, table: &'static str, key: &RowKey) -> Option<&Value> {
        self.table(table)?.get(key)
    }

    /// Every row, ordered by table then key.
    pub fn rows(&self) -> impl Iterator<Item = (&'static str, RowKey, &Value)> {
        self.tables
            .iter()
            .flat_map(|t| t.iter().map(move |(k, v)| (t.name, k, v)))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.tables.iter().map(Table::len).sum()
    }

    /// Whether the store holds no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies a committed write set.
    pub(crate) fn apply(&mut self, writes: &mut Vec<Write>) {
        for w in writes.drain(..) {
            self.table_mut(w.table).set(w.key, w.value);
        }
    }

    /// Rows that differ between `self` and `other`: `(table, key, here,
    /// there)`, ordered by table and key.
    pub fn diff<'a>(&'a self, other: &'a Store) -> Vec<RowDiff<'a>> {
        let mut out = Vec::new();
        let mut a = self.rows().peekable();
        let mut b = other.rows().peekable();
        loop {
            let order = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((ta, ka, _)), Some((tb, kb, _))) => (ta, ka).cmp(&(tb, kb)),
            };
            match order {
                std::cmp::Ordering::Less => {
                    let (t, k, v) = a.next().expect("peeked");
                    out.push((t, k, Some(v), None));
                }
                std::cmp::Ordering::Greater => {
                    let (t, k, v) = b.next().expect("peeked");
                    out.push((t, k, None, Some(v)));
                }
                std::cmp::Ordering::Equal => {
                    let (t, k, va) = a.next().expect("peeked");
                    let (_, _, vb) = b.next().expect("peeked");
                    if va != vb {
                        out.push((t, k, Some(va), Some(vb)));
                    }
                }
            }
        }
        out
    }
}

/// One row that differs between two stores: `(table, key, value in the
/// first, value in the second)`.
pub type RowDiff<'a> = (&'static str, RowKey, Option<&'a Value>, Option<&'a Value>);

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
    /// Writes that count as committed for reads but are not in the store.
    overlay: &'a [Write],
    writes: &'a mut Vec<Write>,
    aborted: bool,
}

impl<'a> Tx<'a> {
    #[cfg(test)]
    pub(crate) fn new(store: &'a Store, writes: &'a mut Vec<Write>) -> Self {
        Tx::layered(store, &[], writes)
    }

    /// A transaction on `store` as amended by `overlay`.
    pub(crate) fn layered(
        store: &'a Store,
        overlay: &'a [Write],
        writes: &'a mut Vec<Write>,
    ) -> Self {
        writes.clear();
        Tx {
            store,
            overlay,
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

    /// The latest write to `table`/`key` this transaction sees that is not
    /// in the store yet (its own, then the overlay's), if any.
    fn lookup(&self, table: &'static str, key: &RowKey) -> Option<&Option<Value>> {
        let hit = |w: &&Write| w.key == *key && (std::ptr::eq(w.table, table) || w.table == table);
        self.writes
            .iter()
            .rev()
            .find(hit)
            .or_else(|| self.overlay.iter().rev().find(hit))
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
    fn inline_key_order_is_string_order() {
        let words = [
            "",
            "a",
            "a\u{0}",
            "a\u{0}b",
            "ab",
            "b",
            "k10",
            "k9",
            "\u{ff}",
            "zzzzzzzzzzzzzzzzzzzzzz",
        ];
        for x in words {
            for y in words {
                let (kx, ky) = (KeyStr::from(x), KeyStr::from(y));
                assert_eq!(kx.cmp(&ky), x.cmp(y), "{x:?} vs {y:?}");
                assert_eq!(kx == ky, x == y);
            }
        }
        let long = "an-entity-name-longer-than-the-inline-limit";
        assert_eq!(KeyStr::from(long).cmp(&KeyStr::from("an")), long.cmp("an"));
    }

    #[test]
    fn string_keys_order_and_compare_by_content_inline_or_not() {
        let short = RowKey::from("k1");
        let long = RowKey::from("an-entity-name-longer-than-the-inline-limit");
        assert_eq!(short, RowKey::from(String::from("k1")));
        assert!(RowKey::from("a") < RowKey::from("b"));
        assert!(long > RowKey::from("an"));
        assert_eq!(
            long.to_string(),
            "\"an-entity-name-longer-than-the-inline-limit\""
        );
        assert_eq!(short.to_string(), "\"k1\"");
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
        assert_eq!(a, b);
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
