//! String-keyed rows of one table.
//!
//! Handlers key rows by a handful of entity names far more often than by
//! many distinct strings, so a table's string rows start as a sorted vector.
//! Past [`SMALL_MAX`] rows, where inserting into the middle of a vector
//! would start to cost, they move to an ordered map for good.
//!
//! A second vector holds each key's first eight bytes as an integer (which
//! order keys first), and a small open-addressed hash index over those
//! integers finds an existing row in one or two probes; whole keys are
//! compared only where those bytes are equal. Only a key that is not there
//! yet (an insert) bisects the vector for its place. The index is rebuilt
//! when a row comes or goes, which is rare next to lookups.

use std::collections::BTreeMap;

use super::key::{KeyStr, Value};

/// Rows kept in the sorted vector before the table switches to a map.
const SMALL_MAX: usize = 256;

/// String-keyed rows, ordered by key.
#[derive(Clone, Debug)]
pub(crate) enum StrRows {
    /// Few rows, sorted by key.
    Small(Small),
    /// Many rows.
    Large(BTreeMap<KeyStr, Value>),
}

/// Few rows in a sorted vector.
#[derive(Clone, Debug, Default)]
pub(crate) struct Small {
    /// `rows[i].0.head()`, for every `i`.
    heads: Vec<u64>,
    rows: Vec<(KeyStr, Value)>,
    /// Hash index over `heads`, open-addressed with linear probing: a slot
    /// holds a row's index plus one, or 0 when empty. Its length is a power
    /// of two at least twice the number of rows (empty while there are
    /// none).
    index: Vec<u16>,
    /// `64 - log2(index.len())`: how far a hashed head is shifted to give
    /// its first slot.
    shift: u32,
}

impl Default for StrRows {
    fn default() -> Self {
        StrRows::Small(Small::default())
    }
}

impl Small {
    /// The first index slot to probe for a key with first bytes `head`.
    #[inline]
    fn slot(&self, head: u64) -> usize {
        // Short keys differ only in their high bytes: fold them down, then
        // take the top bits of a Fibonacci hash.
        let h = head ^ (head >> 29);
        (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Where `key` is, if it is there.
    #[inline(always)]
    fn find(&self, key: &KeyStr) -> Option<usize> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.index.len() - 1;
        let mut s = self.slot(key.head()) & mask;
        loop {
            let i = usize::from(self.index[s]).checked_sub(1)?;
            if self.rows[i].0 == *key {
                return Some(i);
            }
            s = (s + 1) & mask;
        }
    }

    /// Where `key` is (`Ok`) or would go (`Err`).
    #[inline]
    fn search(&self, key: &KeyStr) -> Result<usize, usize> {
        match self.find(key) {
            Some(i) => Ok(i),
            None => Err(self.place(key)),
        }
    }

    /// Where `key`, which is not there, would go in order.
    #[cold]
    fn place(&self, key: &KeyStr) -> usize {
        let head = key.head();
        let mut i = self.heads.partition_point(|&h| h < head);
        while self.heads.get(i) == Some(&head) && self.rows[i].0 < *key {
            i += 1;
        }
        i
    }

    fn insert_at(&mut self, i: usize, key: KeyStr, value: Value) {
        self.heads.insert(i, key.head());
        self.rows.insert(i, (key, value));
        if self.index.len() < 2 * self.rows.len() {
            return self.reindex();
        }
        // The rows from `i` on moved one place along.
        let moved = i as u16;
        for slot in &mut self.index {
            *slot += u16::from(*slot > moved);
        }
        self.index_row(i);
    }

    fn remove_at(&mut self, i: usize) -> Value {
        self.heads.remove(i);
        let (_, value) = self.rows.remove(i);
        self.reindex();
        value
    }

    /// Rebuilds the hash index after rows moved.
    fn reindex(&mut self) {
        self.index.clear();
        if self.rows.is_empty() {
            return;
        }
        let len = (self.rows.len() * 2).next_power_of_two().max(8);
        self.index.resize(len, 0);
        self.shift = 64 - len.trailing_zeros();
        for i in 0..self.rows.len() {
            self.index_row(i);
        }
    }

    /// Enters row `i` in the hash index, which has room for it.
    fn index_row(&mut self, i: usize) {
        let mask = self.index.len() - 1;
        let mut s = self.slot(self.heads[i]) & mask;
        while self.index[s] != 0 {
            s = (s + 1) & mask;
        }
        // At most SMALL_MAX rows, so the index fits.
        self.index[s] = (i + 1) as u16;
    }
}

impl StrRows {
    /// The row at `key`.
    #[inline]
    pub fn get(&self, key: &KeyStr) -> Option<&Value> {
        match self {
            StrRows::Small(small) => small.find(key).map(|i| &small.rows[i].1),
            StrRows::Large(rows) => rows.get(key),
        }
    }

    /// Sets the row at `key` to what `f` makes of the row there now;
    /// returns what the row held. The key is copied only when the row is
    /// new.
    #[inline]
    pub fn update(
        &mut self,
        key: &KeyStr,
        f: impl FnOnce(Option<&Value>) -> Value,
    ) -> Option<Value> {
        match self {
            StrRows::Small(small) => match small.search(key) {
                Ok(i) => {
                    let new = f(Some(&small.rows[i].1));
                    Some(std::mem::replace(&mut small.rows[i].1, new))
                }
                Err(i) if small.rows.len() < SMALL_MAX => {
                    small.insert_at(i, key.clone(), f(None));
                    None
                }
                Err(_) => {
                    let mut map: BTreeMap<KeyStr, Value> =
                        std::mem::take(&mut small.rows).into_iter().collect();
                    map.insert(key.clone(), f(None));
                    *self = StrRows::Large(map);
                    None
                }
            },
            StrRows::Large(rows) => match rows.get_mut(key) {
                Some(v) => {
                    let new = f(Some(v));
                    Some(std::mem::replace(v, new))
                }
                None => rows.insert(key.clone(), f(None)),
            },
        }
    }

