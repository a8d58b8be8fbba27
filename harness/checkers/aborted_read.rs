//! `aborted-read`: no consumer handles a record of an aborted transaction.
//!
//! This is the field's G1a ("aborted read", see [`crate::kafka_history`]):
//! a read of a write that never committed. A `read_uncommitted` consumer
//! sees such records; a `read_committed` one skips them. An aborted record
//! is not lost: the transaction that wrote it did not happen, and its
//! records are expected nowhere. The witness is the delivery and the abort
//! of the record.

use std::collections::BTreeMap;

use faultline_models::PartitionId;
use faultline_models::event::EventKind;

use super::{FINDINGS_PER_INVARIANT_MAX, Finding, Invariant, Verdicts, narrate};
use crate::history::Names;

/// The field's name for this anomaly (as `faultline check` reports it).
pub const FIELD_NAME: &str = "G1a";

/// Checks `aborted-read`: every delivery of a record that belongs to an
/// aborted transaction (at the same partition and offset) is a violation.
pub fn check(names: &Names<'_>) -> Verdicts {
    let events = &names.history.events;
    // (partition, offset) of each aborted record → its `RecordAborted`.
    let aborted: BTreeMap<(PartitionId, u64), usize> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.kind.aborted_record().map(|at| (at, i)))
        .collect();
    if aborted.is_empty() {
        return (0, Vec::new());
    }
    let mut count = 0;
    let mut found = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let EventKind::Delivered {
            consumer,
            partition,
            offset,
            msg,
            key,
            ..
        } = e.kind
        else {
            continue;
        };
        let Some(&abort) = aborted.get(&(partition, offset)) else {
            continue;
        };
        count += 1;
        if found.len() >= FINDINGS_PER_INVARIANT_MAX {
            continue;
        }
        let mut chain = vec![i, abort];
        let mut f = Finding::new(
            Invariant::AbortedRead,
            format!(
                "{} handled {} ({} offset {offset}), a record of an aborted transaction ({FIELD_NAME}, aborted read)",
                names.node(consumer),
                names.msg(msg),
                names.partition(partition)
            ),
        );
        f.explanation = narrate(&mut chain, names);
        f.witness = chain;
        f.msg = Some(msg);
        f.key = Some(key);
        f.partition = Some(partition);
        f.offsets = vec![offset];
        f.nodes = vec![consumer];
        found.push(f);
    }
    (count, found)
}
