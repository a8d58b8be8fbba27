//! Chaos probabilities, made ready to decide with one integer comparison.
//!
//! [`SimRng::chance`] checks its probability on every call (no draw at all
//! at 0 or below, none at 1 or above) and compares a float made of 53
//! random bits with it. The chaos mix's probabilities are fixed for a run,
//! so [`Odds`] checks once and keeps the 53-bit threshold: the draws and
//! the answers are exactly those of `chance` (see the tests).

use faultline_models::SimRng;

/// `2^53`: [`SimRng::unit`] is `(next_u64() >> 11) / 2^53`.
const UNIT: f64 = (1u64 << 53) as f64;

/// A probability, as [`Odds::decide`] uses it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Odds {
    /// At most 0: false, without a draw.
    Never,
    /// At least 1: true, without a draw.
    Always,
    /// True when the draw's top 53 bits are below this.
    Below(u64),
}

impl Odds {
    /// The odds of probability `p`.
    pub(super) fn new(p: f64) -> Odds {
        if p <= 0.0 {
            Odds::Never
        } else if p >= 1.0 {
            Odds::Always
        } else {
            // `unit < p` with `unit = m / 2^53` (exact: `m < 2^53`) holds
            // exactly when `m < p * 2^53` (exact: a power of two), that is
            // for an integer `m`, when `m < ceil(p * 2^53)`. A NaN `p`
            // draws and never holds, as with `chance`: the cast gives 0.
            Odds::Below((p * UNIT).ceil() as u64)
        }
    }

    /// [`SimRng::chance`] with this probability: the same draws, the same
    /// answers.
    #[inline(always)]
    pub(super) fn decide(self, rng: &mut SimRng) -> bool {
        match self {
            Odds::Never => false,
            Odds::Always => true,
            Odds::Below(threshold) => rng.next_u64() >> 11 < threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_models::rng::Stream;

    /// Every answer and every draw as with `chance`, over probabilities
    /// from the edges to the middle.
    #[test]
    fn decides_as_chance_does() {
        let ps = [
            -1.0,
            0.0,
            f64::MIN_POSITIVE,
            1e-300,
            1e-9,
            0.001,
            0.01,
            0.02,
            0.1,
            1.0 / 3.0,
            0.5,
            0.7,
            0.999_999,
            1.0 - f64::EPSILON / 2.0,
            1.0,
            2.0,
            f64::NAN,
        ];
        for (i, &p) in ps.iter().enumerate() {
            let odds = Odds::new(p);
            let mut a = SimRng::new(i as u64, Stream::Loss);
            let mut b = SimRng::new(i as u64, Stream::Loss);
            for _ in 0..20_000 {
                assert_eq!(odds.decide(&mut a), b.chance(p), "p = {p}");
            }
            assert_eq!(a.next_u64(), b.next_u64(), "the same draws, p = {p}");
        }
    }

    /// Right at a threshold: the largest 53-bit draw below it holds, the
    /// threshold itself does not, as `unit() < p` says.
    #[test]
    fn the_threshold_is_exact() {
        for p in [0.01, 0.02, 0.1, 1.0 / 3.0, 0.5, 0.123_456_789] {
            let Odds::Below(t) = Odds::new(p) else {
                panic!("{p} is between 0 and 1");
            };
            let unit = |m: u64| m as f64 * (1.0 / UNIT);
            assert!(unit(t - 1) < p, "p = {p}");
            assert!(unit(t) >= p, "p = {p}");
        }
    }
}
