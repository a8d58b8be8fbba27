//! The Kafka-style model.
//!
//! Brokers host topics split into partitions; each partition is an
//! append-only log led by one broker. Producers batch records per partition
//! (murmur2 for keyed records, a sticky partition for keyless ones) and send
//! them with `acks`, request timeouts, retries, a bound on requests in
//! flight, and optionally idempotence (producer id and per-partition
//! sequence numbers, deduplicated by the broker over the last five batches).
//! Consumers form groups through a coordinator broker: join, range
//! assignment, generations, heartbeats, session timeouts, the max poll
//! interval, eager rebalances, offset commits that a stale generation cannot
//! make, and `auto.offset.reset`.
//!
//! What it leaves out (see the README): replication (one replica per
//! partition, so `acks=1` and `acks=all` coincide and a broker crash makes
//! its partitions unavailable until it restarts), transactions, retention
//! and compaction, cooperative rebalancing and static membership, metadata
//! requests (clients know partition leaders), and byte sizes (batches and
//! fetches are bounded by record counts).

mod assignor;
mod broker;
mod config;
mod consumer;
mod log;
mod numbering;
mod producer;
mod protocol;
#[cfg(test)]
mod tests;
mod workload;
mod world;

pub use assignor::range_assign;
pub use config::{Acks, BrokerConfig, CommitMode, ConsumerConfig, OffsetReset, ProducerConfig};
pub use log::PartitionLog;
pub use protocol::{GroupError, MESSAGE_KINDS, Msg, ProduceResult, Record, Resend, Timer};
pub use workload::{KeyDistribution, PlannedRecord, WorkloadSpec, plan};
pub use world::{
    GroupMeta, GroupSpec, KafkaSpec, KafkaWorld, Layout, PartitionMeta, ProducerMeta, ProducerSpec,
    Role, TopicMeta, coordinator_for, java_string_hash,
};
