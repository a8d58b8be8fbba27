//! The event queue: ordered by virtual time, ties broken by insertion order.
//!
//! Items live in a slab; the ordering structures hold only `(time,
//! sequence, slot)` entries, so moving one moves 16 bytes whatever the
//! item's size (the sequence number and the slot share a word). Entries
//! are split in two tiers:
//!
//! - `near`: the [`NEAR_MAX`] earliest entries, in a vector sorted latest
//!   first, so the next entry is popped off its end;
//! - `far`: every later entry, in a binary min-heap.
//!
//! Every near entry comes before every far one. A run's queue holds a few
//! long timers (heartbeats, session checks, poll deadlines, fault episodes)
//! and many short-lived entries (network deliveries, lingering batches,
//! arriving records) that are pushed and popped in quick succession; those
//! stay in the near tier, where a push is a short walk from its earliest
//! end and a pop takes the last element. The heap is touched when the near
//! tier overflows (its latest entry moves to the heap) or runs dry (the
//! heap's earliest entries move back).

use faultline_models::SimTime;

use super::slab::Slab;

/// Entries kept in the sorted near tier.
const NEAR_MAX: usize = 32;

/// Entries moved from the heap into the near tier when it runs dry.
const NEAR_REFILL: usize = 16;

/// Items (and heap entries) a new queue has room for before its buffers
/// grow: a run's queue holds a few dozen, and growing a buffer step by
/// step from empty costs more than the one allocation.
const ROOM: usize = 128;

/// A queue entry: when, in which order among equal times, and where the
/// item is.
#[derive(Clone, Copy, Debug)]
struct Entry {
    time: u64,
    /// The insertion sequence number in the high half, the item's slot in
    /// the low half: as sequence numbers are unique, comparing `(time,
    /// order)` compares `(time, sequence)`.
    order: u64,
}

impl Entry {
    fn new(time: u64, seq: u32, slot: u32) -> Entry {
        Entry {
            time,
            order: (u64::from(seq) << 32) | u64::from(slot),
        }
    }

    fn slot(&self) -> u32 {
        self.order as u32
    }

    /// The sort key, `(time, sequence)`, as one number.
    #[inline(always)]
    fn key(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.order)
    }

    /// Whether `self` comes out before `other`.
    #[inline(always)]
    fn before(&self, other: &Entry) -> bool {
        self.key() < other.key()
    }
}

/// A priority queue of `T` keyed by `(time, insertion sequence)`.
pub struct Queue<T> {
    /// The earliest entries, latest first.
    near: Vec<Entry>,
    /// The other entries, a binary min-heap.
    far: Vec<Entry>,
    slab: Slab<T>,
    /// The next entry's sequence number.
    seq: u32,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            near: Vec::with_capacity(NEAR_MAX + 1),
            far: Vec::with_capacity(ROOM),
            slab: Slab::with_capacity(ROOM),
            seq: 0,
        }
    }
}

impl<T> Queue<T> {
    /// Schedules `item` at `time`.
    #[inline(always)]
    pub fn push(&mut self, time: SimTime, item: T) {
        let slot = self.slab.put(item);
        if self.seq == u32::MAX {
            self.renumber();
        }
        let entry = Entry::new(time.0, self.seq, slot);
        self.seq += 1;
        // The new entry has the highest sequence number yet, so it comes
        // after every entry due at the same time or earlier: comparing
        // times alone is enough here.
        if self.far.first().is_some_and(|f| f.time <= entry.time) {
            // Not before the earliest far entry: after every near one.
            self.far_push(entry);
            return;
        }
        // The vector is sorted latest first, and a new entry is most often
        // due soon: walk in from the earliest end, moving the entries due
        // before it one place along.
        self.near.push(entry);
        // `rest` ends with the free place, which moves down past every
        // entry due no later than the new one. Splitting the slice as it
        // shrinks, rather than indexing, leaves no bounds to check.
        let mut rest = &mut self.near[..];
        while let Some((place, earlier)) = std::mem::take(&mut rest).split_last_mut() {
            match earlier.last() {
                Some(next) if next.time <= entry.time => {
                    *place = *next;
                    rest = earlier;
                }
                _ => {
                    *place = entry;
                    break;
                }
            }
        }
        if self.near.len() > NEAR_MAX {
            let latest = self.near.remove(0);
            self.far_push(latest);
        }
    }

