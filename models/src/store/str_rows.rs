//! String-keyed rows of one table.
//!
//! Handlers key rows by a handful of entity names far more often than by
//! many distinct strings, so a table's string rows start as a sorted vector
//! searched by bisection (a few inlined comparisons of the keys' first
//! bytes). Past [`SMALL_MAX`] rows, where inserting into the middle of a
//! vector would start to cost, they move to an ordered map for good.
//!
//! A transaction reads a row before it writes it back (`add`), so the
//! vector remembers where its last search ended and checks there first.

use std::cell::Cell;
use std::collections::BTreeMap;

use super::key::{KeyStr, Value};

/// Rows kept in the sorted vector before the table switches to a map.
const SMALL_MAX: usize = 256;

/// String-keyed rows, ordered by key.
#[derive(Clone, Debug)]
pub(crate) enum StrRows {
    /// Few rows, sorted by key, and where the last search found one.
    Small(Vec<(KeyStr, Value)>, Cell<usize>),
    /// Many rows.
    Large(BTreeMap<KeyStr, Value>),
}

impl Default for StrRows {
    fn default() -> Self {
        StrRows::Small(Vec::new(), Cell::new(0))
    }
}

/// Where `key` is in the sorted `rows` (`Ok`) or would go (`Err`), trying
/// the remembered place first.
#[inline]
fn search(rows: &[(KeyStr, Value)], last: &Cell<usize>, key: &KeyStr) -> Result<usize, usize> {
    if rows.get(last.get()).is_some_and(|(k, _)| k == key) {
        return Ok(last.get());
    }
    let found = rows.binary_search_by(|(k, _)| k.cmp(key));
    if let Ok(i) = found {
        last.set(i);
    }
    found
}

impl StrRows {
    /// The row at `key`.
    #[inline]
    pub fn get(&self, key: &KeyStr) -> Option<&Value> {
        match self {
            StrRows::Small(rows, last) => search(rows, last, key).ok().map(|i| &rows[i].1),
            StrRows::Large(rows) => rows.get(key),
        }
    }

    /// Sets the row at `key`; returns what it held. The key is copied
    /// only when the row is new.
    #[inline]
    pub fn insert(&mut self, key: &KeyStr, value: Value) -> Option<Value> {
        match self {
            StrRows::Small(rows, last) => match search(rows, last, key) {
                Ok(i) => Some(std::mem::replace(&mut rows[i].1, value)),
                Err(i) if rows.len() < SMALL_MAX => {
                    rows.insert(i, (key.clone(), value));
                    last.set(i);
                    None
                }
                Err(_) => {
                    let mut map: BTreeMap<KeyStr, Value> =
                        std::mem::take(rows).into_iter().collect();
                    map.insert(key.clone(), value);
                    *self = StrRows::Large(map);
                    None
                }
            },
            StrRows::Large(rows) => match rows.get_mut(key) {
                Some(v) => Some(std::mem::replace(v, value)),
                None => rows.insert(key.clone(), value),
            },
        }
    }

    /// Removes the row at `key`; returns what it held.
    pub fn remove(&mut self, key: &KeyStr) -> Option<Value> {
        match self {
            StrRows::Small(rows, last) => {
                let i = search(rows, last, key).ok()?;
                Some(rows.remove(i).1)
            }
            StrRows::Large(rows) => rows.remove(key),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            StrRows::Small(rows, _) => rows.len(),
            StrRows::Large(rows) => rows.len(),
        }
    }

    /// Every row, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&KeyStr, &Value)> {
        let (small, large) = match self {
            StrRows::Small(rows, _) => (Some(rows.iter().map(|(k, v)| (k, v))), None),
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
            assert!(matches!(rows, StrRows::Small(..)) == (n < SMALL_MAX));
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
