//! The history vocabulary: what can happen in a run.
//!
//! Events are broker-neutral where the concept is (a message id, an entity
//! key, a delivery to a consumer, its settlement, a handler's effect, a
//! crash) and carry broker-specific facts (partition, offset, generation) as
//! attributes. They are small `Copy` values with integer ids so that
//! recording one is a push onto a `Vec`; names are attached only when a
//! history is written out.

use crate::ids::{GroupId, KeyId, MessageId, NodeId, PartitionId};
use crate::time::SimTime;

/// One thing that happened, at a virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// When it happened.
    pub time: SimTime,
    /// What happened.
    pub kind: EventKind,
}

/// Where in its loop a consumer was when it crashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CrashPoint {
    /// An external crash at a moment in time, not at a point of the loop.
    Now,
    /// A poll returned a batch; nothing of it has been handled yet.
    BeforeHandle,
    /// Between two records of one batch.
    MidBatch,
    /// Inside a handler, right after one of its durable steps (a committed
    /// store transaction or an external side effect).
    MidHandle,
    /// The batch is handled; its offsets are not committed yet.
    AfterHandleBeforeCommit,
    /// An offset commit was just acknowledged by the coordinator.
    AfterCommit,
    /// A point a user handler named itself (index into the label table).
    Named(LabelId),
}

impl CrashPoint {
    /// The built-in points, in loop order, with their scenario-file names.
    pub const BUILT_IN: [(CrashPoint, &'static str); 5] = [
        (CrashPoint::BeforeHandle, "before-handle"),
        (CrashPoint::MidBatch, "mid-batch"),
        (CrashPoint::MidHandle, "mid-handle"),
        (
            CrashPoint::AfterHandleBeforeCommit,
            "after-handle-before-commit",
        ),
        (CrashPoint::AfterCommit, "after-commit"),
    ];

    /// The scenario-file name of a built-in point (`None` for named points).
    pub fn name(self) -> Option<&'static str> {
        match self {
            CrashPoint::Now => Some("now"),
            CrashPoint::Named(_) => None,
            p => CrashPoint::BUILT_IN
                .iter()
                .find(|(q, _)| *q == p)
                .map(|(_, n)| *n),
        }
    }
}

/// An interned label: a handler's effect name or a named crash point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelId(pub u16);

/// How a handler settled one delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Handled; the consumer moves on.
    Ok,
    /// The handler asked to try again later.
    Retry,
    /// The handler failed for good, or its retries ran out: dead-lettered.
    DeadLettered,
    /// The handler panicked; the record is dead-lettered and the panic is a
    /// finding.
    Panicked,
}

/// Why a producer gave up on a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProduceError {
    /// `retries` attempts were used up.
    RetriesExhausted,
    /// `delivery.timeout.ms` passed since the first send.
    DeliveryTimeout,
}

/// Why a transaction coordinator aborted a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortReason {
    /// The producer asked to abort (after an error in the transaction).
    Producer,
    /// A new incarnation of the transactional id initialized
    /// (`InitProducerId`) while the transaction was open.
    Init,
    /// `transaction.timeout.ms` passed.
    Timeout,
}

impl AbortReason {
    /// Its name in histories.
    pub fn name(self) -> &'static str {
        match self {
            AbortReason::Producer => "producer",
            AbortReason::Init => "init",
            AbortReason::Timeout => "timeout",
        }
    }
}

/// Why the coordinator refused an offset commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitError {
    /// The group is rebalancing (`REBALANCE_IN_PROGRESS`).
    RebalanceInProgress,
    /// The commit named an older generation (`ILLEGAL_GENERATION`).
    IllegalGeneration,
    /// The member is no longer in the group (`UNKNOWN_MEMBER_ID`).
    UnknownMember,
    /// Offsets sent to a transaction by a producer whose epoch is not the
    /// transactional id's current one (`INVALID_PRODUCER_EPOCH`).
    InvalidProducerEpoch,
}

/// Why a member left its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveReason {
    /// No heartbeat within `session.timeout.ms`.
    SessionTimeout,
    /// The member did not rejoin within the rebalance timeout.
    RebalanceTimeout,
    /// The member left on its own because it did not poll within
    /// `max.poll.interval.ms`.
    PollInterval,
}

