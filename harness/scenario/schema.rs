//! The scenario file format, as serde reads it.
//!
//! Every table refuses unknown fields. Values are checked for range and
//! meaning afterwards, in [`crate::setup`], which names the field of every
//! problem.

use serde::{Deserialize, Serialize};

use crate::checkers::Invariant;

use super::values::{AcksValue, LatencyValue, MessageChaosValue, Millis, MsRange};

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Short name, shown in reports.
    pub name: String,
    /// What the scenario shows and why.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The run seed (`--seed` overrides it).
    #[serde(default)]
    pub seed: u64,
    /// Brokers and topics.
    pub topology: TopologyFile,
    /// What the application produces.
    pub workload: WorkloadFile,
    /// Producer settings.
    #[serde(default, skip_serializing_if = "is_empty_table")]
    pub producer: ProducerFile,
    /// Consumer groups.
    pub consumers: Vec<ConsumerFile>,
    /// Network latency.
    #[serde(default, skip_serializing_if = "is_empty_table")]
    pub network: NetworkFile,
    /// Faults.
    #[serde(default)]
    pub faults: FaultsFile,
    /// Bounds on the run.
    #[serde(default, skip_serializing_if = "is_empty_table")]
    pub limits: LimitsFile,
    /// What the run must show.
    #[serde(default, skip_serializing_if = "is_empty_table")]
    pub expect: ExpectFile,
}

/// `[topology]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyFile {
    /// Number of brokers.
    pub brokers: u64,
    /// Topics.
    pub topics: Vec<TopicFile>,
    /// `replica.lag.time.max.ms` (replicated topics only).
    pub replica_lag_time_max_ms: Option<u64>,
    /// `broker.session.timeout.ms` (replicated topics only).
    pub broker_session_timeout_ms: Option<u64>,
    /// `broker.heartbeat.interval.ms` (replicated topics only).
    pub broker_heartbeat_interval_ms: Option<u64>,
}

/// One `[[topology.topics]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TopicFile {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: u64,
    /// `replication.factor` (default 1).
    pub replication_factor: Option<u64>,
    /// `min.insync.replicas` (default 1).
    pub min_insync_replicas: Option<u64>,
    /// `unclean.leader.election.enable` (default false).
    pub unclean_leader_election: Option<bool>,
}

/// How messages pick their entity: `"uniform"` or `{ zipf = 1.1 }`.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyDistributionFile {
    /// All entities equally likely.
    Uniform,
    /// Zipf skew with this exponent.
    Zipf(f64),
}

