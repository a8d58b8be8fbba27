//! Scenario values with more than one spelling: `processing_ms = 5` or
//! `[1, 5]`, `acks = "all"` or `1`, `loss = 0.01` or a table.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A time in milliseconds, written as an integer or with a fraction (down
/// to microseconds: `3006.347`). Timeline faults use it, so a fault recorded
/// at any instant of a run can be written back exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Millis(pub u64);

impl Millis {
    /// Microseconds.
    pub fn as_us(self) -> u64 {
        self.0
    }

    /// Whole milliseconds (rounded down).
    pub fn as_ms(self) -> u64 {
        self.0 / 1000
    }
}

impl Serialize for Millis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(1000) {
            s.serialize_u64(self.0 / 1000)
        } else {
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Millis;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("milliseconds (an integer, or a number with up to three decimals)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Millis, E> {
                v.checked_mul(1000)
                    .map(Millis)
                    .ok_or_else(|| E::custom(format!("{v} is too large for this field")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Millis, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is negative; expected milliseconds >= 0")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Millis, E> {
                if !v.is_finite() || !(0.0..=1e15).contains(&v) {
                    return Err(E::custom(format!(
                        "{v} is not a valid number of milliseconds"
                    )));
                }
                Ok(Millis((v * 1000.0).round() as u64))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration in milliseconds: one value, or a `[min, max]` range sampled
/// uniformly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsRange(pub u64, pub u64);

impl Serialize for MsRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        if self.0 == self.1 {
            return s.serialize_u64(self.0);
        }
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&self.0)?;
        seq.serialize_element(&self.1)?;
        seq.end()
    }
}

impl<'de> Deserialize<'de> for MsRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MsRange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("milliseconds as a non-negative integer, or a [min, max] pair")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MsRange, E> {
                Ok(MsRange(v, v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MsRange, E> {
                u64::try_from(v)
                    .map(|v| MsRange(v, v))
                    .map_err(|_| E::custom(format!("{v} is negative; expected milliseconds >= 0")))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MsRange, A::Error> {
                let lo: u64 = seq.next_element()?.ok_or_else(|| {
                    de::Error::custom("expected [min, max], found an empty array")
                })?;
                let hi: u64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("expected [min, max], found one element"))?;
                if seq.next_element::<u64>()?.is_some() {
                    return Err(de::Error::custom(
                        "expected [min, max], found more than two elements",
                    ));
                }
                if hi < lo {
                    return Err(de::Error::custom(format!(
                        "range [{lo}, {hi}] has min above max"
                    )));
                }
                Ok(MsRange(lo, hi))
            }
        }
        d.deserialize_any(V)
    }
}

/// Producer `acks`: `"all"` (or `-1`), `"1"` / `1`, `"0"` / `0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcksValue {
    /// `acks=0`.
    Zero,
    /// `acks=1`.
    One,
    /// `acks=all`.
    All,
}

impl Serialize for AcksValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            AcksValue::Zero => "0",
            AcksValue::One => "1",
            AcksValue::All => "all",
        })
    }
}

