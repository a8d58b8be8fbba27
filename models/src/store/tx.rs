//! Transactions: writes that count only once the transaction commits.
//!
//! A transaction writes straight into the store and keeps an undo log of
//! the values it replaced. Reads therefore need no second look into a
//! buffer of pending writes, and committing costs nothing but forgetting
//! the log; an abort, a panic in the handler, or writes made after a crash
//! (which must never last) replay the log backwards instead. Nothing else
//! can look at the store while a transaction is open: the handler holds it
//! borrowed.

use std::mem::ManuallyDrop;

use super::Store;
use super::key::{RowKey, Value};

/// The undo log of open transactions, reused across transactions so that
/// handling a message does not allocate.
#[derive(Clone, Debug, Default)]
pub struct TxBuffer {
    pub(crate) undo: UndoLog,
}

/// What one write replaced: the row at `table`/`key` held `old` (`None`:
/// there was no row).
#[derive(Clone, Debug)]
pub(crate) struct Undo {
    pub table: &'static str,
    pub key: RowKey,
    pub old: Option<Value>,
}

impl Undo {
    /// Whether the entry owns memory to free (a key too long to be held
    /// inline, or an old text value).
    #[inline]
    fn owns_memory(&self) -> bool {
        // Exhaustive, so that a new kind of key or value must say whether
        // it owns memory: one counted as owning none would leak.
        let key = match &self.key {
            RowKey::Int(_) => false,
            RowKey::Str(k) => k.on_heap(),
        };
        let old = match &self.old {
            None | Some(Value::Int(_)) => false,
            Some(Value::Text(_)) => true,
        };
        key || old
    }
}

/// The undo log, latest entry last. Most entries own no memory (integer
/// or short keys, integer values): the log counts those that do, and
/// forgetting entries when none does (a commit, usually) drops nothing
/// entry by entry.
#[derive(Clone, Debug, Default)]
pub(crate) struct UndoLog {
    entries: Vec<ManuallyDrop<Undo>>,
    /// How many of `entries` own memory.
    owning: usize,
}

impl Drop for UndoLog {
    fn drop(&mut self) {
        self.forget(0);
    }
}

impl UndoLog {
    /// The number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log is empty.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Logs `undo`.
    #[inline]
    fn push(&mut self, undo: Undo) {
        self.owning += usize::from(undo.owns_memory());
        self.entries.push(ManuallyDrop::new(undo));
    }

    /// Takes the latest entry off the log.
    fn pop(&mut self) -> Option<Undo> {
        let undo = ManuallyDrop::into_inner(self.entries.pop()?);
        self.owning -= usize::from(undo.owns_memory());
        Some(undo)
    }

    /// Forgets the entries from `from` on: their writes stand.
    #[inline]
    pub(crate) fn forget(&mut self, from: usize) {
        if self.owning == 0 {
            self.entries.truncate(from);
            return;
        }
        while self.entries.len() > from {
            drop(self.pop());
        }
    }
}

/// An open transaction on a [`Store`]: reads see the transaction's own
/// writes; they last only if the transaction commits.
pub struct Tx<'a> {
    store: &'a mut Store,
    undo: &'a mut UndoLog,
    /// The log's length when the transaction began: entries from here on
    /// are this transaction's.
    start: usize,
    aborted: bool,
    /// Until [`Tx::close`]: a transaction dropped open (a panic unwound
    /// through it) undoes its writes.
    open: bool,
}

impl<'a> Tx<'a> {
    /// A transaction on `store` logging what it replaces in `undo` (which
    /// may already hold the entries of earlier writes that are still to be
    /// undone).
    pub(crate) fn begin(store: &'a mut Store, undo: &'a mut UndoLog) -> Self {
        let start = undo.len();
        Tx {
            store,
            undo,
            start,
            aborted: false,
            open: true,
        }
    }

    /// The value at `table`/`key` as this transaction sees it.
    pub fn get(&self, table: &'static str, key: impl Into<RowKey>) -> Option<Value> {
        self.store.get_ref(table, &key.into()).cloned()
    }

