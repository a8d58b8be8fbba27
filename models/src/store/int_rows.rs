//! Integer-keyed rows of one table.
//!
//! Handlers key most rows by ids that count up from zero (message ids,
//! entity ids, offsets), so the rows with keys in `0..n` live in a vector
//! indexed by key: a lookup is an index, not a tree search. Every other key
//! (negative, or far beyond the rows there are) goes to an ordered map.
//! Iteration is in key order either way: the map's negative keys, the
//! vector, then the map's keys past the vector.

use std::collections::BTreeMap;

use super::key::Value;

/// The vector never shrinks below this many slots once it exists.
const DENSE_MIN: usize = 64;

/// The vector may hold at most this many slots per row of the table, so a
/// handler keying rows by sparse integers cannot make it waste memory.
const SLOTS_PER_ROW_MAX: usize = 4;

/// The vector may cover keys below this however few rows the table holds
/// (a few tens of kilobytes at most), so ids that count up but arrive out of
/// order (message ids from several partitions) go straight to their slot
/// instead of through the map while the table is young.
const DENSE_FREE: usize = 1024;

/// Integer-keyed rows, ordered by key.
#[derive(Clone, Debug, Default)]
pub(crate) struct IntRows {
    /// Rows with keys `0..dense.len()`, at their key.
    dense: Vec<Option<Value>>,
    /// How many slots of `dense` hold a row.
    dense_rows: usize,
    /// Rows with keys outside `0..dense.len()`.
    sparse: BTreeMap<i64, Value>,
}

impl IntRows {
    /// The slot of `key` in the vector, if it has one.
    #[inline]
    fn slot(&self, key: i64) -> Option<usize> {
        usize::try_from(key).ok().filter(|&i| i < self.dense.len())
    }

    /// The row at `key`.
    #[inline]
    pub fn get(&self, key: i64) -> Option<&Value> {
        match self.slot(key) {
            Some(i) => self.dense[i].as_ref(),
            None => self.sparse.get(&key),
        }
    }

    /// Sets the row at `key`; returns what it held.
    #[inline]
    pub fn insert(&mut self, key: i64, value: Value) -> Option<Value> {
        let slot = match self.slot(key) {
            Some(i) => Some(i),
            None => self.grow_to(key),
        };
        match slot {
            Some(i) => {
                let old = self.dense[i].replace(value);
                self.dense_rows += usize::from(old.is_none());
                old
            }
            None => self.sparse.insert(key, value),
        }
    }

    /// Sets the row at `key` unless one is there; returns whether it did.
    #[inline]
    pub fn insert_new(&mut self, key: i64, value: Value) -> bool {
        match self.slot(key) {
            Some(i) => {
                let slot = &mut self.dense[i];
                if slot.is_some() {
                    return false;
                }
                *slot = Some(value);
                self.dense_rows += 1;
                true
            }
            None if self.sparse.contains_key(&key) => false,
            None => {
                self.insert(key, value);
                true
            }
        }
    }

