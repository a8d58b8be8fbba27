//! Writing histories out: one JSON object per line, and plain sentences.
//!
//! - [`jsonl`]: the `history.jsonl` format and its digest.
//! - [`describe`]: an event as a sentence, for witnesses and reports.

pub mod describe;
pub mod jsonl;

use faultline_models::History;
use faultline_models::kafka::Layout;

use crate::engine::PartitionSides;

/// Everything needed to put names on a history's ids.
#[derive(Clone, Copy)]
pub struct Names<'a> {
    /// Node, partition and key names.
    pub layout: &'a Layout,
    /// Labels and panic messages.
    pub history: &'a History,
    /// Sides of network partitions.
    pub partitions: &'a PartitionSides,
}
