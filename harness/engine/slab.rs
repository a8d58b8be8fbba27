//! A slab: values in numbered slots, reused once taken.
//!
//! The free slots are chained through themselves (each holds the number of
//! the next), so storing and taking a value touch the slot and the head of
//! the chain only, with no separate list of free slots to keep.

/// The end of the chain of free slots.
const NONE: u32 = u32::MAX;

/// One slot: a value, or the next free slot.
enum Slot<T> {
    Full(T),
    Free(u32),
}

/// Values in numbered slots.
pub(super) struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// The free slot reused next, the last one taken ([`NONE`]: none).
    free: u32,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: NONE,
        }
    }
}

impl<T> Slab<T> {
    /// An empty slab with room for `slots` values before it grows.
    pub(super) fn with_capacity(slots: usize) -> Self {
        Slab {
            slots: Vec::with_capacity(slots),
            free: NONE,
        }
    }

    /// Stores `value` and returns its slot.
    #[inline(always)]
    pub(super) fn put(&mut self, value: T) -> u32 {
        let s = self.free;
        if s == NONE {
            self.slots.push(Slot::Full(value));
            return (self.slots.len() - 1) as u32;
        }
        let slot = &mut self.slots[s as usize];
        let Slot::Free(next) = *slot else {
            unreachable!("the chain of free slots holds free slots only");
        };
        // A free slot holds no value: there is nothing to drop, so the old
        // slot is forgotten rather than checked for a drop.
        std::mem::forget(std::mem::replace(slot, Slot::Full(value)));
        self.free = next;
        s
    }

    /// Takes the value out of `slot`, which becomes free.
    #[inline(always)]
    pub(super) fn take(&mut self, slot: u32) -> T {
        match std::mem::replace(&mut self.slots[slot as usize], Slot::Free(self.free)) {
            Slot::Full(value) => {
                self.free = slot;
                value
            }
            Slot::Free(_) => panic!("slot {slot} holds no value"),
        }
    }

    /// Number of slots, full or free.
    #[cfg(test)]
    pub(super) fn slots(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_the_slot_taken_last() {
        let mut slab = Slab::default();
        let a = slab.put("a");
        let b = slab.put("b");
        let c = slab.put("c");
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(slab.take(b), "b");
        assert_eq!(slab.take(a), "a");
        assert_eq!(slab.put("d"), a);
        assert_eq!(slab.put("e"), b);
        assert_eq!(slab.put("f"), 3);
        assert_eq!(slab.take(c), "c");
        assert_eq!(slab.take(a), "d");
        assert_eq!(slab.take(b), "e");
        assert_eq!(slab.slots(), 4);
    }

    #[test]
    #[should_panic(expected = "holds no value")]
    fn taking_a_free_slot_panics() {
        let mut slab = Slab::default();
        let a = slab.put(1);
        slab.take(a);
        slab.take(a);
    }
}
