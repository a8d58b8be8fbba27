//! Configuration of the Kafka-style model, with Kafka's defaults.

use crate::time::SimTime;

/// Producer `acks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// Fire and forget: no response, no retries, no offset.
    Zero,
    /// The leader has appended the record.
    One,
    /// Every in-sync replica has it (the leader waits until the high
    /// watermark passes the batch). With one replica per partition this is
    /// the same as `One`.
    All,
}

/// Producer settings (`ProducerConfig`).
#[derive(Clone, Debug)]
pub struct ProducerConfig {
    /// `acks` (default `all`).
    pub acks: Acks,
    /// `enable.idempotence` (default `true`).
    pub idempotence: bool,
    /// `retries` (default effectively unbounded; bounded here by
    /// `delivery_timeout`).
    pub retries: u32,
    /// `request.timeout.ms` (default 30 s).
    pub request_timeout: SimTime,
    /// `delivery.timeout.ms` (default 120 s).
    pub delivery_timeout: SimTime,
    /// `retry.backoff.ms` (default 100 ms); each wait is jittered by ±20 %.
    pub retry_backoff: SimTime,
    /// `max.in.flight.requests.per.connection` (default 5).
    pub max_in_flight: u32,
    /// `linger.ms` (default 5 ms).
    pub linger: SimTime,
    /// Records per batch before it is sent without waiting for `linger`
    /// (stands in for `batch.size`).
    pub batch_records: u32,
    /// `transactional.id`: `None` (the default) for a producer outside
    /// transactions.
    pub transactional_id: Option<String>,
    /// Records per transaction (a transactional producer commits after
    /// this many of its planned records; default 10).
    pub transaction_records: u32,
    /// `transaction.timeout.ms` (default 60 s): the coordinator aborts a
    /// transaction still open this long after it began.
    pub transaction_timeout: SimTime,
    /// A standby instance of the (single) producer, with the same
    /// identity (its plan and transactional id), takes over at this time:
    /// it starts and sends what the first instance's application had no
    /// answer for, while the first may still be running (a zombie).
    pub takeover: Option<SimTime>,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            idempotence: true,
            retries: u32::MAX,
            request_timeout: SimTime::from_ms(30_000),
            delivery_timeout: SimTime::from_ms(120_000),
            retry_backoff: SimTime::from_ms(100),
            max_in_flight: 5,
            linger: SimTime::from_ms(5),
            batch_records: 16,
            transactional_id: None,
            transaction_records: 10,
            transaction_timeout: SimTime::from_ms(60_000),
            takeover: None,
        }
    }
}

/// When a consumer commits offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitMode {
    /// `commitSync` of the batch's offsets right after `poll`, before
    /// handling: at most once.
    BeforeProcess,
    /// `commitSync` after the whole batch is handled: at least once.
    AfterBatch,
    /// `enable.auto.commit`: inside `poll`, every `auto_commit_interval`,
    /// the positions of records returned by earlier polls are committed
    /// asynchronously, and synchronously before a rebalance.
    Auto,
}

/// `partition.assignment.strategy`: how the coordinator splits partitions
/// among members, and whether a rebalance is eager or cooperative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Assignor {
    /// `RangeAssignor`: contiguous ranges in member order; eager.
    #[default]
    Range,
    /// `RoundRobinAssignor`: partitions dealt to members in turn; eager.
    RoundRobin,
    /// `StickyAssignor`: balanced, keeping as many partitions as possible
    /// where they were; eager (every member still revokes everything).
    Sticky,
    /// `CooperativeStickyAssignor` (KIP-429): the sticky assignment reached
    /// incrementally. Members keep consuming what they own while they
    /// rejoin; a partition that moves is first revoked by its owner, then
    /// assigned to its new owner in a follow-up rebalance.
    CooperativeSticky,
}

impl Assignor {
    /// Whether rebalances follow the cooperative (incremental) protocol.
    pub fn cooperative(self) -> bool {
        self == Assignor::CooperativeSticky
    }
}

/// `auto.offset.reset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetReset {
    /// Start from the beginning of the log.
    Earliest,
    /// Start from the end of the log (Kafka's default).
    Latest,
}

/// Consumer settings (`ConsumerConfig`) and the loop around the handler.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    /// When offsets are committed.
    pub commit: CommitMode,
    /// `auto.commit.interval.ms` (default 5 s).
    pub auto_commit_interval: SimTime,
    /// `auto.offset.reset` (Kafka's default is `latest`).
    pub offset_reset: OffsetReset,
    /// `max.poll.records` (default 500).
    pub max_poll_records: u32,
    /// `session.timeout.ms` (default 45 s).
    pub session_timeout: SimTime,
    /// `heartbeat.interval.ms` (default 3 s).
    pub heartbeat_interval: SimTime,
    /// `max.poll.interval.ms` (default 300 s); also the rebalance timeout.
    pub max_poll_interval: SimTime,
    /// Static membership: each member sets `group.instance.id` (to its
    /// node's name). A static member never sends LeaveGroup, and one that
    /// restarts within `session.timeout.ms` gets its old assignment back
    /// without a rebalance (KIP-345). Default `false` (dynamic members).
    pub static_membership: bool,
    /// `partition.assignment.strategy` (default `range`, eager).
    pub assignor: Assignor,
    /// `request.timeout.ms` (default 30 s).
    pub request_timeout: SimTime,
    /// `fetch.max.wait.ms` (default 500 ms): how long a broker holds a fetch
    /// when there is nothing new to return.
    pub fetch_max_wait: SimTime,
    /// `retry.backoff.ms` (default 100 ms) between retried requests.
    pub retry_backoff: SimTime,
    /// Processing time per record, as a range sampled uniformly.
    pub processing: (SimTime, SimTime),
    /// Attempts at one record when the handler keeps answering `Retry`,
    /// before it is dead-lettered.
    pub handler_attempts_max: u32,
    /// Wait between handler retries.
    pub handler_retry_backoff: SimTime,
    /// Attempts at one `commitSync` that times out before the consumer gives
    /// up on it (`default.api.timeout.ms` bounds this in the Java client).
    pub commit_attempts_max: u32,
    /// `isolation.level=read_committed`: fetches stop at the last stable
    /// offset and records of aborted transactions are skipped. Default
    /// `false` (`read_uncommitted`, Kafka's default).
    pub read_committed: bool,
    /// A consume-transform-produce stage: every record the handler settles
    /// `Ok` is forwarded to this output through a transactional producer
    /// in the member (`None`, the default: a plain consumer).
    pub output: Option<OutputConfig>,
}

