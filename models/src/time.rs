//! Virtual time.

use std::fmt;
use std::ops::{Add, Sub};

/// A point in virtual time, in microseconds since the start of the run.
///
/// Time only moves when the engine pops the next event; there are no ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(pub u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// A time that never comes.
    pub const NEVER: SimTime = SimTime(u64::MAX);

    /// A duration or instant of `ms` milliseconds.
    #[inline]
    pub const fn from_ms(ms: u64) -> SimTime {
        SimTime(ms.saturating_mul(1000))
    }

    /// A duration or instant of `us` microseconds.
    #[inline]
    pub const fn from_us(us: u64) -> SimTime {
        SimTime(us)
    }

    /// Microseconds since the start of the run.
    #[inline]
    pub const fn as_us(self) -> u64 {
        self.0
    }

    /// Whole milliseconds since the start of the run (rounded down).
    #[inline]
    pub const fn as_ms(self) -> u64 {
        self.0 / 1000
    }

    /// `self - earlier`, or zero when `earlier` is later.
    #[inline]
    pub const fn since(self, earlier: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(earlier.0))
    }
}

impl Add for SimTime {
    type Output = SimTime;
    #[inline]
    fn add(self, rhs: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}

impl Sub for SimTime {
    type Output = SimTime;
    #[inline]
    fn sub(self, rhs: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for SimTime {
    /// Milliseconds with up to three decimals: `41ms`, `41.25ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 / 1000;
        let frac = self.0 % 1000;
        if frac == 0 {
            write!(f, "{ms}ms")
        } else {
            let s = format!("{frac:03}");
            write!(f, "{ms}.{}ms", s.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_milliseconds() {
        assert_eq!(SimTime::from_ms(41).to_string(), "41ms");
        assert_eq!(SimTime::from_us(41_250).to_string(), "41.25ms");
        assert_eq!(SimTime::from_us(5).to_string(), "0.005ms");
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(SimTime::from_ms(1) - SimTime::from_ms(2), SimTime::ZERO);
        assert_eq!(SimTime::NEVER + SimTime::from_ms(1), SimTime::NEVER);
    }
}
