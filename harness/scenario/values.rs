//! Scenario values with more than one spelling: `processing_ms = 5` or
//! `[1, 5]`, `acks = "all"` or `1`, `loss = 0.01` or a table.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A duration in milliseconds: one value, or a `[min, max]` range sampled
/// uniformly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MsRange(pub u64, pub u64);

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AcksValue {
    /// `acks=0`.
    Zero,
    /// `acks=1`.
    One,
    /// `acks=all`.
    All,
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
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageChaosValue {
    /// Probability per message.
    pub probability: f64,
    /// Only these message kinds (empty: all).
    pub kinds: Vec<String>,
    /// Extra delay range in milliseconds (delay and reorder).
    pub extra_ms: Option<MsRange>,
    /// Written as a bare probability rather than a table.
    #[serde(skip)]
    pub bare: bool,
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