/// Where a consume-transform-produce stage commits its input offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputOffsets {
    /// In the transaction that writes the outputs, with the group's
    /// generation and member id (`sendOffsetsToTransaction(offsets,
    /// consumer.groupMetadata())`, KIP-447): the group coordinator refuses
    /// them from a member the group has moved on from, and the transaction
    /// aborts. Exactly once.
    Transaction,
    /// In the transaction, with the group id only (the older
    /// `sendOffsetsToTransaction(offsets, groupId)`): nothing fences a
    /// member the group has moved on from, so it and the partition's new
    /// owner both commit outputs of the same input.
    TransactionUnfenced,
    /// With `commitSync` after the transaction commits: a crash or a
    /// rebalance between the two leaves outputs committed and their
    /// inputs not, and the inputs are transformed again.
    OutsideTransaction,
}

/// A consume-transform-produce stage's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputConfig {
    /// The output topic (index into the topics).
    pub topic: u16,
    /// Where input offsets are committed.
    pub offsets: InputOffsets,
    /// The member producers' `transaction.timeout.ms` (default 60 s).
    pub transaction_timeout: SimTime,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            commit: CommitMode::AfterBatch,
            auto_commit_interval: SimTime::from_ms(5_000),
            offset_reset: OffsetReset::Latest,
            max_poll_records: 500,
            session_timeout: SimTime::from_ms(45_000),
            heartbeat_interval: SimTime::from_ms(3_000),
            max_poll_interval: SimTime::from_ms(300_000),
            static_membership: false,
            assignor: Assignor::Range,
            request_timeout: SimTime::from_ms(30_000),
            fetch_max_wait: SimTime::from_ms(500),
            retry_backoff: SimTime::from_ms(100),
            processing: (SimTime::ZERO, SimTime::ZERO),
            handler_attempts_max: 3,
            handler_retry_backoff: SimTime::from_ms(100),
            commit_attempts_max: 2,
            read_committed: false,
            output: None,
        }
    }
}

/// Replication settings of one topic (its replication factor and the topic
/// configs that govern acknowledgements and elections).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// Replicas per partition (`replication.factor`), at most the number of
    /// brokers.
    pub factor: u16,
    /// `min.insync.replicas` (default 1): with `acks=all`, a produce is
    /// refused with `NOT_ENOUGH_REPLICAS` while the ISR is smaller.
    pub min_insync: u16,
    /// `unclean.leader.election.enable` (default false): when no in-sync
    /// replica is available, an out-of-sync one may lead, and records only
    /// the old leader had are lost.
    pub unclean_election: bool,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            factor: 1,
            min_insync: 1,
            unclean_election: false,
        }
    }
}

/// Broker-side settings.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// `group.initial.rebalance.delay.ms` (default 3 s): how long the
    /// coordinator waits for more members when an empty group gets its
    /// first one.
    pub initial_rebalance_delay: SimTime,
    /// Records returned by one fetch at most (stands in for
    /// `fetch.max.bytes`).
    pub fetch_records_max: u32,
    /// `replica.lag.time.max.ms` (default 30 s): a follower that has not
    /// caught up with the leader's log end for this long leaves the ISR.
    pub replica_lag_time_max: SimTime,
    /// `replica.fetch.wait.max.ms` (default 500 ms): how long a leader holds
    /// a follower's fetch when there is nothing new.
    pub replica_fetch_wait_max: SimTime,
    /// `replica.fetch.backoff.ms` (default 1 s): a follower's wait after a
    /// failed fetch.
    pub replica_fetch_backoff: SimTime,
    /// `replica.socket.timeout.ms` (default 30 s): a follower's fetch that
    /// gets no response within this is sent again.
    pub replica_fetch_timeout: SimTime,
    /// `broker.heartbeat.interval.ms` (default 2 s): how often a broker
    /// heartbeats to the controller.
    pub heartbeat_interval: SimTime,
    /// `broker.session.timeout.ms` (default 9 s): the controller fences a
    /// broker it has not heard from for this long and moves leadership of
    /// its partitions away.
    pub session_timeout: SimTime,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            initial_rebalance_delay: SimTime::from_ms(3_000),
            fetch_records_max: 500,
            replica_lag_time_max: SimTime::from_ms(30_000),
            replica_fetch_wait_max: SimTime::from_ms(500),
            replica_fetch_backoff: SimTime::from_ms(1_000),
            replica_fetch_timeout: SimTime::from_ms(30_000),
            heartbeat_interval: SimTime::from_ms(2_000),
            session_timeout: SimTime::from_ms(9_000),
        }
    }
}
