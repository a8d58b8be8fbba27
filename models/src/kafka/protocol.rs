//! The wire protocol between producers, brokers and consumers, and the
//! timers each of them sets.
//!
//! Requests carry a request id; responses echo it, so a client can tell a
//! late or duplicated response from the one it is waiting for, as the real
//! clients do with correlation ids.

use std::sync::Arc;

use crate::event::CommitError;
use crate::ids::{GroupId, KeyId, MessageId, NodeId, PartitionId};
use crate::model::Message;

use super::config::Acks;
use super::log::LogBatch;

/// One record as it travels and as it sits in a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The application's message id (a header; shared by duplicates).
    pub msg: MessageId,
    /// The entity the message is about.
    pub entity: KeyId,
    /// Position among the entity's messages, from 1.
    pub seq: u32,
    /// The payload: an amount.
    pub value: i64,
    /// Whether the record carries the entity as its Kafka key.
    pub keyed: bool,
    /// The producer that sent it.
    pub producer: NodeId,
    /// The producer's batch.
    pub batch: u32,
    /// The producer id of the transaction it was written in (0 outside
    /// transactions).
    pub txn_pid: u32,
    /// A data record or a transaction's control marker.
    pub control: Control,
}

/// What a log entry is: data, or a control marker that ends a transaction
/// (markers take an offset, as in Kafka, and are never handed to an
/// application).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// An application record.
    Data,
    /// A COMMIT marker.
    Commit,
    /// An ABORT marker.
    Abort,
    /// A data record of an aborted transaction, as a broker flags it for a
    /// `read_committed` fetch (standing in for the aborted-transactions
    /// list the real client filters with). Never stored in a log.
    Aborted,
}

impl Record {
    /// Whether a consumer hands it to the application: data only (a
    /// marker, or an aborted record flagged for a `read_committed` fetch,
    /// is skipped, though the position moves past it).
    #[inline]
    pub fn is_data(&self) -> bool {
        self.control == Control::Data
    }
}

/// Why a transaction coordinator refused a transactional request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnError {
    /// A newer incarnation with the same `transactional.id` bumped the
    /// epoch (`PRODUCER_FENCED`): fatal for this producer.
    Fenced,
    /// The producer's transaction was aborted by the coordinator (its
    /// timeout passed) and its epoch bumped (`INVALID_PRODUCER_EPOCH`):
    /// the producer may recover by initializing again with its epoch.
    InvalidEpoch,
}

/// The result of a produce request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProduceResult {
    /// Appended at `base_offset` onward.
    Appended {
        /// Offset of the batch's first record.
        base_offset: u64,
    },
    /// An idempotent producer's retry of a batch the broker already has.
    Duplicate {
        /// Where the batch was first appended.
        base_offset: u64,
    },
    /// An idempotent producer's batch arrived with a gap in its sequence
    /// numbers: an earlier batch is missing (`OUT_OF_ORDER_SEQUENCE_NUMBER`).
    OutOfOrderSequence,
    /// An idempotent producer's batch carried an epoch older than one the
    /// broker has seen (`INVALID_PRODUCER_EPOCH`).
    InvalidEpoch,
    /// The broker does not lead the partition (`NOT_LEADER_OR_FOLLOWER`):
    /// nothing was appended.
    NotLeaderOrFollower,
    /// `acks=all` and the ISR is smaller than `min.insync.replicas`
    /// (`NOT_ENOUGH_REPLICAS`): nothing was appended.
    NotEnoughReplicas,
    /// `acks=all`: the batch was appended and reached the high watermark,
    /// but the ISR had shrunk below `min.insync.replicas` by then
    /// (`NOT_ENOUGH_REPLICAS_AFTER_APPEND`). The records stay in the log.
    NotEnoughReplicasAfterAppend,
    /// `acks=all`: the in-sync replicas did not all get the batch within
    /// the request's timeout (`REQUEST_TIMED_OUT`). The records stay in the
    /// leader's log, and may yet be committed or truncated.
    RequestTimedOut,
}

impl ProduceResult {
    /// Whether the producer counts the batch as written (acknowledged).
    pub fn is_success(self) -> bool {
        matches!(
            self,
            ProduceResult::Appended { .. } | ProduceResult::Duplicate { .. }
        )
    }
}

