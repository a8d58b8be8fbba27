//! Row keys and stored values.

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
/// so keying a row by a name does not allocate. The first eight bytes are
/// also kept as one big-endian integer, which orders most pairs of keys in
/// a single comparison.
#[derive(Clone)]
pub struct KeyStr {
    head: u64,
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE_MAX] },
    Heap(Box<str>),
}

impl KeyStr {
    /// Whether the key is too long to be held inline.
    #[inline]
    pub(crate) fn on_heap(&self) -> bool {
        match self.repr {
            Repr::Inline { .. } => false,
            Repr::Heap(_) => true,
        }
    }

    /// The key's first eight bytes (zero-padded) as a big-endian integer:
    /// keys order by it first.
    #[inline]
    pub(crate) fn head(&self) -> u64 {
        self.head
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        // Built only from a whole `&str`, so always UTF-8.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The key's UTF-8 bytes (what comparisons use: byte order is `str`
    /// order).
    fn as_bytes(&self) -> &[u8] {
        match &self.repr {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(s) => s.as_bytes(),
        }
    }

    /// The rest of the order, for keys whose first eight bytes are equal
    /// (most often because the keys are equal).
    #[inline]
    fn cmp_rest(&self, other: &Self) -> std::cmp::Ordering {
        if let (Repr::Inline { len: la, bytes: a }, Repr::Inline { len: lb, bytes: b }) =
            (&self.repr, &other.repr)
            && la == lb
            && a == b
        {
            return std::cmp::Ordering::Equal;
        }
        self.cmp_unequal(other)
    }

    /// The order of keys with equal first eight bytes, when they may
    /// differ.
    fn cmp_unequal(&self, other: &Self) -> std::cmp::Ordering {
        match (&self.repr, &other.repr) {
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

impl From<&str> for KeyStr {
    fn from(s: &str) -> Self {
        let head_of = |b: &[u8]| u64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
        if s.len() <= INLINE_MAX {
            // Copied once, straight into place (a key built first and
            // moved in costs a second, unaligned copy); the zero padding is
            // what `head` needs too.
            let mut key = KeyStr {
                head: 0,
                repr: Repr::Inline {
                    len: s.len() as u8,
                    bytes: [0u8; INLINE_MAX],
                },
            };
            if let Repr::Inline { bytes, .. } = &mut key.repr {
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                key.head = head_of(bytes);
            }
            key
        } else {
            KeyStr {
                head: head_of(s.as_bytes()),
                repr: Repr::Heap(s.into()),
            }
        }
    }
}

impl PartialEq for KeyStr {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.head == other.head && self.cmp_rest(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for KeyStr {}
impl PartialOrd for KeyStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for KeyStr {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Zero padding sorts below every byte, so when the first eight
        // bytes (padded) differ, they order the keys as strings do.
        if self.head != other.head {
            return self.head.cmp(&other.head);
        }
        self.cmp_rest(other)
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
impl From<&KeyStr> for RowKey {
    #[inline]
    fn from(v: &KeyStr) -> Self {
        RowKey::Str(v.clone())
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

#[cfg(test)]
mod tests {
    use super::*;

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
            "abcdefgh",
            "abcdefgh\u{0}",
            "abcdefghi",
            "abcdefgh-and-more-than-the-inline-limit",
            "abcdefgh-and-more-than-the-inline-limiz",
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
}