    /// Removes the row at `key`; returns what it held.
    pub fn remove(&mut self, key: i64) -> Option<Value> {
        match self.slot(key) {
            Some(i) => {
                let old = self.dense[i].take();
                self.dense_rows -= usize::from(old.is_some());
                old
            }
            None => self.sparse.remove(&key),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.dense_rows + self.sparse.len()
    }

    /// Every row, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &Value)> {
        let end = self.dense.len() as i64;
        let below = self.sparse.range(..0).map(|(k, v)| (*k, v));
        let dense = self
            .dense
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (i as i64, v)));
        let above = self.sparse.range(end..).map(|(k, v)| (*k, v));
        below.chain(dense).chain(above)
    }

    /// Extends the vector to cover `key` if that keeps it dense enough,
    /// moving the map's rows it now covers into it. Returns the key's slot.
    fn grow_to(&mut self, key: i64) -> Option<usize> {
        let i = usize::try_from(key).ok()?;
        let want = i
            .checked_add(1)?
            .checked_next_power_of_two()?
            .max(DENSE_MIN);
        if want > DENSE_FREE && want > SLOTS_PER_ROW_MAX * (self.len() + 1) {
            return None;
        }
        let old = self.dense.len();
        if self.dense.capacity() < want {
            // Ids that count up soon want the next power of two: room for
            // the whole free allowance at once spares the copies of growing
            // by doubling (only the slots in use are filled).
            self.dense.reserve_exact(want.max(DENSE_FREE) - old);
        }
        self.dense.resize_with(want, || None);
        let mut covered = self.sparse.split_off(&(old as i64));
        let mut beyond = covered.split_off(&(want as i64));
        self.sparse.append(&mut beyond);
        for (k, v) in covered {
            self.dense[k as usize] = Some(v);
            self.dense_rows += 1;
        }
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(rows: &IntRows) -> Vec<i64> {
        rows.iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn iterates_in_key_order_across_vector_and_map() {
        let mut rows = IntRows::default();
        for k in [5, -3, 1 << 40, 0, 63, 64, 200, -1] {
            rows.insert(k, Value::Int(k));
        }
        assert_eq!(keys(&rows), [-3, -1, 0, 5, 63, 64, 200, 1 << 40]);
        assert_eq!(rows.len(), 8);
        for (k, v) in rows.iter() {
            assert_eq!(v, &Value::Int(k));
            assert_eq!(rows.get(k), Some(&Value::Int(k)));
        }
        assert_eq!(rows.get(7), None);
        assert_eq!(rows.get(i64::MIN), None);
    }

    #[test]
    fn growing_moves_covered_rows_into_the_vector() {
        let mut rows = IntRows::default();
        // A key below the free allowance goes to the vector at once ...
        rows.insert(1000, Value::Int(1));
        assert_eq!(rows.dense.len(), DENSE_FREE);
        // ... 3000 lands in the map (the vector would be too sparse) ...
        rows.insert(3000, Value::Int(3));
        assert_eq!(rows.dense.len(), DENSE_FREE);
        // ... until enough rows arrive to cover it densely: the vector
        // grows when a key beyond it arrives, and takes in the map's rows
        // it now covers.
        for k in 0..1100 {
            rows.insert(k, Value::Int(k));
        }
        assert_eq!(rows.sparse.len(), 1, "3000 is still beyond the vector");
        rows.insert(2100, Value::Int(2100));
        assert!(rows.dense.len() > 3000, "{}", rows.dense.len());
        assert!(rows.sparse.is_empty());
        assert_eq!(rows.len(), 1102);
        assert_eq!(rows.get(1000), Some(&Value::Int(1000)));
        assert_eq!(rows.get(3000), Some(&Value::Int(3)));
        assert_eq!(keys(&rows).last(), Some(&3000));
    }

    #[test]
    fn sparse_keys_stay_in_the_map() {
        let mut rows = IntRows::default();
        for i in 0..1000 {
            rows.insert(i * 1000, Value::Int(i));
        }
        assert!(rows.dense.len() <= SLOTS_PER_ROW_MAX * 1000);
        assert_eq!(rows.len(), 1000);
        assert_eq!(keys(&rows), (0..1000).map(|i| i * 1000).collect::<Vec<_>>());
    }

    #[test]
    fn removing_and_replacing_keep_the_count() {
        let mut rows = IntRows::default();
        rows.insert(3, Value::Int(1));
        rows.insert(3, Value::Int(2));
        rows.insert(-3, Value::Int(2));
        assert_eq!(rows.len(), 2);
        rows.remove(3);
        rows.remove(3);
        rows.remove(-3);
        rows.remove(99);
        assert_eq!(rows.len(), 0);
        assert_eq!(keys(&rows), Vec::<i64>::new());
    }

    #[test]
    fn extreme_keys_do_not_overflow() {
        let mut rows = IntRows::default();
        rows.insert(i64::MAX, Value::Int(1));
        rows.insert(i64::MIN, Value::Int(2));
        assert_eq!(keys(&rows), [i64::MIN, i64::MAX]);
    }
}
