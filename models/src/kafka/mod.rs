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
//! interval, eager and cooperative rebalances, static membership
//! (`group.instance.id`),
//! offset commits that a stale generation cannot make, and
//! `auto.offset.reset`.
//!
//! Partitions of a topic with a replication factor above one are
//! replicated: a controller node chooses leaders and keeps ISRs, followers
//! fetch from leaders, the high watermark bounds what consumers see, and
//! `acks`, `min.insync.replicas` and unclean elections behave as in Kafka
//! (see [`replica`] and [`controller`]). With one replica per partition
//! there is no controller, `acks=1` and `acks=all` coincide, and a broker
//! crash makes its partitions unavailable until it restarts.
//!
//! Transactional producers (see [`txn`]) write inside transactions
//! through a coordinator broker that fences older incarnations, with
//! commit and abort markers, the last stable offset and `read_committed`
//! consumers, on unreplicated topics. A group with an output topic is a
//! consume-transform-produce stage: each member writes a batch's outputs
//! and input offsets in one transaction (`sendOffsetsToTransaction` with
//! group-generation fencing, KIP-447).
//!
//! What it leaves out (see the README): transactions on replicated
//! topics, retention and compaction, metadata
//! requests (clients look leaders up in the controller's state at once),
//! a replicated group coordinator (it stays on one broker), and byte sizes
//! (batches and fetches are bounded by record counts).

mod assignor;
mod broker;
mod config;
mod consumer;
mod controller;
mod log;
mod numbering;
mod producer;
mod protocol;
mod replica;
mod request_ids;
#[cfg(test)]
mod tests;
mod txn;
mod workload;
mod world;

pub use assignor::{cooperative_round, range_assign, round_robin_assign, sticky_assign};
pub use config::{
    Acks, Assignor, BrokerConfig, CommitMode, ConsumerConfig, InputOffsets, OffsetReset,
    OutputConfig, ProducerConfig, ReplicationConfig,
};
pub use log::{LogBatch, PartitionLog};
pub use protocol::{
    Control, GroupError, MESSAGE_KINDS, Msg, PartitionState, ProduceResult, Record,
    ReplicaFetchResult, Resend, Timer, TxnError,
};
pub use txn::{TxnLog, TxnPhase, TxnState};
pub use workload::{KeyDistribution, PlannedRecord, WorkloadSpec, plan};
pub use world::{
    GroupMeta, GroupOutput, GroupSpec, KafkaSpec, KafkaWorld, Layout, PartitionMeta, ProducerMeta,
    ProducerSpec, Role, TopicMeta, WorldTemplate, coordinator_for, java_string_hash,
};