    /// The earliest item; among equal times, the one pushed first.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, T)> {
        let top = match self.near.pop() {
            Some(top) => top,
            None => {
                self.refill();
                self.near.pop()?
            }
        };
        let item = self.slab.take(top.slot());
        Some((SimTime(top.time), item))
    }

    /// Number of scheduled items.
    pub fn len(&self) -> usize {
        self.near.len() + self.far.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.near.is_empty() && self.far.is_empty()
    }

    /// Moves the heap's earliest entries into the empty near tier, so the
    /// short-lived entries pushed next (due before the rest of the heap)
    /// go there too instead of to the heap.
    fn refill(&mut self) {
        while self.near.len() < NEAR_REFILL {
            match self.far_pop() {
                Some(e) => self.near.push(e),
                None => break,
            }
        }
        self.near.reverse();
    }

    /// Gives the queued entries the sequence numbers `0..len` in their
    /// order, when the numbers run out (after 2^32 - 1 pushes). Every
    /// comparison between queued entries comes out as before, so both
    /// tiers stay in order; the next push gets `len`, after them all.
    #[cold]
    fn renumber(&mut self) {
        let near = self.near.len();
        let mut order: Vec<(u128, usize)> = self
            .near
            .iter()
            .chain(&self.far)
            .enumerate()
            .map(|(i, e)| (e.key(), i))
            .collect();
        order.sort_unstable();
        for (seq, &(_, i)) in order.iter().enumerate() {
            let e = if i < near {
                &mut self.near[i]
            } else {
                &mut self.far[i - near]
            };
            *e = Entry::new(e.time, seq as u32, e.slot());
        }
        self.seq = order.len() as u32;
    }

    fn far_push(&mut self, entry: Entry) {
        self.far.push(entry);
        let i = self.far.len() - 1;
        self.sift_up(i, entry);
    }

    fn far_pop(&mut self) -> Option<Entry> {
        let last = self.far.pop()?;
        Some(match self.far.first().copied() {
            Some(top) => {
                self.replace_root(last);
                top
            }
            None => last,
        })
    }

    /// Moves `entry`, sitting at `i` of the heap, up to its place.
    #[inline(always)]
    fn sift_up(&mut self, mut i: usize, entry: Entry) {
        let heap = &mut self.far[..];
        while i > 0 {
            let parent = (i - 1) / 2;
            if !entry.before(&heap[parent]) {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = entry;
    }

    /// Removes the heap's root and puts `entry` (its former last entry) in
    /// its place: the hole goes down to a leaf along the earlier children,
    /// then `entry` sifts up from there.
    fn replace_root(&mut self, entry: Entry) {
        let heap = &mut self.far[..];
        let n = heap.len();
        let mut hole = 0;
        let mut child = 1;
        while child + 1 < n {
            child += usize::from(heap[child + 1].before(&heap[child]));
            heap[hole] = heap[child];
            hole = child;
            child = 2 * hole + 1;
        }
        if child < n {
            heap[hole] = heap[child];
            hole = child;
        }
        self.sift_up(hole, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_insertion_order() {
        let mut q = Queue::default();
        q.push(SimTime(5), "c");
        q.push(SimTime(1), "a");
        q.push(SimTime(5), "d");
        q.push(SimTime(1), "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, x)| x)).collect();
        assert_eq!(order, vec!["a", "b", "c", "d"]);
    }

    #[test]
    fn slots_are_reused() {
        let mut q = Queue::default();
        for i in 0..100u64 {
            q.push(SimTime(i), i);
            assert_eq!(q.pop(), Some((SimTime(i), i)));
        }
        assert!(q.is_empty());
        assert_eq!(q.slab.slots(), 1);
    }

    /// Against a sorted reference, with many ties and pops interleaved.
    #[test]
    fn matches_a_sorted_reference() {
        against_reference(0);
    }

    /// The same, with the sequence numbers running out on the way.
    #[test]
    fn matches_a_sorted_reference_across_renumbering() {
        against_reference(u32::MAX - 20_000);
    }

    fn against_reference(first_seq: u32) {
        let mut q = Queue {
            seq: first_seq,
            ..Queue::default()
        };
        let mut reference: Vec<(u64, u64)> = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut now = 0u64;
        for n in 0..40_000u64 {
            if next() % 3 == 0 {
                let got = q.pop().map(|(t, v)| (t.0, v));
                let want = (!reference.is_empty()).then(|| reference.remove(0));
                assert_eq!(got, want);
                if let Some((t, _)) = got {
                    now = t;
                }
            } else {
                // Mostly soon, sometimes much later, many ties.
                let t = match next() % 10 {
                    0 => now + next() % 10_000,
                    1 => now,
                    _ => now + next() % 8,
                };
                q.push(SimTime(t), n);
                let at = reference.partition_point(|&(rt, _)| rt <= t);
                reference.insert(at, (t, n));
            }
            assert_eq!(q.len(), reference.len());
        }
        // Drain it: the near tier runs dry and refills from the heap.
        for want in reference {
            assert_eq!(q.pop().map(|(t, v)| (t.0, v)), Some(want));
        }
        assert!(q.is_empty());
    }
}
