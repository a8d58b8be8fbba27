//! Sequence numbers of an idempotent producer's batches on one partition.
//!
//! A batch's base sequence counts the records of the partition's batches
//! before it. When a batch fails for good the producer bumps the
//! partition's epoch and numbers its unfinished batches from 0 again
//! (KIP-360): their numbers leave out the records of every batch finished
//! by then. Renumbering the unfinished batches at every bump costs as much
//! as the partition's queue is long, and bumps come in runs (a stuck
//! partition's queue expires batch after batch), which made long runs
//! quadratic. So a number is worked out when it is needed instead: the
//! records before the batch, minus the records of earlier batches that
//! had finished at the last bump, kept in a Fenwick tree over the
//! partition's batches. The numbers are the ones renumbering gives.

/// The numbering of one partition's batches.
#[derive(Clone, Debug, Default)]
pub(crate) struct Numbering {
    /// Records in the partition's batches so far (wrapping, as sequence
    /// numbers do).
    records: u32,
    /// Per batch (by its place among the partition's batches, from 1):
    /// records of batches finished at the last bump, as a Fenwick tree.
    finished_at_bump: Vec<u32>,
    /// Batches finished since the last bump: `(place, records)`.
    finished_since: Vec<(u32, u32)>,
    /// Whether the epoch was ever bumped (until then the tree is all zero).
    bumped: bool,
}

/// Where a batch sits in its partition's numbering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Place {
    /// Its place among the partition's batches, from 0.
    index: u32,
    /// Records of the partition's batches before it.
    before: u32,
}

impl Numbering {
    /// Numbering with room for `batches` batches before it grows.
    pub fn with_capacity(batches: usize) -> Numbering {
        Numbering {
            finished_at_bump: Vec::with_capacity(batches),
            finished_since: Vec::with_capacity(batches),
            ..Numbering::default()
        }
    }

    /// A batch of `records` records was closed: its place.
    pub fn close(&mut self, records: u32) -> Place {
        let place = Place {
            index: self.finished_at_bump.len() as u32,
            before: self.records,
        };
        self.records = self.records.wrapping_add(records);
        self.push_zero();
        place
    }

    /// The batch at `place`, of `records` records, finished (acknowledged or
    /// given up).
    pub fn finished(&mut self, place: Place, records: u32) {
        self.finished_since.push((place.index, records));
    }

    /// The epoch was bumped: batches finished by now drop out of the
    /// numbers of the unfinished ones.
    pub fn bump(&mut self) {
        self.bumped = true;
        for (index, records) in std::mem::take(&mut self.finished_since) {
            self.add(index as usize, records);
        }
    }

    /// The base sequence of the (unfinished) batch at `place`.
    pub fn base_seq(&self, place: Place) -> u32 {
        if !self.bumped {
            return place.before;
        }
        place.before.wrapping_sub(self.prefix(place.index as usize))
    }

    /// Appends a zero to the tree.
    fn push_zero(&mut self) {
        // Node i (from 1) sums the values in (i - lowbit(i), i]; the new
        // value is zero, so it holds the sum of the range before it.
        if !self.bumped {
            self.finished_at_bump.push(0);
            return;
        }
        let i = self.finished_at_bump.len() + 1;
        let start = i - (i & i.wrapping_neg());
        let mut sum = 0u32;
        let mut j = i - 1;
        while j > start {
            sum = sum.wrapping_add(self.finished_at_bump[j - 1]);
            j &= j - 1;
        }
        self.finished_at_bump.push(sum);
    }

    /// Adds `value` at `index` (from 0).
    fn add(&mut self, index: usize, value: u32) {
        let mut i = index + 1;
        while i <= self.finished_at_bump.len() {
            self.finished_at_bump[i - 1] = self.finished_at_bump[i - 1].wrapping_add(value);
            i += i & i.wrapping_neg();
        }
    }

    /// The sum of the values at indices `0..n`.
    fn prefix(&self, n: usize) -> u32 {
        let mut sum = 0u32;
        let mut i = n;
        while i > 0 {
            sum = sum.wrapping_add(self.finished_at_bump[i - 1]);
            i &= i - 1;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against renumbering every unfinished batch at every bump, as the
    /// producer used to, over a long random history of closes, finishes
    /// and bumps.
    #[test]
    fn matches_eager_renumbering() {
        let mut lazy = Numbering::default();
        // The eager reference: per batch (records, base_seq, done).
        let mut eager: Vec<(u32, u32, bool)> = Vec::new();
        let mut next_seq = 0u32;
        let mut places = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..4_000 {
            match next() % 8 {
                0..=3 => {
                    let records = 1 + (next() % 16) as u32;
                    places.push(lazy.close(records));
                    eager.push((records, next_seq, false));
                    next_seq = next_seq.wrapping_add(records);
                }
                4..=6 => {
                    // Finish an unfinished batch, usually an early one.
                    let open: Vec<usize> = (0..eager.len()).filter(|&i| !eager[i].2).collect();
                    if let Some(&i) = open.get((next() % 4) as usize) {
                        eager[i].2 = true;
                        lazy.finished(places[i], eager[i].0);
                    }
                }
                _ => {
                    lazy.bump();
                    let mut seq = 0u32;
                    for b in eager.iter_mut().filter(|b| !b.2) {
                        b.1 = seq;
                        seq = seq.wrapping_add(b.0);
                    }
                    next_seq = seq;
                }
            }
            for (i, b) in eager.iter().enumerate() {
                if !b.2 {
                    assert_eq!(lazy.base_seq(places[i]), b.1, "batch {i}");
                }
            }
        }
    }
}