impl Serialize for KeyDistributionFile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            KeyDistributionFile::Uniform => s.serialize_str("uniform"),
            KeyDistributionFile::Zipf(x) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("zipf", x)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for KeyDistributionFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, MapAccess, Visitor};
        struct V;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Zipf {
            zipf: f64,
        }
        impl<'de> Visitor<'de> for V {
            type Value = KeyDistributionFile;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(r#""uniform" or { zipf = <exponent> }"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyDistributionFile, E> {
                match v {
                    "uniform" => Ok(KeyDistributionFile::Uniform),
                    "zipf" => Err(E::custom(
                        r#"zipf needs its exponent: write key_distribution = { zipf = 1.1 }"#,
                    )),
                    _ => Err(E::custom(format!(
                        r#"unknown key distribution "{v}"; expected "uniform" or {{ zipf = <exponent> }}"#
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KeyDistributionFile, A::Error> {
                let z = Zipf::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(KeyDistributionFile::Zipf(z.zipf))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[workload]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadFile {
    /// The topic written (default: the first topic).
    pub topic: Option<String>,
    /// Messages in all.
    pub records: u64,
    /// Distinct entities (keys).
    pub keys: u64,
    /// Messages per second, all producers together (default 1000).
    pub rate_per_sec: Option<f64>,
    /// When production starts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_ms: u64,
    /// Producer instances (default 1); each entity has one.
    pub producers: Option<u64>,
    /// Produce without Kafka keys (the entity travels in a header).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keyless: bool,
    /// `"uniform"` (default) or `{ zipf = 1.1 }`.
    pub key_distribution: Option<KeyDistributionFile>,
    /// `[min, max]` amount per message (default `[1, 100]`).
    pub values: Option<[i64; 2]>,
}

/// `[producer]`: Kafka producer settings (Kafka's defaults when absent).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerFile {
    /// `acks`.
    pub acks: Option<AcksValue>,
    /// `enable.idempotence`.
    pub idempotence: Option<bool>,
    /// `retries`.
    pub retries: Option<u64>,
    /// `request.timeout.ms`.
    pub request_timeout_ms: Option<u64>,
    /// `delivery.timeout.ms`.
    pub delivery_timeout_ms: Option<u64>,
    /// `retry.backoff.ms`.
    pub retry_backoff_ms: Option<u64>,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: Option<u64>,
    /// `linger.ms`.
    pub linger_ms: Option<u64>,
    /// Records per batch.
    pub batch_records: Option<u64>,
    /// `transactional.id` (default: none, no transactions).
    pub transactional_id: Option<String>,
    /// Records per transaction (default 10).
    pub transaction_records: Option<u64>,
    /// `transaction.timeout.ms` (default 60 s).
    pub transaction_timeout_ms: Option<u64>,
    /// A standby instance `p2` with the producer's identity takes over at
    /// this time (default: none).
    pub takeover_ms: Option<u64>,
}

/// `isolation.level`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IsolationFile {
    /// Up to the high watermark, aborted records included (Kafka's
    /// default).
    ReadUncommitted,
    /// Up to the last stable offset, aborted records skipped.
    ReadCommitted,
}

/// When a consumer commits.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CommitFile {
    /// Before handling the batch.
    BeforeProcess,
    /// After handling the batch.
    AfterBatch,
    /// `enable.auto.commit`.
    Auto,
}

/// `auto.offset.reset`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OffsetResetFile {
    /// From the beginning.
    Earliest,
    /// From the end.
    Latest,
}

/// `partition.assignment.strategy`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AssignorFile {
    /// `RangeAssignor` (eager).
    Range,
    /// `RoundRobinAssignor` (eager).
    #[serde(rename = "roundrobin")]
    RoundRobin,
    /// `StickyAssignor` (eager).
    Sticky,
    /// `CooperativeStickyAssignor` (incremental, KIP-429).
    CooperativeSticky,
}

/// One `[[consumers]]` group.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerFile {
    /// `group.id`.
    pub group: String,
    /// The topic (default: the workload's).
    pub topic: Option<String>,
    /// Members (default 1).
    pub members: Option<u64>,
    /// Handler name (built-in or registered).
    pub handler: String,
    /// Commit mode (default: the handler's).
    pub commit: Option<CommitFile>,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval_ms: Option<u64>,
    /// `auto.offset.reset` (Kafka's default: latest).
    pub auto_offset_reset: Option<OffsetResetFile>,
    /// `max.poll.records`.
    pub max_poll_records: Option<u64>,
    /// `session.timeout.ms`.
    pub session_timeout_ms: Option<u64>,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval_ms: Option<u64>,
    /// `max.poll.interval.ms`.
    pub max_poll_interval_ms: Option<u64>,
    /// Static membership: every member sets `group.instance.id` to its
    /// node's name (default false: dynamic members).
    pub static_membership: Option<bool>,
    /// `partition.assignment.strategy`: `range` (default), `roundrobin`,
    /// `sticky` or `cooperative-sticky`.
    pub partition_assignment_strategy: Option<AssignorFile>,
    /// `request.timeout.ms`.
    pub request_timeout_ms: Option<u64>,
    /// `fetch.max.wait.ms`.
    pub fetch_max_wait_ms: Option<u64>,
    /// Processing time per record.
    pub processing_ms: Option<MsRange>,
    /// Attempts per record when the handler answers retry.
    pub handler_attempts_max: Option<u64>,
    /// Attempts at one commitSync that times out.
    pub commit_attempts_max: Option<u64>,
    /// `isolation.level` (default read_uncommitted).
    pub isolation_level: Option<IsolationFile>,
    /// A consume-transform-produce stage: the topic every record the
    /// handler settles `Ok` is forwarded to, through a transactional
    /// producer in each member.
    pub output_topic: Option<String>,
    /// Where such a stage commits its input offsets (default
    /// `transaction`).
    pub input_offsets: Option<InputOffsetsFile>,
    /// The stage's producers' `transaction.timeout.ms` (default 60000).
    pub transaction_timeout_ms: Option<u64>,
}

/// Where a consume-transform-produce stage commits its input offsets.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum InputOffsetsFile {
    /// In the transaction, with the member id and generation (KIP-447):
    /// exactly once.
    Transaction,
    /// In the transaction, with the group id only: a member the group has
    /// moved on from is not fenced.
    TransactionUnfenced,
    /// With `commitSync` after the transaction commits.
    OutsideTransaction,
}

/// `[network]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    /// Latency of every message (default `[0.5, 1.5]` ms).
    pub latency_ms: Option<LatencyValue>,
}

/// `[faults]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsFile {
    /// When faults stop and the liveness phase begins (default: when the
    /// last record is produced or the last timed fault ends, whichever is
    /// later).
    pub window_ms: Option<Millis>,
    /// Explicit faults.
    #[serde(default)]
    pub timeline: Vec<TimelineFile>,
    /// Probabilistic faults.
    #[serde(default, skip_serializing_if = "is_empty_table")]
    pub chaos: ChaosFile,
}

