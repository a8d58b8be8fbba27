//! An append-only partition log (one replica's copy of a partition).

use super::protocol::Record;

/// What a replicated log keeps about each batch besides its records: the
/// leader epoch it was appended in (Kafka's leader-epoch cache is derived
/// from these) and the idempotent producer's numbering, from which a
/// replica rebuilds its producer state after a truncation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogBatch {
    /// Offset of the batch's first record.
    pub base_offset: u64,
    /// Records in the batch.
    pub records: u32,
    /// The leader epoch in which the leader appended it.
    pub leader_epoch: u32,
    /// Idempotent producer id (0 when idempotence is off).
    pub pid: u32,
    /// The producer's epoch.
    pub producer_epoch: u16,
    /// Sequence number of the first record.
    pub base_seq: u32,
}

/// The records of one partition replica, at offsets `0..end()`.
///
/// Offsets are dense: this model has no retention, and a transaction's
/// commit or abort marker is an entry of its own (a [`Record`] whose
/// `control` says so), so the entry at offset `o` is `records[o]`. A replicated
/// partition's logs also keep their batches (with leader epochs) and a
/// high watermark; an unreplicated one keeps neither and reads to its end.
#[derive(Clone, Debug, Default)]
pub struct PartitionLog {
    records: Vec<Record>,
    /// Batches, in offset order (replicated partitions only).
    batches: Vec<LogBatch>,
    /// This replica's high watermark (replicated partitions only).
    hw: u64,
}

impl PartitionLog {
    /// An empty log with room for `records` records.
    pub fn with_capacity(records: usize) -> PartitionLog {
        PartitionLog {
            records: Vec::with_capacity(records),
            batches: Vec::new(),
            hw: 0,
        }
    }

    /// The log end offset: the offset the next append gets.
    #[inline]
    pub fn end(&self) -> u64 {
        self.records.len() as u64
    }

    /// Appends `records`, returning the offset of the first.
    pub fn append(&mut self, records: &[Record]) -> u64 {
        let base = self.end();
        self.records.extend_from_slice(records);
        base
    }

    /// Up to `max` records from `offset` on (empty at or past the end).
    pub fn read(&self, offset: u64, max: u32) -> &[Record] {
        let start = (offset as usize).min(self.records.len());
        let stop = start.saturating_add(max as usize).min(self.records.len());
        &self.records[start..stop]
    }

    /// The record at `offset`.
    pub fn get(&self, offset: u64) -> Option<&Record> {
        self.records.get(offset as usize)
    }

    /// Appends a batch of a replicated partition, with its metadata
    /// (`batch.base_offset` is set here), returning its base offset.
    pub fn append_batch(&mut self, records: &[Record], mut batch: LogBatch) -> u64 {
        let base = self.append(records);
        batch.base_offset = base;
        batch.records = records.len() as u32;
        debug_assert!(
            self.batches
                .last()
                .is_none_or(|b| b.leader_epoch <= batch.leader_epoch),
            "leader epochs never decrease along a log"
        );
        self.batches.push(batch);
        base
    }

    /// The batches of a replicated log.
    pub fn batches(&self) -> &[LogBatch] {
        &self.batches
    }

    /// Whole batches from `offset` (a batch boundary) on, up to about `max`
    /// records (at least one batch): what a leader returns to a follower.
    pub fn read_batches(&self, offset: u64, max: u32) -> (&[Record], &[LogBatch]) {
        let first = self.batches.partition_point(|b| b.base_offset < offset);
        let mut last = first;
        let mut n = 0u64;
        while let Some(b) = self.batches.get(last) {
            if last > first && n + u64::from(b.records) > u64::from(max) {
                break;
            }
            n += u64::from(b.records);
            last += 1;
        }
        let start = (offset as usize).min(self.records.len());
        let stop = (start + n as usize).min(self.records.len());
        (&self.records[start..stop], &self.batches[first..last])
    }

    /// The high watermark of a replicated log: offsets below it are
    /// committed (every in-sync replica has them) and visible to consumers.
    #[inline]
    pub fn hw(&self) -> u64 {
        self.hw
    }