/// What the controller knows of one partition: who leads it, in which
/// epoch, and which replicas are in sync (a bit per broker index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionState {
    /// The leader (`None`: offline, no eligible replica).
    pub leader: Option<NodeId>,
    /// Bumped at every leader change.
    pub leader_epoch: u32,
    /// The in-sync replicas, bit `i` for `Layout::brokers[i]`.
    pub isr: u64,
    /// Bumped at every change of leader or ISR.
    pub partition_epoch: u32,
}

/// The outcome of a follower's fetch.
#[derive(Clone, Debug)]
pub enum ReplicaFetchResult {
    /// Whole batches from the fetch offset on (maybe none), and the
    /// leader's high watermark.
    Records {
        /// The records.
        records: Vec<Record>,
        /// Their batches.
        batches: Vec<LogBatch>,
        /// The leader's high watermark.
        hw: u64,
    },
    /// The follower's log diverged from the leader's: the leader's largest
    /// epoch at or below the follower's last one, and where it ends. The
    /// follower truncates there and fetches again.
    Diverging {
        /// The epoch.
        epoch: u32,
        /// Its end offset on the leader.
        end_offset: u64,
    },
    /// The broker does not lead the partition in the follower's epoch.
    NotLeader,
}

/// Why a heartbeat or join was answered with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupError {
    /// The group is rebalancing: rejoin.
    RebalanceInProgress,
    /// The member is unknown (removed, or the coordinator restarted).
    UnknownMember,
    /// The member named an old generation.
    IllegalGeneration,
}