    /// Sets the row at `key`; returns what it held. The key is copied
    /// only when the row is new.
    #[inline]
    pub fn insert(&mut self, key: &KeyStr, value: Value) -> Option<Value> {
        self.update(key, |_| value)
    }

    /// Removes the row at `key`; returns what it held.
    pub fn remove(&mut self, key: &KeyStr) -> Option<Value> {
        match self {
            StrRows::Small(small) => {
                let i = small.find(key)?;
                Some(small.remove_at(i))
            }
            StrRows::Large(rows) => rows.remove(key),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            StrRows::Small(small) => small.rows.len(),
            StrRows::Large(rows) => rows.len(),
        }
    }

    /// Every row, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&KeyStr, &Value)> {
        let (small, large) = match self {
            StrRows::Small(small) => (Some(small.rows.iter().map(|(k, v)| (k, v))), None),
            StrRows::Large(rows) => (None, Some(rows.iter())),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_ordered_through_the_switch_to_a_map() {
        let mut rows = StrRows::default();
        // A permutation of 0..600, so inserts land all over the vector.
        let names: Vec<String> = (0..600u32).map(|i| format!("e{}", (i * 7) % 600)).collect();
        for (n, name) in names.iter().enumerate() {
            rows.insert(&KeyStr::from(name.as_str()), Value::Int(n as i64));
            assert_eq!(rows.len(), n + 1);
            assert!(matches!(rows, StrRows::Small(_)) == (n < SMALL_MAX));
        }
        let mut sorted = names.clone();
        sorted.sort();
        let got: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got, sorted);
        for (n, name) in names.iter().enumerate() {
            assert_eq!(
                rows.get(&KeyStr::from(name.as_str())),
                Some(&Value::Int(n as i64))
            );
        }
        rows.remove(&KeyStr::from("e3"));
        assert_eq!(rows.get(&KeyStr::from("e3")), None);
        assert_eq!(rows.len(), 599);
    }

    #[test]
    fn every_row_stays_found_while_rows_come_and_go() {
        let mut rows = StrRows::default();
        // A permutation of 0..200, so inserts land all over the vector.
        let names: Vec<String> = (0..200u32).map(|i| format!("k{}", (i * 7) % 200)).collect();
        for (n, name) in names.iter().enumerate() {
            assert_eq!(rows.get(&KeyStr::from(name.as_str())), None);
            rows.insert(&KeyStr::from(name.as_str()), Value::Int(n as i64));
            for (m, earlier) in names[..=n].iter().enumerate() {
                let got = rows.get(&KeyStr::from(earlier.as_str()));
                assert_eq!(got, Some(&Value::Int(m as i64)), "{earlier} after {name}");
            }
        }
        for (n, name) in names.iter().enumerate().step_by(3) {
            assert_eq!(
                rows.remove(&KeyStr::from(name.as_str())),
                Some(Value::Int(n as i64))
            );
        }
        for (n, name) in names.iter().enumerate() {
            let want = (n % 3 != 0).then_some(Value::Int(n as i64));
            assert_eq!(rows.get(&KeyStr::from(name.as_str())), want.as_ref());
        }
        assert!(matches!(rows, StrRows::Small(_)));
    }

    #[test]
    fn keys_sharing_their_first_bytes_stay_apart() {
        let mut rows = StrRows::default();
        let names = [
            "abcdefgh1",
            "abcdefgh",
            "abcdefgh-and-more-than-the-inline-limit",
            "abcdefgh0",
            "abcdefg",
            "abcdefgi",
        ];
        for (n, name) in names.iter().enumerate() {
            rows.insert(&KeyStr::from(*name), Value::Int(n as i64));
        }
        let mut sorted = names.to_vec();
        sorted.sort();
        let got: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got, sorted);
        for (n, name) in names.iter().enumerate() {
            assert_eq!(rows.get(&KeyStr::from(*name)), Some(&Value::Int(n as i64)));
        }
        assert_eq!(rows.get(&KeyStr::from("abcdefgh2")), None);
        assert_eq!(
            rows.update(&KeyStr::from("abcdefgh0"), |v| Value::Int(
                v.and_then(Value::as_int).unwrap_or(0) + 10
            )),
            Some(Value::Int(3))
        );
        assert_eq!(rows.remove(&KeyStr::from("abcdefgh")), Some(Value::Int(1)));
        assert_eq!(rows.get(&KeyStr::from("abcdefgh0")), Some(&Value::Int(13)));
        assert_eq!(rows.len(), 5);
    }

    #[test]
    fn replaces_and_removes_in_the_vector() {
        let mut rows = StrRows::default();
        rows.insert(&KeyStr::from("b"), Value::Int(1));
        rows.insert(&KeyStr::from("a"), Value::Int(2));
        rows.insert(&KeyStr::from("b"), Value::Int(3));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.get(&KeyStr::from("b")), Some(&Value::Int(3)));
        rows.remove(&KeyStr::from("a"));
        rows.remove(&KeyStr::from("zz"));
        let got: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got, ["b"]);
    }
}
