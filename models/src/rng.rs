//! The run's random generator: ChaCha8 with one independent stream per concern.
//!
//! A run has one `u64` seed. It is expanded into a 256-bit ChaCha key with
//! SplitMix64, and every concern (the workload, the network, each fault kind,
//! each node) reads its own ChaCha *stream* of that key, chosen by a
//! [`Stream`] number. Streams never share output, so turning one fault kind
//! off (as the shrinker does) leaves every other stream's draws untouched.
//!
//! The few distributions the simulator needs are written out here instead of
//! taken from `rand`'s distribution types, so a `rand` upgrade cannot change
//! what a seed means.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Which stream of the run seed a generator reads. Numbers are part of the
/// seed's meaning: never renumber an existing stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Keys, payloads and arrival times of the workload.
    Workload,
    /// Base latency of every network message.
    Network,
    /// Probabilistic message loss.
    Loss,
    /// Probabilistic message duplication.
    Duplication,
    /// Probabilistic extra delay.
    Delay,
    /// Probabilistic reordering.
    Reorder,
    /// Probabilistic consumer crashes at crash points.
    ConsumerCrash,
    /// Probabilistic broker crashes.
    BrokerCrash,
    /// Probabilistic network partitions.
    Partition,
    /// Probabilistic slow handling.
    Slow,
    /// Restart delays of crashed nodes.
    Restart,
    /// How long the ends of a broken connection take to notice.
    Connection,
    /// The fault mix a seed draws in swarm testing.
    Swarm,
    /// The latency of a duplicated message's second copy, whatever
    /// duplicated it (chaos or a timeline fault).
    DuplicateCopy,
    /// A node's own decisions (jitter, sticky partitions, processing time).
    Node(u16),
    /// The randomness a handler asks for, per node.
    Handler(u16),
}

impl Stream {
    /// The ChaCha stream number of this concern.
    pub fn number(self) -> u64 {
        match self {
            Stream::Workload => 1,
            Stream::Network => 2,
            Stream::Loss => 3,
            Stream::Duplication => 4,
            Stream::Delay => 5,
            Stream::Reorder => 6,
            Stream::ConsumerCrash => 7,
            Stream::BrokerCrash => 8,
            Stream::Partition => 9,
            Stream::Slow => 10,
            Stream::Restart => 11,
            Stream::Connection => 12,
            Stream::Swarm => 13,
            Stream::DuplicateCopy => 14,
            Stream::Node(n) => (1 << 32) | u64::from(n),
            Stream::Handler(n) => (2 << 32) | u64::from(n),
        }
    }
}

/// A deterministic random generator for one concern of one run.
#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

/// SplitMix64, used only to spread a `u64` seed over a 256-bit key.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SimRng {
    /// The generator for `stream` of the run seeded with `seed`.
    pub fn new(seed: u64, stream: Stream) -> SimRng {
        let mut state = seed;
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        let mut inner = ChaCha8Rng::from_seed(key);
        inner.set_stream(stream.number());
        SimRng { inner }
    }

    /// 64 uniformly random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform integer in `0..n` (Lemire's multiply-shift with rejection,
    /// so there is no modulo bias). `n == 0` yields 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        // The rejection threshold `2^64 mod n` is below `n`, so a low half
        // of at least `n` is always accepted: the division that computes
        // the threshold is needed only in the rare other case. The draws
        // and results are the same as always dividing.
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// A uniform integer in `lo..=hi` (`hi < lo` yields `lo`).
    #[inline]
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (no draw at all when `p <= 0`, so a
    /// disabled fault never consumes its stream).
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        self.unit() < p
    }

    /// An exponentially distributed value with the given mean (inverse CDF).
    #[inline]
    pub fn exponential(&mut self, mean: f64) -> f64 {
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        -mean * libm::log(1.0 - self.unit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_same_draws() {
        let mut a = SimRng::new(42, Stream::Network);
        let mut b = SimRng::new(42, Stream::Network);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn streams_are_independent() {
        let mut a = SimRng::new(42, Stream::Network);
        let mut b = SimRng::new(42, Stream::Loss);
        let same = (0..64).filter(|_| a.next_u64() == b.next_u64()).count();
        assert_eq!(same, 0);
    }

    /// Pins the meaning of a seed: if this changes, every recorded seed in
    /// the world replays differently. Never update it casually.
    #[test]
    fn seed_meaning_is_pinned() {
        let mut r = SimRng::new(0, Stream::Workload);
        let draws: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            draws,
            [
                292_620_192_089_856_330,
                11_544_540_324_047_766_403,
                7_238_887_217_102_712_336
            ]
        );
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SimRng::new(7, Stream::Workload);
        let mut seen = [false; 6];
        for _ in 0..1000 {
            let x = r.below(6);
            assert!(x < 6);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.below(0), 0);
        assert_eq!(r.between(5, 5), 5);
    }

    /// The division-free fast path draws and returns exactly what always
    /// computing the threshold does, including for bounds that reject
    /// often.
    #[test]
    fn below_matches_the_plain_rejection_method() {
        fn plain(r: &mut SimRng, n: u64) -> u64 {
            if n <= 1 {
                return 0;
            }
            let threshold = n.wrapping_neg() % n;
            loop {
                let m = u128::from(r.next_u64()) * u128::from(n);
                if (m as u64) >= threshold {
                    return (m >> 64) as u64;
                }
            }
        }
        let bounds = [
            2,
            3,
            6,
            7,
            1000,
            (1 << 63) + 1,
            u64::MAX - 1,
            u64::MAX,
            3 << 62,
        ];
        for (i, &n) in bounds.iter().enumerate() {
            let mut a = SimRng::new(i as u64, Stream::Network);
            let mut b = a.clone();
            for _ in 0..2000 {
                assert_eq!(a.below(n), plain(&mut b, n), "n = {n}");
            }
            assert_eq!(a.next_u64(), b.next_u64(), "same draws consumed, n = {n}");
        }
    }

    #[test]
    fn chance_extremes_do_not_draw() {
        let mut r = SimRng::new(7, Stream::Loss);
        let mut fresh = r.clone();
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
        assert_eq!(r.next_u64(), fresh.next_u64());
    }

    #[test]
    fn exponential_has_roughly_the_mean() {
        let mut r = SimRng::new(9, Stream::Delay);
        let n = 20_000;
        let mean = (0..n).map(|_| r.exponential(5.0)).sum::<f64>() / f64::from(n);
        assert!((mean - 5.0).abs() < 0.25, "{mean}");
    }
}