/// A protocol message.
#[derive(Clone, Debug)]
pub enum Msg {
    /// Producer → leader: append a batch.
    Produce {
        /// Request id.
        req: u32,
        /// Target partition.
        partition: PartitionId,
        /// The producer's batch number.
        batch: u32,
        /// 1 for the first send, more for retries.
        attempt: u32,
        /// Idempotent producer id (0 when idempotence is off).
        pid: u32,
        /// The producer's epoch for this partition: bumped when a batch
        /// fails for good, which restarts the sequence numbers at 0.
        epoch: u16,
        /// Sequence number of the first record (idempotent producers).
        base_seq: u32,
        /// The producer's `acks`.
        acks: Acks,
        /// The records (shared with the producer, which keeps them for
        /// retries).
        records: Arc<Vec<Record>>,
    },
    /// Leader → producer.
    ProduceResponse {
        /// Request id.
        req: u32,
        /// The batch.
        batch: u32,
        /// The outcome.
        result: ProduceResult,
    },
    /// Producer → transaction coordinator: `InitProducerId` for a
    /// `transactional.id`. A fresh producer sends no epoch (it fences
    /// every earlier incarnation); one recovering from an aborted
    /// transaction sends its current `(pid, epoch)`.
    InitProducerId {
        /// Request id.
        req: u32,
        /// The transactional id (index into `Layout::txn_ids`).
        txn: u16,
        /// The producer's current id and epoch, when it recovers.
        current: Option<(u32, u16)>,
    },
    /// Coordinator → producer.
    InitProducerIdResponse {
        /// Request id.
        req: u32,
        /// The producer id and its bumped epoch, or why not.
        result: Result<(u32, u16), TxnError>,
    },
    /// Producer → coordinator: a transaction begins
    /// (`AddPartitionsToTxn`; the coordinator learns the partitions from
    /// the logs when it ends the transaction).
    AddPartitionsToTxn {
        /// Request id.
        req: u32,
        /// The transactional id.
        txn: u16,
        /// Producer id.
        pid: u32,
        /// Producer epoch.
        epoch: u16,
    },
    /// Producer → coordinator: commit or abort (`EndTxn`).
    EndTxn {
        /// Request id.
        req: u32,
        /// The transactional id.
        txn: u16,
        /// Producer id.
        pid: u32,
        /// Producer epoch.
        epoch: u16,
        /// Commit (`true`) or abort.
        commit: bool,
    },
    /// Coordinator → producer: the answer to `AddPartitionsToTxn` or
    /// `EndTxn`.
    TxnResponse {
        /// Request id.
        req: u32,
        /// The outcome.
        result: Result<(), TxnError>,
    },
    /// Coordinator → partition leader: a commit or abort marker was written
    /// to `partition` (the coordinator writes it straight into the log;
    /// this stands in for `WriteTxnMarkers` reaching the leader, which
    /// answers the fetches parked on the partition).
    WriteTxnMarkers {
        /// The partition.
        partition: PartitionId,
    },
    /// Consumer → leader: read from `offset`.
    Fetch {
        /// Request id.
        req: u32,
        /// The partition.
        partition: PartitionId,
        /// The consumer's position.
        offset: u64,
    },
    /// Leader → consumer: records from the requested offset (maybe none).
    FetchResponse {
        /// Request id.
        req: u32,
        /// The partition.
        partition: PartitionId,
        /// The offset the records start at.
        offset: u64,
        /// The records, contiguous from `offset`.
        records: Vec<Record>,
        /// The requested offset is past the end of the log.
        out_of_range: bool,
        /// The broker does not lead the partition (`NOT_LEADER_OR_FOLLOWER`).
        not_leader: bool,
    },
    /// Consumer → leader: where does the log end (`auto.offset.reset=latest`).
    ListOffsets {
        /// Request id.
        req: u32,
        /// The partition.
        partition: PartitionId,
    },
    /// Leader → consumer.
    ListOffsetsResponse {
        /// Request id.
        req: u32,
        /// The partition.
        partition: PartitionId,
        /// The log end offset (the high watermark of a replicated
        /// partition); `None` when the broker does not lead it.
        end: Option<u64>,
    },
    /// Consumer → coordinator: (re)join the group.
    Join {
        /// Request id.
        req: u32,
        /// The group.
        group: GroupId,
        /// The member id from an earlier join, if any.
        member: Option<u32>,
        /// `group.instance.id` of a static member: the consumer's node,
        /// which keeps its name across restarts.
        instance: Option<NodeId>,
        /// The partitions it owns and keeps consuming while it rejoins
        /// (cooperative protocol; empty under the eager one, where a
        /// member revokes everything before it rejoins).
        owned: Vec<PartitionId>,
    },
    /// Coordinator → consumer: the rebalance completed.
    JoinResponse {
        /// Request id.
        req: u32,
        /// The member id.
        member: u32,
        /// The new generation.
        generation: u32,
        /// The partitions assigned to this member.
        assignment: Vec<PartitionId>,
    },
    /// Consumer → coordinator.
    Heartbeat {
        /// The group.
        group: GroupId,
        /// The member.
        member: u32,
        /// The member's generation.
        generation: u32,
    },
    /// Coordinator → consumer.
    HeartbeatResponse {
        /// `None` when all is well.
        error: Option<GroupError>,
        /// The generation the heartbeat named.
        generation: u32,
    },
    /// Consumer → coordinator: leaving (poll interval exceeded).
    Leave {
        /// The group.
        group: GroupId,
        /// The member.
        member: u32,
    },
    /// Consumer → coordinator: commit offsets (next offset to read).
    Commit {
        /// Request id.
        req: u32,
        /// The group.
        group: GroupId,
        /// The member.
        member: u32,
        /// The member's generation.
        generation: u32,
        /// `(partition, next offset to read)`.
        offsets: Vec<(PartitionId, u64)>,
    },
    /// Coordinator → consumer.
    CommitResponse {
        /// Request id.
        req: u32,
        /// The outcome.
        result: Result<(), CommitError>,
    },
    /// Consumer → coordinator: committed offsets of partitions.
    OffsetFetch {
        /// Request id.
        req: u32,
        /// The group.
        group: GroupId,
        /// The partitions.
        partitions: Vec<PartitionId>,
    },
    /// Coordinator → consumer.
    OffsetFetchResponse {
        /// Request id.
        req: u32,
        /// `(partition, committed offset)`.
        offsets: Vec<(PartitionId, Option<u64>)>,
        /// `UNSTABLE_OFFSET_COMMIT` (KIP-447): a transaction holds offsets
        /// of these partitions that are neither committed nor aborted yet;
        /// the consumer asks again after a backoff.
        unstable: bool,
    },
    /// Consume-transform-produce member → group coordinator: offsets sent
    /// to a transaction (`TxnOffsetCommit`, after `AddOffsetsToTxn`). They
    /// become the group's committed offsets when the transaction commits.
    TxnOffsetCommit {
        /// Request id.
        req: u32,
        /// The transactional id.
        txn: u16,
        /// The producer id.
        pid: u32,
        /// The producer epoch.
        epoch: u16,
        /// The group.
        group: GroupId,
        /// `(member id, generation)` from `consumer.groupMetadata()`, or
        /// `None` when only the group id is sent (no fencing).
        member: Option<(u32, u32)>,
        /// `(partition, next offset to read)` (a boxed slice rather than a
        /// vector, which keeps a [`Msg`] at 48 bytes).
        offsets: Box<[(PartitionId, u64)]>,
    },
    /// Group coordinator → member.
    TxnOffsetCommitResponse {
        /// Request id.
        req: u32,
        /// The outcome.
        result: Result<(), CommitError>,
    },
    /// Follower → leader: replicate from `offset`.
    ReplicaFetch {
        /// Request id.
        req: u32,
        /// The partition.
        partition: PartitionId,
        /// The follower's log end offset.
        offset: u64,
        /// The leader epoch of the follower's last batch.
        last_epoch: u32,
        /// The leader epoch the follower follows.
        leader_epoch: u32,
    },
    /// Leader → follower.
    ReplicaFetchResponse {
        /// Request id.
        req: u32,
        /// The partition.
        partition: PartitionId,
        /// The outcome (boxed: its records and batches would make every
        /// [`Msg`] 64 bytes instead of 48, and every message is moved
        /// several times on its way).
        result: Box<ReplicaFetchResult>,
    },
    /// Broker → controller: alive (every `broker.heartbeat.interval.ms`).
    BrokerHeartbeat {
        /// The broker's incarnation: a new one tells the controller the
        /// broker restarted.
        incarnation: u32,
        /// The metadata version the broker has.
        version: u64,
    },
    /// Controller → broker: every partition's leader, epoch and ISR.
    Metadata {
        /// The version.
        version: u64,
        /// Per partition.
        partitions: Arc<[PartitionState]>,
    },
    /// Leader → controller: change a partition's ISR (`AlterPartition`).
    AlterIsr {
        /// Request id.
        req: u32,
        /// The partition.
        partition: PartitionId,
        /// The leader's epoch.
        leader_epoch: u32,
        /// The proposed ISR.
        isr: u64,
    },
    /// Controller → leader.
    AlterIsrResponse {
        /// Request id.
        req: u32,
        /// The partition.
        partition: PartitionId,
        /// The state after the change, or `None` if refused (stale epoch).
        state: Option<PartitionState>,
    },
}

