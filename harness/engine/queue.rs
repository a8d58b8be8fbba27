//! The event queue: ordered by virtual time, ties broken by insertion order.
//!
//! Items live in a slab; a binary min-heap orders only `(time, sequence,
//! slot)` entries, so sifting moves 24 bytes whatever the item's size. The
//! heap is written out here rather than taken from `BinaryHeap`: entries
//! compare as one pair of integers, and a pop moves the hole at the root
//! down to a leaf with one comparison per level before sifting the last
//! entry up from there (most entries are later than most others, so it
//! rarely climbs far).

use faultline_models::SimTime;

/// A heap entry: when, in which order among equal times, and where the
/// item is.
#[derive(Clone, Copy, Debug)]
struct Entry {
    time: u64,
    seq: u64,
    slot: u32,
}

impl Entry {
    /// Whether `self` comes out before `other`.
    #[inline(always)]
    fn before(&self, other: &Entry) -> bool {
        (self.time, self.seq) < (other.time, other.seq)
    }
}

/// A priority queue of `T` keyed by `(time, insertion sequence)`.
pub struct Queue<T> {
    heap: Vec<Entry>,
    slab: Vec<Option<T>>,
    free: Vec<u32>,
    seq: u64,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            heap: Vec::new(),
            slab: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<T> Queue<T> {
    /// Schedules `item` at `time`.
    #[inline]
    pub fn push(&mut self, time: SimTime, item: T) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(item);
                s
            }
            None => {
                self.slab.push(Some(item));
                (self.slab.len() - 1) as u32
            }
        };
        let entry = Entry {
            time: time.0,
            seq: self.seq,
            slot,
        };
        self.seq += 1;
        self.heap.push(entry);
        self.sift_up(self.heap.len() - 1, entry);
    }

    /// The earliest item; among equal times, the one pushed first.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, T)> {
        let last = self.heap.pop()?;
        let top = match self.heap.first().copied() {
            Some(top) => {
                self.replace_root(last);
                top
            }
            None => last,
        };
        self.free.push(top.slot);
        let item = self.slab[top.slot as usize]
            .take()
            .expect("a queued slot holds its item");
        Some((SimTime(top.time), item))
    }

    /// Number of scheduled items.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Moves `entry`, sitting at `i`, up to its place.
    #[inline(always)]
    fn sift_up(&mut self, mut i: usize, entry: Entry) {
        let heap = &mut self.heap[..];
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

    /// Removes the root and puts `entry` (the former last entry) in its
    /// place: the hole goes down to a leaf along the earlier children, then
    /// `entry` sifts up from there.
    #[inline(always)]
    fn replace_root(&mut self, entry: Entry) {
        let heap = &mut self.heap[..];
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
        assert_eq!(q.slab.len(), 1);
    }

    /// Against a sorted reference, with many ties and pops interleaved.
    #[test]
    fn matches_a_sorted_reference() {
        let mut q = Queue::default();
        let mut reference: Vec<(u64, u64)> = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut now = 0u64;
        for n in 0..20_000u64 {
            if next() % 3 == 0 {
                let got = q.pop().map(|(t, v)| (t.0, v));
                let want = (!reference.is_empty()).then(|| reference.remove(0));
                assert_eq!(got, want);
                if let Some((t, _)) = got {
                    now = t;
                }
            } else {
                let t = now + next() % 8;
                q.push(SimTime(t), n);
                let at = reference.partition_point(|&(rt, _)| rt <= t);
                reference.insert(at, (t, n));
            }
            assert_eq!(q.len(), reference.len());
        }
    }
}
