//! Transactions: buffered writes that reach the store only when they
//! commit.

use super::Store;
use super::key::{RowKey, Value};

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
