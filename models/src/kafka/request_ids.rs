//! Request ids that an earlier incarnation of a client cannot share.
//!
//! The broker answers a node, not the connection a request came on, so an
//! answer to a crashed incarnation's request can reach the restarted
//! client (in Kafka it would go to the closed connection). A client's
//! request ids carry its incarnation in their high bits, so such an answer
//! matches none of the new incarnation's requests.

/// Bits of a request id that count requests; the bits above hold the
/// incarnation.
const COUNTER_BITS: u32 = 20;

/// The counting bits.
const COUNTER: u32 = (1 << COUNTER_BITS) - 1;

/// A client incarnation's request ids: its incarnation (modulo 4,096) in
/// the high 12 bits and a counter in the low 20, which wraps within them,
/// so a long-lived incarnation never reaches the next one's ids.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestIds(u32);

impl RequestIds {
    /// The ids of incarnation `incarnation` (0 at the first start).
    pub(crate) fn new(incarnation: u32) -> RequestIds {
        RequestIds((incarnation & (u32::MAX >> COUNTER_BITS)) << COUNTER_BITS)
    }

    /// The next request id.
    #[inline]
    pub(crate) fn next(&mut self) -> u32 {
        self.0 = (self.0 & !COUNTER) | (self.0.wrapping_add(1) & COUNTER);
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incarnations_never_share_an_id() {
        let mut first = RequestIds::new(0);
        let mut second = RequestIds::new(1);
        let a: Vec<u32> = (0..3).map(|_| first.next()).collect();
        let b: Vec<u32> = (0..3).map(|_| second.next()).collect();
        assert_eq!(a, [1, 2, 3]);
        assert_eq!(b, [(1 << 20) + 1, (1 << 20) + 2, (1 << 20) + 3]);
    }

    #[test]
    fn the_counter_wraps_within_its_incarnation() {
        let mut ids = RequestIds::new(7);
        let base = 7 << 20;
        for _ in 0..(1 << 20) + 5 {
            let id = ids.next();
            assert_eq!(id & !COUNTER, base, "id {id:#x} left incarnation 7");
        }
        // Incarnations past 4,095 reuse the high bits without overflowing.
        let mut late = RequestIds::new(4096 + 3);
        assert_eq!(late.next(), (3 << 20) + 1);
    }
}
