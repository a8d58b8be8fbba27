//! Transactions: writes that count only once the transaction commits.
//!
//! A transaction writes straight into the store and keeps an undo log of
//! the values it replaced. Reads therefore need no second look into a
//! buffer of pending writes, and committing costs nothing but forgetting
//! the log; an abort, a panic in the handler, or writes made after a crash
//! (which must never last) replay the log backwards instead. Nothing else
//! can look at the store while a transaction is open: the handler holds it
//! borrowed.

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
    /// An entry that owns no memory, for slots outside the log.
    const FILLER: Undo = Undo {
        table: "",
        key: RowKey::Int(0),
        old: None,
    };

    /// Whether the entry owns memory (a long key or a text value).
    #[inline]
    fn owns_memory(&self) -> bool {
        owns_memory(&self.key, &self.old)
    }
}

/// Whether an entry with `key` and `old` owns memory (a long key or a text
/// value).
#[inline(always)]
fn owns_memory(key: &RowKey, old: &Option<Value>) -> bool {
    matches!(old, Some(Value::Text(_))) || matches!(key, RowKey::Str(k) if k.is_heap())
}

/// The log of what writes replaced, latest last, so they can be undone.
///
/// Slots past the log's length are kept, holding entries that own no
/// memory, to be written over: logging an entry writes it straight into
/// place, and forgetting entries (what a commit does) is lowering the
/// length, once the few entries that own memory (a long key, a text value)
/// are dropped.
#[derive(Clone, Debug, Default)]
pub(crate) struct UndoLog {
    /// `entries[..len]` is the log.
    entries: Vec<Undo>,
    len: usize,
    /// How many entries of the log own memory.
    owning: usize,
}

/// A position in an [`UndoLog`]: entries logged after it can be undone or
/// forgotten back to it. The default is the empty log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    len: usize,
    owning: usize,
}

impl UndoLog {
    /// The current end of the log.
    #[inline]
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            len: self.len,
            owning: self.owning,
        }
    }

    /// Whether nothing is logged.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether anything was logged after `mark`.
    #[inline]
    pub(crate) fn grew_since(&self, mark: Mark) -> bool {
        self.len > mark.len
    }

    /// Forgets the entries logged after `mark` (their writes stand).
    #[inline]
    pub(crate) fn forget(&mut self, mark: Mark) {
        if self.owning > mark.owning {
            self.drop_owning(mark.len);
        }
        self.len = mark.len;
        self.owning = mark.owning;
    }

    /// Drops the entries from `from` on that own memory, leaving fillers.
    #[cold]
    fn drop_owning(&mut self, from: usize) {
        for u in &mut self.entries[from..self.len] {
            if u.owns_memory() {
                *u = Undo::FILLER;
            }
        }
    }

    /// Logs that the row at `table`/`key` held `old`.
    #[inline(always)]
    fn log(&mut self, table: &'static str, key: RowKey, old: Option<Value>) {
        if self.len == self.entries.len() {
            self.grow();
        }
        self.owning += usize::from(owns_memory(&key, &old));
        // The slot holds a filler, which owns nothing: writing over its
        // fields without dropping them (which would keep the new ones aside
        // across a possible deallocation) leaks nothing.
        let slot = &mut self.entries[self.len];
        slot.table = table;
        std::mem::forget(std::mem::replace(&mut slot.key, key));
        std::mem::forget(std::mem::replace(&mut slot.old, old));
        self.len += 1;
    }

    /// Adds a slot for the next entry.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        self.entries.push(Undo::FILLER);
    }

    /// Takes the latest entry off the log.
    #[inline]
    fn pop(&mut self) -> Option<Undo> {
        self.len = self.len.checked_sub(1)?;
        let u = std::mem::replace(&mut self.entries[self.len], Undo::FILLER);
        self.owning -= usize::from(u.owns_memory());
        Some(u)
    }
}

/// An open transaction on a [`Store`]: reads see the transaction's own
/// writes; they last only if the transaction commits.
pub struct Tx<'a> {
    store: &'a mut Store,
    undo: &'a mut UndoLog,
    /// The log's end when the transaction began: entries from here on are
    /// this transaction's.
    start: Mark,
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
        let start = undo.mark();
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
        self.undo.log(table, key, old);
        new
    }

    #[inline]
    fn write(&mut self, table: &'static str, key: RowKey, value: Option<Value>) {
        let old = self.store.replace(table, &key, value);
        self.undo.log(table, key, old);
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
        self.undo.grew_since(self.start)
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
    /// Undoes the writes logged in `undo` after `from`, latest first, and
    /// drops them from the log.
    pub(crate) fn roll_back(&mut self, undo: &mut UndoLog, from: Mark) {
        while undo.grew_since(from) {
            let Some(u) = undo.pop() else { break };
            self.replace(u.table, &u.key, u.old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_drops_what_entries_own_and_slots_are_reused() {
        let long = "a key too long to be stored inline in a row key";
        let mut store = Store::new();
        let mut undo = UndoLog::default();
        let start = undo.mark();
        {
            let mut tx = Tx::begin(&mut store, &mut undo);
            tx.put("t", long, "text");
            tx.put("t", 1u32, 1);
            assert!(tx.close());
        }
        assert_eq!(undo.owning, 1);
        undo.forget(start);
        assert!(undo.is_empty());
        assert_eq!(undo.owning, 0);
        assert!(undo.entries.iter().all(|u| !u.owns_memory()));
        {
            // Replaces the text (an entry owning memory), then aborts.
            let mut tx = Tx::begin(&mut store, &mut undo);
            tx.put("t", long, 5);
            tx.add("t", 1u32, 1);
            tx.abort();
            assert!(!tx.close());
        }
        assert_eq!(undo.mark(), start);
        assert_eq!(store.get("t", long), Some(&Value::from("text")));
        assert_eq!(store.get("t", 1u32), Some(&Value::Int(1)));
        assert_eq!(undo.entries.len(), 2, "the two slots were reused");
        assert!(undo.entries.iter().all(|u| !u.owns_memory()));
    }
}