/// Why the network dropped a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropCause {
    /// A message-loss fault.
    Loss,
    /// A network partition between the two nodes.
    Partition,
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    // ----- producing -----
    /// A producer sent a batch (first attempt or a retry) to a partition leader.
    ProduceSent {
        /// The producer.
        producer: NodeId,
        /// The target partition.
        partition: PartitionId,
        /// The producer's batch number.
        batch: u32,
        /// 1 for the first send, 2 for the first retry, ...
        attempt: u32,
        /// Records in the batch.
        records: u16,
    },
    /// A broker appended one record of a batch to a partition log.
    Appended {
        /// The broker leading the partition.
        broker: NodeId,
        /// The partition.
        partition: PartitionId,
        /// The record's offset in the log.
        offset: u64,
        /// The message.
        msg: MessageId,
        /// The producer that sent it.
        producer: NodeId,
        /// The producer's batch number.
        batch: u32,
        /// The attempt that carried it.
        attempt: u32,
    },
    /// An idempotent producer's retried batch was recognised as a duplicate
    /// and not appended again.
    DuplicateBatch {
        /// The broker.
        broker: NodeId,
        /// The partition.
        partition: PartitionId,
        /// The producer.
        producer: NodeId,
        /// The batch.
        batch: u32,
        /// The attempt that was dropped.
        attempt: u32,
    },
    /// The producer received the acknowledgement for a record.
    Acked {
        /// The producer.
        producer: NodeId,
        /// The message.
        msg: MessageId,
        /// Its partition.
        partition: PartitionId,
        /// The offset the broker reported (`None` with `acks=0`).
        offset: Option<u64>,
    },
    /// The producer gave up on a record.
    ProduceFailed {
        /// The producer.
        producer: NodeId,
        /// The message.
        msg: MessageId,
        /// Its partition.
        partition: PartitionId,
        /// Why.
        reason: ProduceError,
    },

    // ----- transactions -----
    /// A transactional producer got its producer id and epoch from its
    /// transaction coordinator (`InitProducerId`).
    ProducerInitialized {
        /// The producer.
        producer: NodeId,
        /// Its producer id (the same across restarts).
        pid: u32,
        /// Its epoch (bumped by every initialization).
        epoch: u16,
    },
    /// A transactional producer began a transaction.
    TxnBegan {
        /// The producer.
        producer: NodeId,
        /// Its epoch.
        epoch: u16,
    },
    /// A transactional producer's commit was accepted: its markers are
    /// written.
    TxnCommitted {
        /// The producer.
        producer: NodeId,
        /// Its epoch.
        epoch: u16,
        /// Records in the transaction.
        records: u32,
    },
    /// A transaction coordinator aborted a transaction.
    TxnAborted {
        /// The coordinator.
        coordinator: NodeId,
        /// The producer that owns the transactional id.
        producer: NodeId,
        /// The epoch of the aborted transaction.
        epoch: u16,
        /// Why.
        reason: AbortReason,
    },
    /// A producer learned that a newer incarnation with its transactional
    /// id fenced it (`PRODUCER_FENCED`); it stops.
    Fenced {
        /// The producer.
        producer: NodeId,
        /// Its (stale) epoch.
        epoch: u16,
    },
    /// A commit or abort marker took an offset in a partition's log.
    TxnMarker {
        /// The leader of the partition, whose log holds it.
        broker: NodeId,
        /// The partition.
        partition: PartitionId,
        /// The marker's offset.
        offset: u64,
        /// The producer whose transaction it ends.
        producer: NodeId,
        /// A commit (`true`) or an abort marker.
        commit: bool,
    },
    /// A record in a partition's log belongs to an aborted transaction: a
    /// `read_committed` consumer skips it; one that reads uncommitted may
    /// handle it (an aborted read, G1a).
    RecordAborted {
        /// The partition.
        partition: PartitionId,
        /// The record's offset.
        offset: u64,
        /// The message.
        msg: MessageId,
    },

    // ----- replication -----
    /// The controller chose a partition's leader (or found none).
    LeaderElected {
        /// The partition.
        partition: PartitionId,
        /// The new leader; `None`: no eligible replica, the partition is
        /// offline.
        leader: Option<NodeId>,
        /// The new leader epoch.
        epoch: u32,
        /// The leader was not in the ISR (`unclean.leader.election.enable`):
        /// records only the old ISR had are lost.
        unclean: bool,
    },
    /// The controller changed a partition's in-sync replicas.
    IsrChanged {
        /// The partition.
        partition: PartitionId,
        /// The ISR, bit `i` for the `i`-th broker.
        isr: u64,
    },
    /// A replica truncated its log to match its leader's (its log had
    /// diverged: records a former leader appended and no one replicated).
    Truncated {
        /// The broker holding the replica.
        broker: NodeId,
        /// The partition.
        partition: PartitionId,
        /// The new log end offset.
        offset: u64,
        /// Records removed.
        removed: u64,
    },

    // ----- group membership -----
    /// A consumer group completed a rebalance and started a generation.
    GenerationStarted {
        /// The group.
        group: GroupId,
        /// The new generation id.
        generation: u32,
        /// Members in it.
        members: u16,
    },
    /// A partition was assigned to a consumer in a generation.
    Assigned {
        /// The group.
        group: GroupId,
        /// The generation.
        generation: u32,
        /// The consumer.
        consumer: NodeId,
        /// The partition.
        partition: PartitionId,
    },
    /// The coordinator removed a member from its group.
    MemberRemoved {
        /// The group.
        group: GroupId,
        /// The consumer.
        consumer: NodeId,
        /// Why.
        reason: RemoveReason,
    },
    /// A static member (`group.instance.id`) joined again, after a restart
    /// or a missed poll deadline, while its group was stable: the
    /// coordinator gave it a new member id and its old assignment, without
    /// a rebalance.
    StaticMemberRejoined {
        /// The group.
        group: GroupId,
        /// The generation it rejoined (unchanged).
        generation: u32,
        /// The consumer.
        consumer: NodeId,
    },
    /// Cooperative rebalancing (KIP-429): a consumer gave up a partition
    /// its new assignment leaves out, and kept consuming the rest; it
    /// rejoins so a follow-up rebalance hands the partition to its new
    /// owner.
    IncrementalRevoke {
        /// The group.
        group: GroupId,
        /// The consumer.
        consumer: NodeId,
        /// The generation whose assignment left the partition out.
        generation: u32,
        /// The partition.
        partition: PartitionId,
    },
    /// Cooperative rebalancing: a consumer took on a partition added to its
    /// assignment, without giving up the ones it had.
    IncrementalAssign {
        /// The group.
        group: GroupId,
        /// The consumer.
        consumer: NodeId,
        /// The generation that added the partition.
        generation: u32,
        /// The partition.
        partition: PartitionId,
    },
    /// A consumer noticed it had not polled within `max.poll.interval.ms`
    /// and left its group.
    PollIntervalExceeded {
        /// The consumer.
        consumer: NodeId,
        /// The generation it was in.
        generation: u32,
    },

    /// A consume-transform-produce member gave up its batch (its
    /// transaction aborted, or could not begin) and starts again from the
    /// group's committed offsets.
    StageRewound {
        /// The member.
        consumer: NodeId,
        /// Whether it rejoins the group first (the group refused it).
        rejoin: bool,
    },

    // ----- consuming -----
    /// A consumer had no committed offset for a partition (or its offset
    /// was out of range) and reset its position by `auto.offset.reset`.
    OffsetReset {
        /// The consumer.
        consumer: NodeId,
        /// The partition.
        partition: PartitionId,
        /// Where it starts reading.
        offset: u64,
        /// `true` for the log end (`latest`), `false` for the beginning.
        to_end: bool,
    },
    /// A record was handed to a consumer's handler.
    Delivered {
        /// The consumer.
        consumer: NodeId,
        /// The partition.
        partition: PartitionId,
        /// The record's offset.
        offset: u64,
        /// The message.
        msg: MessageId,
        /// The entity key.
        key: KeyId,
        /// The consumer's generation at poll time.
        generation: u32,
    },
    /// A handler applied a durable effect: a committed store transaction
    /// that wrote something, or an external side effect.
    Effect {
        /// The consumer.
        consumer: NodeId,
        /// The message being handled.
        msg: MessageId,
        /// The entity key.
        key: KeyId,
        /// The effect's label (transaction or side-effect name).
        label: LabelId,
        /// `true` for an external side effect (an email, a payment).
        external: bool,
    },
    /// A durable step a handler took after the process had crashed under
    /// it: it would have applied this effect, and did not.
    CutShort {
        /// The consumer.
        consumer: NodeId,
        /// The message being handled.
        msg: MessageId,
        /// The step's label.
        label: LabelId,
        /// `true` for an external side effect.
        external: bool,
    },
    /// A handler settled a delivery.
    Handled {
        /// The consumer.
        consumer: NodeId,
        /// The partition.
        partition: PartitionId,
        /// The record's offset.
        offset: u64,
        /// The message.
        msg: MessageId,
        /// How it settled.
        settle: Settle,
    },
    /// The coordinator accepted a committed offset (the next offset to read).
    CommitAccepted {
        /// The group.
        group: GroupId,
        /// The committing consumer.
        consumer: NodeId,
        /// Its generation.
        generation: u32,
        /// The partition.
        partition: PartitionId,
        /// The committed offset: the next offset to read.
        offset: u64,
    },
    /// The coordinator refused a commit.
    CommitRejected {
        /// The group.
        group: GroupId,
        /// The committing consumer.
        consumer: NodeId,
        /// The generation it named.
        generation: u32,
        /// Why.
        reason: CommitError,
    },

    // ----- faults and lifecycle -----
    /// A node crashed; its in-memory state is gone.
    Crashed {
        /// The node.
        node: NodeId,
        /// Where in its loop (`Now` for brokers and timed crashes).
        point: CrashPoint,
        /// Earlier passes of this point by this node at the same instant
        /// (0: it crashed on the first), so a replay can pick the same one.
        pass: u32,
    },
    /// A crashed node started again from its durable state.
    Restarted {
        /// The node.
        node: NodeId,
    },
    /// The network dropped a message.
    MessageDropped {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message kind (`produce`, `fetch-response`, ...).
        kind: &'static str,
        /// Why.
        cause: DropCause,
        /// Earlier messages of this kind on this link at the same instant.
        nth: u32,
    },
    /// The network delivered a message twice.
    MessageDuplicated {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message kind.
        kind: &'static str,
        /// Earlier messages of this kind on this link at the same instant.
        nth: u32,
    },
    /// The network held a message back, by a delay or a reordering fault.
    MessageDelayed {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message kind.
        kind: &'static str,
        /// Extra delay in microseconds.
        extra_us: u64,
        /// `true` when the fault was a reordering (later messages overtake).
        reorder: bool,
        /// Earlier messages of this kind on this link at the same instant.
        nth: u32,
    },
    /// A network partition began. Its sides are in the fault plan.
    PartitionStarted {
        /// The partition fault's number in the run.
        id: u32,
    },
    /// A network partition healed.
    PartitionHealed {
        /// The partition fault's number in the run.
        id: u32,
    },
    /// A consumer's handling became slow.
    SlowStarted {
        /// The consumer.
        node: NodeId,
        /// Processing time per record while slow, in microseconds.
        processing_us: u64,
    },
    /// A consumer's handling went back to normal speed.
    SlowEnded {
        /// The consumer.
        node: NodeId,
    },
    /// A user handler panicked while handling a message.
    HandlerPanicked {
        /// The consumer.
        consumer: NodeId,
        /// The message.
        msg: MessageId,
        /// Index of the panic message in the history's panic table.
        panic: u32,
    },
    /// A user handler factory panicked when a consumer started; the
    /// consumer dead-letters every record instead.
    HandlerFactoryPanicked {
        /// The consumer.
        consumer: NodeId,
        /// Index of the panic message in the history's panic table.
        panic: u32,
    },
    /// The fault window closed: faults healed, crashed nodes restart, and the
    /// liveness phase begins.
    FaultsHealed,
}

