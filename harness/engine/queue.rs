//! The event queue: ordered by virtual time, ties broken by insertion order.
//!
//! Items live in a slab; the heap orders only `(time, sequence, slot)`
//! triples, so sifting moves 24 bytes whatever the item's size.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use faultline_models::SimTime;

/// A priority queue of `T` keyed by `(time, insertion sequence)`.
pub struct Queue<T> {
    heap: BinaryHeap<Reverse<(SimTime, u64, u32)>>,
    slab: Vec<Option<T>>,
    free: Vec<u32>,
    seq: u64,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            heap: BinaryHeap::new(),
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
        let seq = self.seq;
        self.seq += 1;
        self.heap.push(Reverse((time, seq, slot)));
    }

    /// The earliest item; among equal times, the one pushed first.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, T)> {
        let Reverse((time, _, slot)) = self.heap.pop()?;
        self.free.push(slot);
        let item = self.slab[slot as usize]
            .take()
            .expect("a queued slot holds its item");
        Some((time, item))
    }

    /// Number of scheduled items.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
}
