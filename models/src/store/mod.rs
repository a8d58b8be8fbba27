//! The consumer's durable store: its database.
//!
//! A [`Store`] belongs to a consumer group (all instances of one service
//! share one database) and survives crashes; a handler's in-memory fields do
//! not. Handlers change it only inside transactions ([`crate::HandlerCx`]),
//! which commit atomically or not at all.
//!
//! Map of the module: [`key`] (row keys and values), `int_rows` and
//! `str_rows` (a table's integer- and string-keyed rows), [`tx`]
//! (transactions, which write in place and keep an undo log).

mod int_rows;
pub mod key;
mod str_rows;
pub mod tx;

pub use key::{KeyStr, RowKey, Value};
pub(crate) use tx::UndoLog;
pub use tx::{Tx, TxBuffer};

use int_rows::IntRows;
use str_rows::StrRows;

/// A durable key-value database of named tables.
///
/// Ordered throughout, so iteration (and therefore every report built from
/// a store) is deterministic. Tables are found by name with a pointer
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
    /// index by integer or compare bytes; integer keys sort first, as in
    /// `RowKey`'s order.
    ints: IntRows,
    strs: StrRows,
}

impl Table {
    fn new(name: &'static str) -> Table {
        Table {
            name,
            ints: IntRows::default(),
            strs: StrRows::default(),
        }
    }

    #[inline]
    fn get(&self, key: &RowKey) -> Option<&Value> {
        match key {
            RowKey::Int(i) => self.ints.get(*i),
            RowKey::Str(s) => self.strs.get(s),
        }
    }

    /// Sets (or with `None` removes) the row at `key`; returns what it
    /// held. The key is copied only when a new row is inserted.
    #[inline]
    fn replace(&mut self, key: &RowKey, value: Option<Value>) -> Option<Value> {
        match (key, value) {
            (RowKey::Int(i), Some(v)) => self.ints.insert(*i, v),
            (RowKey::Int(i), None) => self.ints.remove(*i),
            (RowKey::Str(s), Some(v)) => self.strs.insert(s, v),
            (RowKey::Str(s), None) => self.strs.remove(s),
        }
    }

    fn len(&self) -> usize {
        self.ints.len() + self.strs.len()
    }