impl EventKind {
    /// Where the record sits, for a `RecordAborted` event: the
    /// `(partition, offset)` of a record of an aborted transaction.
    pub fn aborted_record(&self) -> Option<(PartitionId, u64)> {
        match *self {
            EventKind::RecordAborted {
                partition, offset, ..
            } => Some((partition, offset)),
            _ => None,
        }
    }
}

/// The recorded history of a run: events in the order they happened, plus
/// the side tables their ids point into.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Events in order. Times never decrease.
    pub events: Vec<Event>,
    /// Interned labels (effect names, named crash points).
    pub labels: Vec<&'static str>,
    /// Panic messages of user handlers.
    pub panics: Vec<String>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Appends an event.
    #[inline]
    pub fn record(&mut self, time: SimTime, kind: EventKind) {
        self.events.push(Event { time, kind });
    }

    /// The id of `label`, interning it on first use.
    pub fn label(&mut self, label: &'static str) -> LabelId {
        if let Some(i) = self
            .labels
            .iter()
            .position(|l| std::ptr::eq(*l, label) || *l == label)
        {
            return LabelId(i as u16);
        }
        self.labels.push(label);
        LabelId((self.labels.len() - 1) as u16)
    }

    /// The text of an interned label.
    pub fn label_name(&self, id: LabelId) -> &'static str {
        self.labels.get(id.0 as usize).copied().unwrap_or("?")
    }

    /// Forgets everything, keeping the allocations for the next run.
    pub fn clear(&mut self) {
        self.events.clear();
        self.labels.clear();
        self.panics.clear();
    }
}
