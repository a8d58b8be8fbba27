//! String-keyed rows of one table.
//!
//! Handlers key rows by a handful of entity names far more often than by
//! many distinct strings, so a table's string rows start as a sorted vector
//! searched by bisection. Past [`SMALL_MAX`] rows, where inserting into the
//! middle of a vector would start to cost, they move to an ordered map for
//! good.
//!
//! The bisection runs over a second vector holding each key's first eight
//! bytes as an integer (which order keys first), so it compares plain
//! integers; whole keys are compared only where those bytes are equal. A
//! transaction may read a row before it writes it back, so the vector also
//! remembers where its last search ended and checks there first.

use std::cell::Cell;
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
    /// Where the last search found a row.
    last: Cell<usize>,
}

impl Default for StrRows {
    fn default() -> Self {
        StrRows::Small(Small::default())
    }
}

impl Small {
    /// Where `key` is (`Ok`) or would go (`Err`), trying the remembered
    /// place first.
    #[inline]
    fn search(&self, key: &KeyStr) -> Result<usize, usize> {
        let head = key.head();
        let last = self.last.get();
        if self.heads.get(last) == Some(&head) && self.rows[last].0 == *key {
            return Ok(last);
        }
        let mut i = self.heads.partition_point(|&h| h < head);
        while self.heads.get(i) == Some(&head) {
            match self.rows[i].0.cmp(key) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Equal => {
                    self.last.set(i);
                    return Ok(i);
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        Err(i)
    }

    fn insert_at(&mut self, i: usize, key: KeyStr, value: Value) {
        self.heads.insert(i, key.head());
        self.rows.insert(i, (key, value));
        self.last.set(i);
    }
}

impl StrRows {
    /// The row at `key`.
    #[inline]
    pub fn get(&self, key: &KeyStr) -> Option<&Value> {
        match self {
            StrRows::Small(small) => small.search(key).ok().map(|i| &small.rows[i].1),
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
                let i = small.search(key).ok()?;
                small.heads.remove(i);
                Some(small.rows.remove(i).1)
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