    /// Whether a row exists at `table`/`key`.
    #[inline]
    pub fn contains(&self, table: &'static str, key: impl Into<RowKey>) -> bool {
        self.store.get_ref(table, &key.into()).is_some()
    }

    /// Writes `value` at `table`/`key`.
    #[inline]
    pub fn put(&mut self, table: &'static str, key: impl Into<RowKey>, value: impl Into<Value>) {
        self.write(table, key.into(), Some(value.into()));
    }

    /// Writes `value` at `table`/`key` unless a row is there already;
    /// returns whether it wrote. The same as [`Tx::contains`] followed by
    /// [`Tx::put`] when it was not, with one lookup instead of two.
    #[inline]
    pub fn put_new(
        &mut self,
        table: &'static str,
        key: impl Into<RowKey>,
        value: impl Into<Value>,
    ) -> bool {
        let key = key.into();
        if !self.store.insert_new(table, &key, value.into()) {
            return false;
        }
        self.undo.push(Undo {
            table,
            key,
            old: None,
        });
        true
    }

    /// Deletes the row at `table`/`key`.
    pub fn delete(&mut self, table: &'static str, key: impl Into<RowKey>) {
        self.write(table, key.into(), None);
    }

    /// Adds `delta` to the integer at `table`/`key` (missing counts as 0)
    /// and returns the new value.
    #[inline]
    pub fn add(&mut self, table: &'static str, key: impl Into<RowKey>, delta: i64) -> i64 {
        let key = key.into();
        let (new, old) = self.store.add(table, &key, delta);
        self.undo.push(Undo { table, key, old });
        new
    }

    #[inline]
    fn write(&mut self, table: &'static str, key: RowKey, value: Option<Value>) {
        let old = self.store.replace(table, &key, value);
        self.undo.push(Undo { table, key, old });
    }

    /// Rolls the transaction back when it ends: none of its writes apply.
    pub fn abort(&mut self) {
        self.aborted = true;
    }

    /// Ends the transaction, undoing its writes if it was aborted. Returns
    /// whether it stands and wrote anything; its log entries stay for the
    /// caller to forget (commit) or undo later.
    pub(crate) fn close(&mut self) -> bool {
        self.open = false;
        if self.aborted {
            self.store.roll_back(self.undo, self.start);
        }
        self.undo.len() > self.start
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            self.store.roll_back(self.undo, self.start);
        }
    }
}

impl Store {
    /// Undoes the writes logged in `undo[from..]`, latest first, and drops
    /// them from the log.
    pub(crate) fn roll_back(&mut self, undo: &mut UndoLog, from: usize) {
        while undo.len() > from {
            let Some(u) = undo.pop() else { break };
            self.replace(u.table, &u.key, u.old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_counts_entries_that_own_memory_and_rolls_them_back() {
        let mut store = Store::new();
        let mut undo = UndoLog::default();
        let long = "an-entity-name-longer-than-the-inline-limit";
        {
            let mut tx = Tx::begin(&mut store, &mut undo);
            tx.put("t", long, "text");
            tx.put("t", "k", "more");
            tx.put("t", "k", 1);
            assert!(tx.close());
        }
        // The long key, and the text "k" held before its last write.
        assert_eq!((undo.len(), undo.owning), (3, 2));
        undo.forget(0);
        assert_eq!((undo.len(), undo.owning), (0, 0));
        {
            let mut tx = Tx::begin(&mut store, &mut undo);
            tx.put("t", long, 7);
            tx.put("t", "k", "again");
            tx.add("t", 5u32, 1);
            assert_eq!(undo_owning(&tx), 1);
            tx.abort();
            assert!(!tx.close());
        }
        assert_eq!((undo.len(), undo.owning), (0, 0));
        assert_eq!(store.get("t", long), Some(&Value::from("text")));
        assert_eq!(store.get("t", "k"), Some(&Value::Int(1)));
        assert_eq!(store.len(), 2);
    }

    fn undo_owning(tx: &Tx<'_>) -> usize {
        tx.undo.owning
    }
}