    fn iter(&self) -> impl Iterator<Item = (RowKey, &Value)> {
        self.ints
            .iter()
            .map(|(k, v)| (RowKey::Int(k), v))
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

    /// The index of the table called `name`: found by the address of the
    /// name first, since handlers name tables with string literals.
    #[inline]
    fn find(&self, name: &'static str) -> Option<usize> {
        match self.tables.iter().position(|t| std::ptr::eq(t.name, name)) {
            Some(i) => Some(i),
            None => self.find_by_text(name),
        }
    }

    /// [`Store::find`] for a name at another address than the table's.
    #[cold]
    fn find_by_text(&self, name: &'static str) -> Option<usize> {
        self.tables.iter().position(|t| t.name == name)
    }

    #[inline]
    fn table(&self, name: &'static str) -> Option<&Table> {
        self.find(name).map(|i| &self.tables[i])
    }

    #[inline]
    fn table_mut(&mut self, name: &'static str) -> &mut Table {
        let i = match self.find(name) {
            Some(i) => i,
            None => self.create(name),
        };
        &mut self.tables[i]
    }

    /// Adds an empty table called `name`; returns its index.
    #[cold]
    fn create(&mut self, name: &'static str) -> usize {
        let i = self.tables.partition_point(|t| t.name < name);
        self.tables.insert(i, Table::new(name));
        i
    }

    /// The value at `table`/`key`.
    pub fn get(&self, table: &'static str, key: impl Into<RowKey>) -> Option<&Value> {
        self.get_ref(table, &key.into())
    }

    #[inline]
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

    /// Sets (or with `None` removes) the row at `table`/`key`; returns
    /// what it held.
    #[inline]
    pub(crate) fn replace(
        &mut self,
        table: &'static str,
        key: &RowKey,
        value: Option<Value>,
    ) -> Option<Value> {
        self.table_mut(table).replace(key, value)
    }

    /// Sets the row at `table`/`key` to `value` unless a row is there;
    /// returns whether it did.
    #[inline]
    pub(crate) fn insert_new(&mut self, table: &'static str, key: &RowKey, value: Value) -> bool {
        let t = self.table_mut(table);
        match key {
            RowKey::Int(i) => t.ints.insert_new(*i, value),
            RowKey::Str(s) => {
                if t.strs.get(s).is_some() {
                    return false;
                }
                t.strs.insert(s, value);
                true
            }
        }
    }

    /// Adds `delta` to the integer at `table`/`key` (missing or not an
    /// integer counts as 0); returns the new value and what the row held.
    #[inline]
    pub(crate) fn add(
        &mut self,
        table: &'static str,
        key: &RowKey,
        delta: i64,
    ) -> (i64, Option<Value>) {
        let plus = |old: Option<&Value>| match old {
            Some(Value::Int(i)) => i.wrapping_add(delta),
            _ => delta,
        };
        let t = self.table_mut(table);
        match key {
            RowKey::Int(i) => {
                let new = plus(t.ints.get(*i));
                (new, t.ints.insert(*i, Value::Int(new)))
            }
            RowKey::Str(s) => {
                let mut new = 0;
                let old = t.strs.update(s, |old| {
                    new = plus(old);
                    Value::Int(new)
                });
                (new, old)
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MessageId;

    #[test]
    fn transaction_reads_its_own_writes_and_rolls_back_whole() {
        let mut store = Store::new();
        let mut undo = UndoLog::default();
        {
            let mut tx = Tx::begin(&mut store, &mut undo);
            assert_eq!(tx.add("balance", 1u32, 5), 5);
            assert_eq!(tx.add("balance", 1u32, 5), 10);
            tx.put("inbox", MessageId(3), 1);
            assert!(tx.contains("inbox", MessageId(3)));
            assert!(tx.close());
        }
        assert_eq!(store.get("balance", 1u32), Some(&Value::Int(10)));
        assert_eq!(store.len(), 2);
        undo.forget(0);
        {
            let mut tx = Tx::begin(&mut store, &mut undo);
            tx.put("balance", 1u32, 7);
            tx.delete("inbox", MessageId(3));
            tx.put("balance", "e", "text");
            assert!(!tx.contains("inbox", MessageId(3)));
            tx.abort();
            assert!(!tx.close());
        }
        assert!(undo.is_empty());
        assert_eq!(store.get("balance", 1u32), Some(&Value::Int(10)));
        assert!(store.get("inbox", MessageId(3)).is_some());
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn put_new_writes_only_where_no_row_is() {
        let mut store = Store::new();
        let mut undo = UndoLog::default();
        {
            let mut tx = Tx::begin(&mut store, &mut undo);
            assert!(tx.put_new("t", 3u32, 1));
            assert!(!tx.put_new("t", 3u32, 2));
            assert!(tx.put_new("t", 1i64 << 40, 1));
            assert!(!tx.put_new("t", 1i64 << 40, 2));
            assert!(tx.put_new("t", "k", 1));
            assert!(!tx.put_new("t", "k", 2));
            tx.abort();
            assert!(!tx.close());
        }
        assert!(store.is_empty());
        {
            let mut tx = Tx::begin(&mut store, &mut undo);
            assert!(tx.put_new("t", 3u32, 1));
            assert!(tx.close());
        }
        assert_eq!(store.get("t", 3u32), Some(&Value::Int(1)));
    }

    #[test]
    fn diff_lists_rows_that_differ() {
        let mut a = Store::new();
        let mut b = Store::new();
        a.replace("t", &RowKey::Int(1), Some(Value::Int(1)));
        b.replace("t", &RowKey::Int(1), Some(Value::Int(1)));
        assert!(a.diff(&b).is_empty());
        assert_eq!(a, b);
        b.replace("t", &RowKey::Int(1), Some(Value::Int(2)));
        let d = a.diff(&b);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].2, Some(&Value::Int(1)));
        assert_eq!(d[0].3, Some(&Value::Int(2)));
    }
}