    /// Sets the high watermark (never past the log end).
    pub fn set_hw(&mut self, hw: u64) {
        self.hw = hw.min(self.end());
    }

    /// The leader epoch of the last batch (0 for an empty log).
    pub fn last_epoch(&self) -> u32 {
        self.batches.last().map_or(0, |b| b.leader_epoch)
    }

    /// Kafka's `OffsetsForLeaderEpoch` on this log: the largest epoch at or
    /// below `epoch` that the log has, and the offset where it ends (the
    /// start of the next epoch, or the log end). `(0, 0)` when the log has
    /// no batch of such an epoch.
    pub fn epoch_end(&self, epoch: u32) -> (u32, u64) {
        let after = self.batches.partition_point(|b| b.leader_epoch <= epoch);
        if after == 0 {
            return (0, 0);
        }
        let found = self.batches[after - 1].leader_epoch;
        let end = self
            .batches
            .get(after)
            .map_or(self.end(), |b| b.base_offset);
        (found, end)
    }

    /// Removes every record at or past `offset` (a batch boundary), as a
    /// follower does when its log diverged from its new leader's; returns
    /// how many went.
    pub fn truncate(&mut self, offset: u64) -> u64 {
        let removed = self.end().saturating_sub(offset);
        self.records.truncate(offset as usize);
        let keep = self.batches.partition_point(|b| b.base_offset < offset);
        self.batches.truncate(keep);
        debug_assert!(
            self.batches
                .last()
                .is_none_or(|b| b.base_offset + u64::from(b.records) == self.end()),
            "truncation falls on a batch boundary"
        );
        self.hw = self.hw.min(self.end());
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{KeyId, MessageId, NodeId};

    fn rec(m: u32) -> Record {
        Record {
            msg: MessageId(m),
            entity: KeyId(0),
            seq: m + 1,
            value: 1,
            keyed: true,
            producer: NodeId(0),
            batch: 0,
            txn_pid: 0,
            control: crate::kafka::protocol::Control::Data,
        }
    }

    #[test]
    fn offsets_are_dense_and_reads_are_bounded() {
        let mut log = PartitionLog::default();
        assert_eq!(log.append(&[rec(0), rec(1)]), 0);
        assert_eq!(log.append(&[rec(2)]), 2);
        assert_eq!(log.end(), 3);
        assert_eq!(log.read(1, 10).len(), 2);
        assert_eq!(log.read(0, 1)[0].msg, MessageId(0));
        assert!(log.read(3, 10).is_empty());
        assert!(log.read(99, 10).is_empty());
    }

    fn batch(epoch: u32) -> LogBatch {
        LogBatch {
            base_offset: 0,
            records: 0,
            leader_epoch: epoch,
            pid: 0,
            producer_epoch: 0,
            base_seq: 0,
        }
    }

    #[test]
    fn epoch_ends_and_truncation_follow_batches() {
        let mut log = PartitionLog::default();
        log.append_batch(&[rec(0), rec(1)], batch(1));
        log.append_batch(&[rec(2)], batch(1));
        log.append_batch(&[rec(3), rec(4)], batch(3));
        assert_eq!(log.last_epoch(), 3);
        assert_eq!(log.epoch_end(0), (0, 0));
        assert_eq!(log.epoch_end(1), (1, 3));
        assert_eq!(log.epoch_end(2), (1, 3));
        assert_eq!(log.epoch_end(3), (3, 5));
        assert_eq!(log.epoch_end(9), (3, 5));
        let (records, batches) = log.read_batches(0, 2);
        assert_eq!((records.len(), batches.len()), (2, 1));
        let (records, batches) = log.read_batches(2, 1);
        assert_eq!((records.len(), batches.len()), (1, 1));
        let (records, batches) = log.read_batches(3, 500);
        assert_eq!((records.len(), batches.len()), (2, 1));
        log.set_hw(4);
        assert_eq!(log.truncate(3), 2);
        assert_eq!((log.end(), log.hw(), log.last_epoch()), (3, 3, 1));
    }
}