impl<'de> Deserialize<'de> for AcksValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AcksValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""all", "1" or "0""#)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AcksValue, E> {
                match v {
                    0 => Ok(AcksValue::Zero),
                    1 => Ok(AcksValue::One),
                    -1 => Ok(AcksValue::All),
                    _ => Err(E::custom(format!(
                        r#"acks = {v} is not valid; expected "all", "1" or "0""#
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AcksValue, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AcksValue, E> {
                match v {
                    "0" => Ok(AcksValue::Zero),
                    "1" => Ok(AcksValue::One),
                    "all" | "-1" => Ok(AcksValue::All),
                    _ => Err(E::custom(format!(
                        r#"acks = "{v}" is not valid; expected "all", "1" or "0""#
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Network latency: a constant, a `[min, max]` uniform range, or
/// `{ mean = .., max = .. }` exponential (all in milliseconds, fractions
/// allowed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LatencyValue {
    /// Always this many milliseconds.
    Constant(f64),
    /// Uniform between the two.
    Uniform(f64, f64),
    /// Exponential with this mean, capped at `max`.
    Exponential {
        /// Mean.
        mean: f64,
        /// Cap.
        max: f64,
    },
}

impl Serialize for LatencyValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match *self {
            LatencyValue::Constant(x) => s.serialize_f64(x),
            LatencyValue::Uniform(lo, hi) => {
                let mut seq = s.serialize_seq(Some(2))?;
                seq.serialize_element(&lo)?;
                seq.serialize_element(&hi)?;
                seq.end()
            }
            LatencyValue::Exponential { mean, max } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("mean", &mean)?;
                m.serialize_entry("max", &max)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for LatencyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Exp {
            mean: f64,
            max: Option<f64>,
        }
        impl<'de> Visitor<'de> for V {
            type Value = LatencyValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("milliseconds, a [min, max] pair, or { mean = .., max = .. }")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LatencyValue, E> {
                Ok(LatencyValue::Constant(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LatencyValue, E> {
                Ok(LatencyValue::Constant(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LatencyValue, E> {
                Ok(LatencyValue::Constant(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LatencyValue, A::Error> {
                let lo: f64 = seq.next_element()?.ok_or_else(|| {
                    de::Error::custom("expected [min, max], found an empty array")
                })?;
                let hi: f64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("expected [min, max], found one element"))?;
                if seq.next_element::<f64>()?.is_some() {
                    return Err(de::Error::custom(
                        "expected [min, max], found more than two elements",
                    ));
                }
                Ok(LatencyValue::Uniform(lo, hi))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LatencyValue, A::Error> {
                let e = Exp::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(LatencyValue::Exponential {
                    mean: e.mean,
                    max: e.max.unwrap_or(e.mean * 20.0),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A per-message chaos fault: a bare probability, or a table with the
/// probability, the message kinds it applies to and (for delays) the extra
/// delay range.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageChaosValue {
    /// Probability per message.
    pub probability: f64,
    /// Only these message kinds (empty: all).
    pub kinds: Vec<String>,
    /// Extra delay range in milliseconds (delay and reorder).
    pub extra_ms: Option<MsRange>,
    /// Written as a bare probability rather than a table.
    pub bare: bool,
}

impl Serialize for MessageChaosValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.kinds.is_empty() && self.extra_ms.is_none() {
            return s.serialize_f64(self.probability);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("probability", &self.probability)?;
        if !self.kinds.is_empty() {
            m.serialize_entry("kinds", &self.kinds)?;
        }
        if let Some(e) = &self.extra_ms {
            m.serialize_entry("extra_ms", e)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for MessageChaosValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            probability: f64,
            #[serde(default)]
            kinds: Vec<String>,
            extra_ms: Option<MsRange>,
        }
        impl<'de> Visitor<'de> for V {
            type Value = MessageChaosValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a probability, or { probability = .., kinds = [..], extra_ms = .. }")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MessageChaosValue, E> {
                Ok(MessageChaosValue {
                    probability: v,
                    kinds: Vec::new(),
                    extra_ms: None,
                    bare: true,
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MessageChaosValue, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MessageChaosValue, E> {
                self.visit_f64(v as f64)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MessageChaosValue, A::Error> {
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(MessageChaosValue {
                    probability: t.probability,
                    kinds: t.kinds,
                    extra_ms: t.extra_ms,
                    bare: false,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct T {
        a: MsRange,
        b: AcksValue,
        c: LatencyValue,
        d: MessageChaosValue,
    }

    #[test]
    fn every_spelling_parses() {
        let t: T = toml::from_str("a = 5\nb = \"all\"\nc = [1, 2.5]\nd = 0.5").unwrap();
        assert_eq!(t.a, MsRange(5, 5));
        assert_eq!(t.b, AcksValue::All);
        assert_eq!(t.c, LatencyValue::Uniform(1.0, 2.5));
        assert_eq!(t.d.probability, 0.5);
        let t: T = toml::from_str(
            "a = [1, 9]\nb = 1\nc = { mean = 2 }\nd = { probability = 0.1, kinds = [\"fetch\"] }",
        )
        .unwrap();
        assert_eq!(t.a, MsRange(1, 9));
        assert_eq!(t.b, AcksValue::One);
        assert_eq!(
            t.c,
            LatencyValue::Exponential {
                mean: 2.0,
                max: 40.0
            }
        );
        assert_eq!(t.d.kinds, vec!["fetch".to_owned()]);
    }

    #[test]
    fn bad_spellings_are_refused() {
        assert!(toml::from_str::<T>("a = [9, 1]\nb = 1\nc = 1\nd = 0.1").is_err());
        assert!(toml::from_str::<T>("a = 1\nb = 2\nc = 1\nd = 0.1").is_err());
        assert!(toml::from_str::<T>("a = -1\nb = 1\nc = 1\nd = 0.1").is_err());
    }
}