/// One `[[faults.timeline]]` entry: exactly one of `crash`, `partition`,
/// `isolate`, `drop`, `duplicate`, `delay`, `slow`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineFile {
    /// When the fault starts (or is armed, for point crashes).
    pub at_ms: Millis,
    /// Crash this node.
    pub crash: Option<String>,
    /// Where: `now` (default) or a crash point.
    pub point: Option<String>,
    /// Restart delay (default: when the fault window closes).
    pub restart_after_ms: Option<Millis>,
    /// Let this many passes of the crash point go by first (at or after
    /// `at_ms`), so a replay can crash on the same pass of several at one
    /// instant.
    pub skip: Option<u64>,
    /// Cut the network between two sides: `[["b1"], ["c1", "c2"]]`.
    pub partition: Option<Vec<Vec<String>>>,
    /// Cut one node off from all others.
    pub isolate: Option<String>,
    /// Cut only the first side's messages to the second.
    pub oneway: Option<bool>,
    /// Heal delay (default: when the fault window closes).
    pub heal_after_ms: Option<Millis>,
    /// Drop the next messages on a link.
    pub drop: Option<LinkFile>,
    /// Deliver the next messages on a link twice.
    pub duplicate: Option<LinkFile>,
    /// Delay the next messages on a link.
    pub delay: Option<LinkFile>,
    /// Make this consumer slow.
    pub slow: Option<String>,
    /// Processing time per record while slow.
    pub processing_ms: Option<Millis>,
    /// How long it stays slow (default: until the window closes).
    pub for_ms: Option<Millis>,
}

/// A link fault's target.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFile {
    /// Sender node.
    pub from: String,
    /// Receiver node.
    pub to: String,
    /// Only this message kind.
    pub kind: Option<String>,
    /// How many messages (default 1).
    pub count: Option<u64>,
    /// Extra delay (delay only).
    pub extra_ms: Option<Millis>,
    /// Let later messages overtake (delay only).
    pub reorder: Option<bool>,
    /// Let this many matching messages go by first (at or after `at_ms`).
    pub skip: Option<u64>,
}

/// `[faults.chaos]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosFile {
    /// Message loss.
    pub loss: Option<MessageChaosValue>,
    /// Message duplication.
    pub duplicate: Option<MessageChaosValue>,
    /// Extra delay.
    pub delay: Option<MessageChaosValue>,
    /// Reordering.
    pub reorder: Option<MessageChaosValue>,
    /// Consumer crashes at points.
    pub consumer_crash: Option<CrashChaosFile>,
    /// Broker crashes.
    pub broker_crash: Option<EpisodeFile>,
    /// Partitions isolating one node.
    pub partition: Option<EpisodeFile>,
    /// Slow consumers.
    pub slow: Option<EpisodeFile>,
}

/// `consumer_crash = { .. }`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CrashChaosFile {
    /// Probability each time a consumer passes one of the points.
    pub probability: f64,
    /// The points (default: all built-in points).
    pub points: Option<Vec<String>>,
    /// Restart delay (default `[500, 5000]`).
    pub restart_after_ms: Option<MsRange>,
}

/// Episodes at exponential intervals.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodeFile {
    /// Mean time between episodes.
    pub mean_interval_ms: u64,
    /// Episode length (default `[500, 5000]`).
    pub duration_ms: Option<MsRange>,
    /// Partitions: probability of a one-way cut.
    pub oneway_probability: Option<f64>,
    /// Slow: processing time per record while slow.
    pub processing_ms: Option<u64>,
    /// Partitions: which shapes episodes take (`isolate`, `halves`,
    /// `brokers`; default `["isolate"]`).
    pub shapes: Option<Vec<String>>,
}

/// `[limits]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Stop at this virtual time.
    pub sim_time_ms: Option<u64>,
    /// Stop after this many events.
    pub events_max: Option<u64>,
    /// The liveness phase must drain within this.
    pub liveness_ms: Option<u64>,
}

/// `[expect]`: which invariants must hold, which must be violated (a
/// teaching scenario demonstrating a failure), and which are not judged.
/// Invariants not listed must hold.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    /// Must hold (the default for every invariant not listed elsewhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hold: Vec<Invariant>,
    /// Must be violated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violate: Vec<Invariant>,
    /// Not judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<Invariant>,
}

/// Whether a section serialises to an empty table (every field unset), so
/// written scenario files leave it out.
fn is_empty_table<T: Serialize>(section: &T) -> bool {
    toml::Table::try_from(section).is_ok_and(|t| t.is_empty())
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}