// Every message is moved from the sender's outbox into the network and out
// to its receiver: its largest variant sets what each move copies.
const _: () = assert!(std::mem::size_of::<Msg>() <= 48);

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Produce { .. } => "produce",
            Msg::ProduceResponse { .. } => "produce-response",
            Msg::Fetch { .. } => "fetch",
            Msg::FetchResponse { .. } => "fetch-response",
            Msg::ListOffsets { .. } => "list-offsets",
            Msg::ListOffsetsResponse { .. } => "list-offsets-response",
            Msg::Join { .. } => "join-group",
            Msg::JoinResponse { .. } => "join-group-response",
            Msg::Heartbeat { .. } => "heartbeat",
            Msg::HeartbeatResponse { .. } => "heartbeat-response",
            Msg::Leave { .. } => "leave-group",
            Msg::Commit { .. } => "offset-commit",
            Msg::CommitResponse { .. } => "offset-commit-response",
            Msg::OffsetFetch { .. } => "offset-fetch",
            Msg::OffsetFetchResponse { .. } => "offset-fetch-response",
            Msg::ReplicaFetch { .. } => "replica-fetch",
            Msg::ReplicaFetchResponse { .. } => "replica-fetch-response",
            Msg::BrokerHeartbeat { .. } => "broker-heartbeat",
            Msg::Metadata { .. } => "metadata",
            Msg::AlterIsr { .. } => "alter-isr",
            Msg::AlterIsrResponse { .. } => "alter-isr-response",
            Msg::InitProducerId { .. } => "init-producer-id",
            Msg::InitProducerIdResponse { .. } => "init-producer-id-response",
            Msg::AddPartitionsToTxn { .. } => "add-partitions-to-txn",
            Msg::EndTxn { .. } => "end-txn",
            Msg::TxnResponse { .. } => "txn-response",
            Msg::WriteTxnMarkers { .. } => "write-txn-markers",
            Msg::TxnOffsetCommit { .. } => "txn-offset-commit",
            Msg::TxnOffsetCommitResponse { .. } => "txn-offset-commit-response",
        }
    }
}

