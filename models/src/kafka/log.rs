//! An append-only partition log.

use super::protocol::Record;

/// The records of one partition, at offsets `0..end()`.
///
/// Offsets are dense: this model has no transaction markers and no
/// retention, so the record at offset `o` is `records[o]`.
#[derive(Clone, Debug, Default)]
pub struct PartitionLog {
    records: Vec<Record>,
}

impl PartitionLog {
    /// An empty log with room for `records` records.
    pub fn with_capacity(records: usize) -> PartitionLog {
        PartitionLog {
            records: Vec::with_capacity(records),
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
}