/// Every message kind name, for validating fault filters.
pub const MESSAGE_KINDS: [&str; 29] = [
    "produce",
    "produce-response",
    "fetch",
    "fetch-response",
    "list-offsets",
    "list-offsets-response",
    "join-group",
    "join-group-response",
    "heartbeat",
    "heartbeat-response",
    "leave-group",
    "offset-commit",
    "offset-commit-response",
    "offset-fetch",
    "offset-fetch-response",
    "replica-fetch",
    "replica-fetch-response",
    "broker-heartbeat",
    "metadata",
    "alter-isr",
    "alter-isr-response",
    "init-producer-id",
    "init-producer-id-response",
    "add-partitions-to-txn",
    "end-txn",
    "txn-response",
    "write-txn-markers",
    "txn-offset-commit",
    "txn-offset-commit-response",
];

/// A consumer request to send again after a backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resend {
    /// JoinGroup.
    Join,
    /// OffsetFetch.
    OffsetFetch,
    /// ListOffsets for a partition.
    ListOffsets(PartitionId),
    /// Fetches (by polling again).
    Poll,
    /// The commit that failed, as the next attempt of `commitSync`.
    Commit,
    /// A consume-transform-produce member's transactional request.
    Txn,
    /// A consume-transform-produce member's produce request to an output
    /// partition.
    Output {
        /// The output partition.
        partition: PartitionId,
    },
}

/// A timer a node set for itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Producer: the next planned record is due.
    NextRecord,
    /// Producer: `linger.ms` passed for a partition's open batch.
    Linger {
        /// The partition.
        partition: PartitionId,
        /// Which open batch (stale timers are ignored).
        batch: u32,
    },
    /// Producer: the oldest request in flight to a broker may have gone
    /// `request.timeout.ms` without a response.
    ProduceTimeout {
        /// The broker (index into `Layout::brokers`).
        broker: u16,
    },
    /// Producer: retry backoff of a batch is over.
    ProduceRetry {
        /// The batch.
        batch: u32,
    },
    /// Broker: a parked fetch may have waited `fetch.max.wait.ms`.
    FetchWait,
    /// Broker: replication deadlines (a follower's fetch to send or time
    /// out, an `acks=all` produce or a parked follower fetch to answer).
    Replication,
    /// Broker: a leader checks its followers' lag and its ISR.
    IsrCheck,
    /// Broker: heartbeat to the controller.
    BrokerHeartbeat,
    /// Controller: check brokers' sessions.
    SessionCheck,
    /// Producer: look up partition leaders again.
    MetadataRefresh,
    /// Broker (coordinator): check a group's deadlines.
    GroupCheck {
        /// The group.
        group: GroupId,
    },
    /// Consumer: time to heartbeat.
    Heartbeat,
    /// Consumer: `max.poll.interval.ms` may have passed since the last
    /// poll that returned records.
    PollDeadline,
    /// Consumer: a request may have gone without a response for its
    /// timeout.
    RequestTimeout,
    /// Consumer: the current record's processing time is over.
    Processed {
        /// Which handling step (stale timers are ignored).
        step: u64,
    },
    /// Consumer: resend a request that failed, after `retry.backoff.ms`.
    Resend {
        /// What to resend.
        what: Resend,
    },
    /// Producer (a standby instance): time to take over.
    Takeover,
    /// Producer: a transactional request may have gone without a response
    /// for `request.timeout.ms`.
    TxnRequestTimeout {
        /// The request.
        req: u32,
    },
    /// Broker (transaction coordinator): a transaction may have run past
    /// its timeout.
    TxnTimeout {
        /// The transactional id.
        txn: u16,
    },
    /// Consumer: try again after a backoff.
    Backoff {
        /// Which wait (stale timers are ignored).
        step: u64,
    },
}
