//! A broker: partition leader (appends, fetches, idempotent-producer
//! deduplication), follower of replicated partitions (see
//! [`super::replica`]) and group coordinator.

use crate::event::{CommitError, EventKind, RemoveReason};
use crate::ids::{GroupId, NodeId, PartitionId};
use crate::model::{Cx, Deadlines};
use crate::time::SimTime;

use super::assignor::{cooperative_round, range_assign, round_robin_assign, sticky_assign};
use super::config::{Acks, Assignor};
use super::log::LogBatch;
use super::protocol::{Control, GroupError, Msg, ProduceResult, Record, Timer};
use super::replica::{Produce, Replicas};
use super::txn::{self, TxnAnswer};
use super::world::{Durable, Layout};

/// Batches remembered per producer and partition for deduplication
/// (Kafka keeps the last five).
const PRODUCER_WINDOW: usize = 5;

/// Idempotent-producer state of one producer id on one partition (durable:
/// Kafka snapshots it with the log).
#[derive(Clone, Debug, Default)]
pub(crate) struct SeqState {
    epoch: u16,
    next_seq: u32,
    /// `(base_seq, base_offset)` of the last batches, oldest first: the
    /// first `len` entries.
    recent: [(u32, u64); PRODUCER_WINDOW],
    len: u8,
}

/// The idempotent-producer states of one log, by producer id: a vector
/// sorted by id. A log sees few producer ids (one per producer incarnation
/// or transactional epoch that wrote to it), and the one writing is
/// usually the newest, so a lookup mostly ends at the last entry, cheaper
/// than a `BTreeMap` walk; nothing iterates over them.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProducerSeqs(Vec<(u32, SeqState)>);

impl ProducerSeqs {
    /// The state of producer `pid`, a fresh one if it has none yet.
    #[inline]
    pub fn entry(&mut self, pid: u32) -> &mut SeqState {
        let i = match self.0.last() {
            Some(&(last, _)) if last == pid => self.0.len() - 1,
            _ => match self.0.binary_search_by_key(&pid, |&(p, _)| p) {
                Ok(i) => i,
                Err(i) => {
                    self.0.insert(i, (pid, SeqState::default()));
                    i
                }
            },
        };
        &mut self.0[i].1
    }

    /// Forgets every producer.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl SeqState {
    /// The last batches, oldest first.
    fn recent(&self) -> &[(u32, u64)] {
        &self.recent[..usize::from(self.len)]
    }

    /// Remembers a batch, forgetting the oldest beyond the window.
    fn remember(&mut self, batch: (u32, u64)) {
        let len = usize::from(self.len);
        if len < PRODUCER_WINDOW {
            self.recent[len] = batch;
            self.len += 1;
        } else {
            self.recent.copy_within(1.., 0);
            self.recent[PRODUCER_WINDOW - 1] = batch;
        }
    }
}

/// Records an appended batch in its producer's sequence state (on the
/// leader as it appends, on followers as they replicate).
pub(crate) fn apply_seq(st: &mut SeqState, epoch: u16, base_seq: u32, n: u32, base_offset: u64) {
    if epoch > st.epoch {
        *st = SeqState {
            epoch,
            ..SeqState::default()
        };
    }
    st.next_seq = base_seq.wrapping_add(n);
    st.remember((base_seq, base_offset));
}

/// Moves a producer's sequence state to `epoch` (a transaction
/// coordinator bumped it): batches of older epochs are refused from now on.
pub(crate) fn fence_epoch(st: &mut SeqState, epoch: u16) {
    if epoch > st.epoch {
        *st = SeqState {
            epoch,
            ..SeqState::default()
        };
    }
}

/// Checks an idempotent producer's batch against the log's sequence state
/// and appends it (to log `log`; with batch metadata in `leader_epoch` on a
/// replicated partition).
/// Hinted `#[inline]`: on a produce request, its caller's hot path (the
/// hint measured -2.3 k instructions per standard run).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn append_produce(
    durable: &mut Durable,
    log: usize,
    leader_epoch: Option<u32>,
    broker: NodeId,
    from: NodeId,
    partition: PartitionId,
    batch: u32,
    attempt: u32,
    (pid, epoch): (u32, u16),
    base_seq: u32,
    records: &[Record],
    cx: &mut Cx<'_, Msg, Timer>,
) -> ProduceResult {
    let n = records.len() as u32;
    // The producer's sequence state, looked up once for the checks and
    // the update after the append.
    let mut seq = None;
    if pid != 0 {
        let st = durable.seqs[log].entry(pid);
        if epoch < st.epoch {
            return ProduceResult::InvalidEpoch;
        }
        if epoch > st.epoch {
            // A bumped epoch starts the sequence over.
            *st = SeqState {
                epoch,
                ..SeqState::default()
            };
        }
        if base_seq != st.next_seq {
            if let Some(&(_, base_offset)) = st.recent().iter().find(|(s, _)| *s == base_seq) {
                cx.record(EventKind::DuplicateBatch {
                    broker,
                    partition,
                    producer: from,
                    batch,
                    attempt,
                });
                return ProduceResult::Duplicate { base_offset };
            }
            return ProduceResult::OutOfOrderSequence;
        }
        seq = Some(st);
    }
    let plog = &mut durable.logs[log];
    let base_offset = match leader_epoch {
        None => plog.append(records),
        Some(leader_epoch) => plog.append_batch(
            records,
            LogBatch {
                base_offset: 0,
                records: n,
                leader_epoch,
                pid,
                producer_epoch: epoch,
                base_seq,
            },
        ),
    };
    for (i, r) in records.iter().enumerate() {
        cx.record(EventKind::Appended {
            broker,
            partition,
            offset: base_offset + i as u64,
            msg: r.msg,
            producer: from,
            batch,
            attempt,
        });
    }
    if let Some(st) = seq {
        apply_seq(st, epoch, base_seq, n, base_offset);
    }
    if let Some(r) = records.first()
        && r.txn_pid != 0
    {
        durable.txn_logs[log].begin(r.txn_pid, base_offset);
    }
    ProduceResult::Appended { base_offset }
}

/// The durable part of a group: what `__consumer_offsets` keeps.
#[derive(Clone, Debug)]
pub(crate) struct GroupDurable {
    pub generation: u32,
    pub next_member: u32,
    /// Committed offset per partition of the group's topic.
    pub committed: Vec<Option<u64>>,
    /// Members of the last completed generation, with their assignments.
    /// A coordinator that restarts loads the group from here, as Kafka's
    /// does from `__consumer_offsets`.
    pub members: Vec<MemberRecord>,
    /// Offsets sent to transactions that have not ended yet (KIP-447's
    /// pending transactional offsets): committed by the transaction's
    /// commit marker, dropped by its abort marker.
    pub pending: Vec<TxnOffsets>,
}

/// Offsets a transaction holds for a group.
#[derive(Clone, Debug)]
pub(crate) struct TxnOffsets {
    /// The transaction's producer id.
    pub pid: u32,
    /// The member that sent them.
    pub consumer: NodeId,
    /// The generation it named (0 when it sent the group id only).
    pub generation: u32,
    /// `(partition, next offset to read)`.
    pub offsets: Vec<(PartitionId, u64)>,
}

impl GroupDurable {
    pub fn new(partitions: u32) -> Self {
        GroupDurable {
            generation: 0,
            next_member: 1,
            committed: vec![None; partitions as usize],
            members: Vec::new(),
            pending: Vec::new(),
        }
    }
}

/// One member of a completed generation, as `__consumer_offsets` keeps it.
#[derive(Clone, Debug)]
pub(crate) struct MemberRecord {
    /// The member id.
    pub id: u32,
    /// Its consumer.
    pub node: NodeId,
    /// `group.instance.id` of a static member.
    pub instance: Option<NodeId>,
    /// Its partitions.
    pub assignment: Vec<PartitionId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Empty,
    /// Waiting for members to (re)join until `deadline`.
    Preparing {
        deadline: SimTime,
        /// Started on an empty group: wait out the initial delay.
        initial: bool,
        /// When the rebalance began.
        started: SimTime,
    },
    Stable,
}

#[derive(Clone, Debug)]
struct Member {
    id: u32,
    node: NodeId,
    last_heartbeat: SimTime,
    /// Request id of a join waiting for the rebalance to complete.
    pending_join: Option<u32>,
    assignment: Vec<PartitionId>,
    /// `group.instance.id` of a static member.
    instance: Option<NodeId>,
    /// The partitions it said it owns in its last join (cooperative
    /// protocol): the ownership a cooperative round works from.
    owned: Vec<PartitionId>,
}

/// Volatile state of a group on its coordinator.
#[derive(Clone, Debug)]
struct GroupState {
    phase: Phase,
    members: Vec<Member>,
    check_at: Option<SimTime>,
}

impl Default for GroupState {
    fn default() -> Self {
        GroupState {
            phase: Phase::Empty,
            members: Vec::new(),
            check_at: None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Parked {
    deadline: SimTime,
    from: NodeId,
    req: u32,
    partition: PartitionId,
    offset: u64,
}

/// Answers a fetch with what the log holds from its offset up to what
/// consumers may see (nothing past the end, flagged out of range), or with
/// `not_leader` when this broker does not lead the partition.
fn answer(
    layout: &Layout,
    durable: &Durable,
    replicas: Option<&Replicas>,
    p: &Parked,
    cx: &mut Cx<'_, Msg, Timer>,
) {
    let (records, out_of_range, not_leader) = match visible(layout, durable, replicas, p.partition)
    {
        None => (Vec::new(), false, true),
        Some((i, visible)) => {
            let log = &durable.logs[i];
            let committed = read_committed(layout, durable, p.from);
            let visible = if committed {
                durable.txn_logs[i].lso(visible)
            } else {
                visible
            };
            let max = (layout.broker_config.fetch_records_max as u64)
                .min(visible.saturating_sub(p.offset)) as u32;
            let mut records = log.read(p.offset, max).to_vec();
            if committed {
                // The aborted-transactions list the client filters with.
                let txns = &durable.txn_logs[i];
                for (o, r) in records.iter_mut().enumerate() {
                    if r.control == Control::Data && txns.is_aborted(r.txn_pid, p.offset + o as u64)
                    {
                        r.control = Control::Aborted;
                    }
                }
            }
            (records, p.offset > log.end(), false)
        }
    };
    cx.send(
        p.from,
        Msg::FetchResponse {
            req: p.req,
            partition: p.partition,
            offset: p.offset,
            records,
            out_of_range,
            not_leader,
        },
    );
}

/// Whether `node` fetches with `isolation.level=read_committed` (only when
/// some producer is transactional: otherwise there is nothing to hold
/// back).
#[inline]
fn read_committed(layout: &Layout, durable: &Durable, node: NodeId) -> bool {
    !durable.txn_logs.is_empty()
        && layout
            .group_of(node)
            .is_some_and(|g| layout.groups[g.index()].config.read_committed)
}

/// What `node` may read of log `log` whose visible end is `visible`: up to
/// the last stable offset for a `read_committed` consumer.
#[inline]
fn visible_to(layout: &Layout, durable: &Durable, node: NodeId, log: usize, visible: u64) -> u64 {
    if read_committed(layout, durable, node) {
        durable.txn_logs[log].lso(visible)
    } else {
        visible
    }
}

/// The log consumers read `p` from on this broker and where what they may
/// see ends (the high watermark of a replicated partition); `None` when
/// this broker does not lead it.
#[inline]
fn visible(
    layout: &Layout,
    durable: &Durable,
    replicas: Option<&Replicas>,
    p: PartitionId,
) -> Option<(usize, u64)> {
    match replicas {
        None => Some((p.index(), durable.logs[p.index()].end())),
        Some(r) if r.leads(p) => {
            let log = r.log_of(layout, p)?;
            Some((log, durable.logs[log].hw()))
        }
        Some(_) => None,
    }
}

/// A broker's volatile state. Logs, producer sequence state and committed
/// offsets are durable and live in the world.
#[derive(Debug)]
pub(crate) struct Broker {
    node: NodeId,
    parked: Vec<Parked>,
    fetch_wait: Deadlines,
    /// The timeout check of each transactional id it coordinates (empty
    /// without transactions).
    txn_timeouts: Vec<Deadlines>,
    groups: Vec<GroupState>,
    /// The replicas it hosts, when partitions are replicated.
    replicas: Option<Box<Replicas>>,
}

impl Broker {
    pub fn new(layout: &Layout, node: NodeId, incarnation: u32) -> Broker {
        Broker {
            node,
            parked: Vec::new(),
            fetch_wait: Deadlines::default(),
            txn_timeouts: vec![Deadlines::default(); layout.txn_ids.len()],
            groups: Vec::new(),
            replicas: layout
                .replicated()
                .then(|| Box::new(Replicas::new(layout, node, incarnation))),
        }
    }

    pub fn start(&mut self, layout: &Layout, durable: &mut Durable, cx: &mut Cx<'_, Msg, Timer>) {
        if let Some(r) = &mut self.replicas {
            r.start(layout, durable, cx);
            self.after_replication(layout, durable, cx);
        }
        self.groups = vec![GroupState::default(); layout.groups.len()];
        if !durable.txns.is_empty() {
            txn::restart(layout, durable, self.node, &mut self.txn_timeouts, cx);
        }
        // Groups this broker coordinates come back as their last completed
        // generation left them, with fresh session timers.
        for (g, meta) in layout.groups.iter().enumerate() {
            let gd = &durable.groups[g];
            if meta.coordinator != self.node || gd.members.is_empty() {
                continue;
            }
            let gs = &mut self.groups[g];
            gs.members = gd
                .members
                .iter()
                .map(|r| Member {
                    id: r.id,
                    node: r.node,
                    last_heartbeat: cx.now,
                    pending_join: None,
                    assignment: r.assignment.clone(),
                    instance: r.instance,
                    owned: r.assignment.clone(),
                })
                .collect();
            gs.phase = Phase::Stable;
            let group = GroupId(g as u16);
            self.schedule_check(group, cx.now + meta.config.session_timeout, cx);
        }
    }

    #[inline]
    pub fn on_message(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        from: NodeId,
        msg: Msg,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        // Produce requests are most of a broker's traffic: they take a
        // short path of their own, not the large function that handles
        // every other request.
        match msg {
            Msg::Produce {
                req,
                partition,
                batch,
                attempt,
                pid,
                epoch,
                base_seq,
                acks,
                records,
            } => {
                let produce = Produce {
                    from,
                    req,
                    partition,
                    batch,
                    attempt,
                    pid,
                    epoch,
                    base_seq,
                    acks,
                    records: &records,
                };
                self.produce(layout, durable, produce, cx);
            }
            msg => self.on_request(layout, durable, from, msg, cx),
        }
    }

    /// A produce request: appended here, or handed to the partition's
    /// replica when replicated.
    fn produce(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        p: Produce<'_>,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        if let Some(r) = &mut self.replicas {
            r.produce(layout, durable, p, cx);
            self.after_replication(layout, durable, cx);
            return;
        }
        let result = append_produce(
            durable,
            p.partition.index(),
            None,
            self.node,
            p.from,
            p.partition,
            p.batch,
            p.attempt,
            (p.pid, p.epoch),
            p.base_seq,
            p.records,
            cx,
        );
        if p.acks != Acks::Zero {
            let (req, batch) = (p.req, p.batch);
            cx.send(p.from, Msg::ProduceResponse { req, batch, result });
        }
        if matches!(result, ProduceResult::Appended { .. }) {
            self.wake(layout, durable, p.partition, cx);
        }
    }

    /// Every message but a produce request.
    #[inline(never)]
    fn on_request(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        from: NodeId,
        msg: Msg,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        match msg {
            Msg::Fetch {
                req,
                partition,
                offset,
            } => self.fetch(layout, durable, from, req, partition, offset, cx),
            Msg::InitProducerId { req, txn, current } => {
                let answer = answer_once(durable, txn, (from, req), |durable| {
                    let result = txn::init(layout, durable, self.node, txn, (from, current), cx);
                    self.wake_all(layout, durable, cx);
                    TxnAnswer::Init(result)
                });
                if let Some(TxnAnswer::Init(result)) = answer {
                    cx.send(from, Msg::InitProducerIdResponse { req, result });
                }
            }
            Msg::AddPartitionsToTxn {
                req,
                txn,
                pid,
                epoch,
            } => {
                let answer = answer_once(durable, txn, (from, req), |durable| {
                    let timeout = &mut self.txn_timeouts[usize::from(txn)];
                    TxnAnswer::Txn(txn::add_partitions(
                        layout,
                        durable,
                        txn,
                        (pid, epoch),
                        timeout,
                        cx,
                    ))
                });
                if let Some(TxnAnswer::Txn(result)) = answer {
                    cx.send(from, Msg::TxnResponse { req, result });
                }
            }
            Msg::EndTxn {
                req,
                txn,
                pid,
                epoch,
                commit,
            } => {
                let answer = answer_once(durable, txn, (from, req), |durable| {
                    let result =
                        txn::end(layout, durable, self.node, txn, (pid, epoch), commit, cx);
                    self.wake_all(layout, durable, cx);
                    TxnAnswer::Txn(result)
                });
                if let Some(TxnAnswer::Txn(result)) = answer {
                    cx.send(from, Msg::TxnResponse { req, result });
                }
            }
            Msg::WriteTxnMarkers { partition } => self.wake(layout, durable, partition, cx),
            Msg::ListOffsets { req, partition } => {
                // `latest` is the high watermark of a replicated partition.
                let end = visible(layout, durable, self.replicas.as_deref(), partition)
                    .map(|(log, end)| visible_to(layout, durable, from, log, end));
                cx.send(
                    from,
                    Msg::ListOffsetsResponse {
                        req,
                        partition,
                        end,
                    },
                );
            }
            Msg::Join {
                req,
                group,
                member,
                instance,
                owned,
            } => self.join(
                layout,
                durable,
                from,
                req,
                group,
                (member, instance, owned),
                cx,
            ),
            Msg::Heartbeat {
                group,
                member,
                generation,
            } => {
                let error = self.heartbeat(durable, group, member, generation, cx.now);
                cx.send(from, Msg::HeartbeatResponse { error, generation });
            }
            Msg::Leave { group, member } => self.leave(layout, durable, group, member, cx),
            Msg::Commit {
                req,
                group,
                member,
                generation,
                offsets,
            } => {
                let result = self.commit(
                    layout, durable, from, group, member, generation, &offsets, cx,
                );
                cx.send(from, Msg::CommitResponse { req, result });
            }
            Msg::OffsetFetch {
                req,
                group,
                partitions,
            } => {
                let first = layout.topics[usize::from(layout.groups[group.index()].topic)].first;
                let gd = &durable.groups[group.index()];
                // KIP-447: while a transaction holds offsets of one of the
                // partitions, the consumer must wait for it to end.
                let unstable = gd
                    .pending
                    .iter()
                    .any(|t| t.offsets.iter().any(|(p, _)| partitions.contains(p)));
                let offsets = partitions
                    .into_iter()
                    .map(|p| (p, gd.committed[usize::from(p.0 - first.0)]))
                    .collect();
                cx.send(
                    from,
                    Msg::OffsetFetchResponse {
                        req,
                        offsets,
                        unstable,
                    },
                );
            }
            Msg::TxnOffsetCommit {
                req,
                txn,
                pid,
                epoch,
                group,
                member,
                offsets,
            } => {
                let answer = answer_once(durable, txn, (from, req), |durable| {
                    TxnAnswer::Offsets(self.txn_offset_commit(
                        durable,
                        (from, txn, pid, epoch),
                        group,
                        member,
                        offsets,
                        cx,
                    ))
                });
                if let Some(TxnAnswer::Offsets(result)) = answer {
                    cx.send(from, Msg::TxnOffsetCommitResponse { req, result });
                }
            }
            Msg::ReplicaFetch {
                req,
                partition,
                offset,
                last_epoch,
                leader_epoch,
            } => {
                if let Some(r) = &mut self.replicas {
                    r.on_fetch(
                        layout,
                        durable,
                        from,
                        req,
                        partition,
                        offset,
                        last_epoch,
                        leader_epoch,
                        cx,
                    );
                    self.after_replication(layout, durable, cx);
                }
            }
            Msg::ReplicaFetchResponse {
                req,
                partition,
                result,
            } => {
                if let Some(r) = &mut self.replicas {
                    r.on_fetch_response(layout, durable, req, partition, *result, cx);
                    self.after_replication(layout, durable, cx);
                }
            }
            Msg::Metadata {
                version,
                partitions,
            } => {
                if let Some(r) = &mut self.replicas {
                    r.apply_metadata(layout, durable, version, &partitions, cx);
                    self.after_replication(layout, durable, cx);
                }
            }
            Msg::AlterIsrResponse {
                req,
                partition,
                state,
            } => {
                if let Some(r) = &mut self.replicas {
                    r.on_alter_isr_response(layout, durable, req, partition, state, cx);
                    self.after_replication(layout, durable, cx);
                }
            }
            // Responses are for clients, requests for the controller; a
            // broker ignores any that reach it.
            Msg::BrokerHeartbeat { .. } | Msg::AlterIsr { .. } => {}
            // Taken by `on_message`.
            Msg::Produce { .. } => {}
            Msg::ProduceResponse { .. }
            | Msg::FetchResponse { .. }
            | Msg::ListOffsetsResponse { .. }
            | Msg::JoinResponse { .. }
            | Msg::HeartbeatResponse { .. }
            | Msg::CommitResponse { .. }
            | Msg::OffsetFetchResponse { .. }
            | Msg::InitProducerIdResponse { .. }
            | Msg::TxnResponse { .. }
            | Msg::TxnOffsetCommitResponse { .. } => {}
        }
    }

    /// A client's connection broke: fetches parked for it are gone.
    pub fn on_disconnect(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        peer: NodeId,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        self.parked.retain(|p| p.from != peer);
        if let Some(r) = &mut self.replicas {
            r.on_disconnect(layout, peer, cx);
            self.after_replication(layout, durable, cx);
        }
    }

    /// Answers the consumer fetches parked on partitions whose high
    /// watermark moved or whose leadership ended.
    fn after_replication(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let Some(r) = &mut self.replicas else {
            return;
        };
        if r.woken.is_empty() {
            return;
        }
        let mut woken = std::mem::take(&mut r.woken);
        for &p in &woken {
            self.wake(layout, durable, p, cx);
        }
        woken.clear();
        if let Some(r) = &mut self.replicas {
            r.woken = woken;
        }
    }

    pub fn on_timer(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        timer: Timer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        match timer {
            Timer::FetchWait => {
                self.fetch_wait.fired();
                // Answer, in parking order, every fetch that waited long
                // enough.
                let now = cx.now;
                self.answer_parked(layout, durable, |p| p.deadline <= now, cx);
                if let Some(next) = self.parked.iter().map(|p| p.deadline).min() {
                    self.fetch_wait.arm(next, Timer::FetchWait, cx);
                }
            }
            Timer::TxnTimeout { txn } => {
                let timeouts = &mut self.txn_timeouts[usize::from(txn)];
                timeouts.fired();
                txn::check_timeout(layout, durable, self.node, txn, timeouts, cx);
                self.wake_all(layout, durable, cx);
            }
            Timer::GroupCheck { group } => {
                self.groups[group.index()].check_at = None;
                self.check_group(layout, durable, group, cx);
            }
            Timer::Replication | Timer::IsrCheck | Timer::BrokerHeartbeat => {
                if let Some(r) = &mut self.replicas {
                    match timer {
                        Timer::Replication => r.on_deadline(layout, durable, cx),
                        Timer::IsrCheck => r.isr_check(layout, cx),
                        _ => r.on_heartbeat_timer(layout, cx),
                    }
                    self.after_replication(layout, durable, cx);
                }
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fetch(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        from: NodeId,
        req: u32,
        partition: PartitionId,
        offset: u64,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        // Answered at once unless the fetch is at the end of what
        // consumers may see (not past the log end: out of range).
        let due = match visible(layout, durable, self.replicas.as_deref(), partition) {
            None => true,
            Some((log, visible)) => {
                offset < visible_to(layout, durable, from, log, visible)
                    || offset > durable.logs[log].end()
            }
        };
        if due {
            let parked = Parked {
                deadline: cx.now,
                from,
                req,
                partition,
                offset,
            };
            answer(layout, durable, self.replicas.as_deref(), &parked, cx);
            return;
        }
        // Nothing new: hold the fetch until data arrives or the wait ends.
        let wait = layout
            .group_of(from)
            .map(|g| layout.groups[g.index()].config.fetch_max_wait)
            .unwrap_or(SimTime::from_ms(500));
        let deadline = cx.now + wait;
        self.parked.push(Parked {
            deadline,
            from,
            req,
            partition,
            offset,
        });
        self.fetch_wait.arm(deadline, Timer::FetchWait, cx);
    }

    /// Answers the fetches parked on `partition` now that it has new data.
    #[inline]
    fn wake(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        partition: PartitionId,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        // No fetch waits here: nothing to answer (checked before any call:
        // every append comes here).
        if !self.parked.is_empty() {
            self.wake_parked(layout, durable, partition, cx);
        }
    }

    /// [`Broker::wake`] once some fetch is parked.
    #[inline(never)]
    fn wake_parked(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        partition: PartitionId,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        match visible(layout, durable, self.replicas.as_deref(), partition) {
            Some((log, end)) => self.answer_parked(
                layout,
                durable,
                |p| {
                    p.partition == partition
                        && p.offset < visible_to(layout, durable, p.from, log, end)
                },
                cx,
            ),
            // No longer the leader: every fetch parked here is answered so.
            None => self.answer_parked(layout, durable, |p| p.partition == partition, cx),
        }
    }

    /// Answers the parked fetches of every partition that has new data to
    /// show them (markers moved last stable offsets).
    fn wake_all(&mut self, layout: &Layout, durable: &Durable, cx: &mut Cx<'_, Msg, Timer>) {
        for p in 0..layout.partitions.len() {
            if self.parked.is_empty() {
                return;
            }
            self.wake(layout, durable, PartitionId(p as u16), cx);
        }
    }

    /// Answers, in parking order, the parked fetches that `due` picks.
    fn answer_parked(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        due: impl Fn(&Parked) -> bool,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let replicas = self.replicas.as_deref();
        self.parked.retain(|p| {
            if due(p) {
                answer(layout, durable, replicas, p, cx);
                false
            } else {
                true
            }
        });
    }

    // ----- group coordination -----

    #[allow(clippy::too_many_arguments)]
    fn join(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        from: NodeId,
        req: u32,
        group: GroupId,
        (member, instance, owned): (Option<u32>, Option<NodeId>, Vec<PartitionId>),
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let now = cx.now;
        let cooperative = layout.groups[group.index()].config.assignor.cooperative();
        let gd = &mut durable.groups[group.index()];
        let gs = &mut self.groups[group.index()];
        let known = member.and_then(|id| gs.members.iter().position(|m| m.id == id));
        let returning = match (known, instance) {
            (None, Some(instance)) => gs.members.iter().position(|m| m.instance == Some(instance)),
            _ => None,
        };
        if let Some(i) = returning {
            // A static member joining without its member id (it restarted,
            // or reset it after a missed poll deadline): the coordinator
            // knows its group.instance.id and gives it a new member id, so
            // anything the old incarnation still sends is refused
            // (`UNKNOWN_MEMBER_ID` here, `FENCED_INSTANCE_ID` in Kafka).
            let id = gd.next_member;
            gd.next_member += 1;
            let m = &mut gs.members[i];
            let old = m.id;
            m.id = id;
            m.node = from;
            m.last_heartbeat = now;
            m.owned = owned;
            if gs.phase == Phase::Stable {
                // KIP-345: while the group is stable, it gets its old
                // assignment in the current generation; no rebalance.
                if let Some(r) = gd.members.iter_mut().find(|r| r.id == old) {
                    r.id = id;
                }
                cx.record(EventKind::StaticMemberRejoined {
                    group,
                    generation: gd.generation,
                    consumer: from,
                });
                cx.send(
                    from,
                    Msg::JoinResponse {
                        req,
                        member: id,
                        generation: gd.generation,
                        assignment: m.assignment.clone(),
                    },
                );
                return;
            }
            // Rebalancing: its join counts like any member's rejoin.
            m.pending_join = Some(req);
            self.try_complete(layout, durable, group, cx);
            return;
        }
        // Under the cooperative protocol, a known member whose owned
        // partitions changed since its last join has revoked some: its join
        // starts the follow-up rebalance (Kafka rebalances when a member's
        // subscription metadata changes).
        let revoked = known.is_some_and(|i| cooperative && gs.members[i].owned != owned);
        if let (Some(i), Phase::Stable, false) = (known, gs.phase, revoked) {
            // A known member re-sending its join (its response was lost):
            // answer with the current generation, no rebalance.
            let m = &mut gs.members[i];
            m.last_heartbeat = now;
            m.node = from;
            cx.send(
                from,
                Msg::JoinResponse {
                    req,
                    member: m.id,
                    generation: gd.generation,
                    assignment: m.assignment.clone(),
                },
            );
            return;
        }
        let i = match known {
            Some(i) => i,
            None => {
                let id = gd.next_member;
                gd.next_member += 1;
                gs.members.push(Member {
                    id,
                    node: from,
                    last_heartbeat: now,
                    pending_join: None,
                    assignment: Vec::new(),
                    instance,
                    owned: Vec::new(),
                });
                gs.members.len() - 1
            }
        };
        gs.members[i].owned = owned;
        gs.members[i].pending_join = Some(req);
        gs.members[i].last_heartbeat = now;
        gs.members[i].node = from;
        match gs.phase {
            Phase::Empty => self.begin_rebalance(layout, group, true, cx),
            Phase::Stable => self.begin_rebalance(layout, group, false, cx),
            Phase::Preparing {
                deadline,
                initial: true,
                started,
            } if known.is_none() => {
                // Kafka's InitialDelayedJoin: each new member extends the
                // wait by the delay, up to the rebalance timeout.
                let cap = started + layout.groups[group.index()].config.max_poll_interval;
                let extended = (now + layout.broker_config.initial_rebalance_delay)
                    .min(cap)
                    .max(deadline);
                self.groups[group.index()].phase = Phase::Preparing {
                    deadline: extended,
                    initial: true,
                    started,
                };
                self.schedule_check(group, extended, cx);
            }
            Phase::Preparing { .. } => {}
        }
        self.try_complete(layout, durable, group, cx);
    }

    fn heartbeat(
        &mut self,
        durable: &Durable,
        group: GroupId,
        member: u32,
        generation: u32,
        now: SimTime,
    ) -> Option<GroupError> {
        let gs = &mut self.groups[group.index()];
        let Some(m) = gs.members.iter_mut().find(|m| m.id == member) else {
            return Some(GroupError::UnknownMember);
        };
        // Kafka's order: unknown member, then generation, then state.
        if generation != durable.groups[group.index()].generation {
            return Some(GroupError::IllegalGeneration);
        }
        m.last_heartbeat = now;
        if matches!(gs.phase, Phase::Preparing { .. }) {
            return Some(GroupError::RebalanceInProgress);
        }
        None
    }

    fn leave(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        group: GroupId,
        member: u32,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        if self.remove_members(group, RemoveReason::PollInterval, |m| m.id == member, cx) {
            self.after_removal(layout, durable, group, cx);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        from: NodeId,
        group: GroupId,
        member: u32,
        generation: u32,
        offsets: &[(PartitionId, u64)],
        cx: &mut Cx<'_, Msg, Timer>,
    ) -> Result<(), CommitError> {
        // Kafka's classic coordinator accepts commits from the current
        // generation in Stable and PreparingRebalance alike ("during
        // PreparingRebalance we still allow a commit request"); this model
        // has no CompletingRebalance state, where it would refuse them. A
        // commit also counts as a heartbeat.
        let gs = &mut self.groups[group.index()];
        let gd = &mut durable.groups[group.index()];
        let member = gs.members.iter_mut().find(|m| m.id == member);
        let result = match member {
            None => Err(CommitError::UnknownMember),
            Some(_) if generation != gd.generation => Err(CommitError::IllegalGeneration),
            Some(m) => {
                m.last_heartbeat = cx.now;
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                let first = layout.topics[usize::from(layout.groups[group.index()].topic)].first;
                for &(p, offset) in offsets {
                    gd.committed[usize::from(p.0 - first.0)] = Some(offset);
                    cx.record(EventKind::CommitAccepted {
                        group,
                        consumer: from,
                        generation,
                        partition: p,
                        offset,
                    });
                }
            }
            Err(reason) => cx.record(EventKind::CommitRejected {
                group,
                consumer: from,
                generation,
                reason,
            }),
        }
        result
    }

    /// `TxnOffsetCommit` at the group coordinator: the offsets wait in the
    /// group for the transaction to end. Refused when the producer's epoch
    /// is not current (its transaction timed out, or it was fenced), and,
    /// when the member named itself, when the group no longer has that
    /// member or has moved to a newer generation (KIP-447's fencing).
    fn txn_offset_commit(
        &mut self,
        durable: &mut Durable,
        (from, txn, pid, epoch): (NodeId, u16, u32, u16),
        group: GroupId,
        member: Option<(u32, u32)>,
        offsets: Box<[(PartitionId, u64)]>,
        cx: &mut Cx<'_, Msg, Timer>,
    ) -> Result<(), CommitError> {
        let st = durable.txns[usize::from(txn)];
        let gd = &mut durable.groups[group.index()];
        let generation = member.map_or(0, |(_, g)| g);
        let result = if st.pid != pid
            || st.epoch != epoch
            || !matches!(st.phase, super::txn::TxnPhase::Ongoing { .. })
        {
            Err(CommitError::InvalidProducerEpoch)
        } else {
            match member {
                None => Ok(()),
                Some((id, generation)) => {
                    match self.groups[group.index()]
                        .members
                        .iter()
                        .find(|m| m.id == id)
                    {
                        None => Err(CommitError::UnknownMember),
                        Some(_) if generation != gd.generation => {
                            Err(CommitError::IllegalGeneration)
                        }
                        Some(_) => Ok(()),
                    }
                }
            }
        };
        match result {
            Ok(()) => match gd.pending.iter_mut().find(|t| t.pid == pid) {
                Some(t) => {
                    for (p, o) in offsets {
                        match t.offsets.iter_mut().find(|(q, _)| *q == p) {
                            Some(slot) => slot.1 = o,
                            None => t.offsets.push((p, o)),
                        }
                    }
                }
                None => gd.pending.push(TxnOffsets {
                    pid,
                    consumer: from,
                    generation,
                    offsets: offsets.into_vec(),
                }),
            },
            Err(reason) => cx.record(EventKind::CommitRejected {
                group,
                consumer: from,
                generation,
                reason,
            }),
        }
        result
    }

    /// Removes the members of `group` that match, recording why; whether
    /// any was removed.
    fn remove_members(
        &mut self,
        group: GroupId,
        reason: RemoveReason,
        matches: impl Fn(&Member) -> bool,
        cx: &mut Cx<'_, Msg, Timer>,
    ) -> bool {
        let members = &mut self.groups[group.index()].members;
        let before = members.len();
        members.retain(|m| {
            if matches(m) {
                cx.history.record(
                    cx.now,
                    EventKind::MemberRemoved {
                        group,
                        consumer: m.node,
                        reason,
                    },
                );
                false
            } else {
                true
            }
        });
        members.len() != before
    }

    fn begin_rebalance(
        &mut self,
        layout: &Layout,
        group: GroupId,
        initial: bool,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let cfg = &layout.groups[group.index()].config;
        let wait = if initial {
            layout.broker_config.initial_rebalance_delay
        } else {
            cfg.max_poll_interval
        };
        let deadline = cx.now + wait;
        self.groups[group.index()].phase = Phase::Preparing {
            deadline,
            initial,
            started: cx.now,
        };
        self.schedule_check(group, deadline, cx);
    }

    fn schedule_check(&mut self, group: GroupId, at: SimTime, cx: &mut Cx<'_, Msg, Timer>) {
        let gs = &mut self.groups[group.index()];
        if gs.check_at.is_some_and(|t| t <= at) {
            return;
        }
        gs.check_at = Some(at);
        cx.after(at.since(cx.now), Timer::GroupCheck { group });
    }

    fn try_complete(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        group: GroupId,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let gs = &self.groups[group.index()];
        let Phase::Preparing {
            deadline, initial, ..
        } = gs.phase
        else {
            return;
        };
        if gs.members.is_empty() {
            self.groups[group.index()].phase = Phase::Empty;
            durable.groups[group.index()].members.clear();
            return;
        }
        let all_joined = gs.members.iter().all(|m| m.pending_join.is_some());
        if (all_joined && !initial) || cx.now >= deadline {
            self.complete(layout, durable, group, cx);
        }
    }

    fn complete(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        group: GroupId,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let now = cx.now;
        let meta = &layout.groups[group.index()];
        let topic = &layout.topics[usize::from(meta.topic)];
        // Members that did not rejoin in time are out.
        self.remove_members(
            group,
            RemoveReason::RebalanceTimeout,
            |m| m.pending_join.is_none(),
            cx,
        );
        let gd = &mut durable.groups[group.index()];
        let gs = &mut self.groups[group.index()];
        if gs.members.is_empty() {
            gs.phase = Phase::Empty;
            gd.members.clear();
            return;
        }
        gd.generation += 1;
        let generation = gd.generation;
        gs.members.sort_by_key(|m| m.id);
        let (n, first) = (topic.partitions, topic.first);
        let ranges = match meta.config.assignor {
            Assignor::Range => range_assign(n, gs.members.len(), first),
            Assignor::RoundRobin => round_robin_assign(n, gs.members.len(), first),
            Assignor::Sticky => {
                // Eager: members gave up everything; what they held is
                // what the coordinator assigned them last.
                let held: Vec<_> = gs.members.iter().map(|m| m.assignment.clone()).collect();
                sticky_assign(n, first, &held)
            }
            Assignor::CooperativeSticky => {
                let owned: Vec<_> = gs.members.iter().map(|m| m.owned.clone()).collect();
                cooperative_round(sticky_assign(n, first, &owned), &owned).0
            }
        };
        cx.record(EventKind::GenerationStarted {
            group,
            generation,
            members: gs.members.len() as u16,
        });
        for (m, range) in gs.members.iter_mut().zip(ranges) {
            for &p in &range {
                cx.record(EventKind::Assigned {
                    group,
                    generation,
                    consumer: m.node,
                    partition: p,
                });
            }
            m.assignment = range;
            m.last_heartbeat = now;
            if let Some(req) = m.pending_join.take() {
                cx.send(
                    m.node,
                    Msg::JoinResponse {
                        req,
                        member: m.id,
                        generation,
                        assignment: m.assignment.clone(),
                    },
                );
            }
        }
        gs.phase = Phase::Stable;
        gd.members = gs
            .members
            .iter()
            .map(|m| MemberRecord {
                id: m.id,
                node: m.node,
                instance: m.instance,
                assignment: m.assignment.clone(),
            })
            .collect();
        let session = meta.config.session_timeout;
        self.schedule_check(group, now + session, cx);
    }

    fn after_removal(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        group: GroupId,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        match self.groups[group.index()].phase {
            Phase::Stable => {
                if self.groups[group.index()].members.is_empty() {
                    self.groups[group.index()].phase = Phase::Empty;
                    durable.groups[group.index()].members.clear();
                } else {
                    self.begin_rebalance(layout, group, false, cx);
                }
            }
            Phase::Preparing { .. } => self.try_complete(layout, durable, group, cx),
            Phase::Empty => {}
        }
    }

    fn check_group(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        group: GroupId,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let now = cx.now;
        let session = layout.groups[group.index()].config.session_timeout;
        // Session expiry of members not waiting on a join.
        let removed = self.remove_members(
            group,
            RemoveReason::SessionTimeout,
            |m| m.pending_join.is_none() && m.last_heartbeat + session <= now,
            cx,
        );
        if removed {
            self.after_removal(layout, durable, group, cx);
        }
        if let Phase::Preparing { deadline, .. } = self.groups[group.index()].phase
            && now >= deadline
        {
            self.complete(layout, durable, group, cx);
        }
        // Next check: the earliest session expiry or rebalance deadline.
        let gs = &self.groups[group.index()];
        let mut next = SimTime::NEVER;
        for m in &gs.members {
            if m.pending_join.is_none() {
                next = next.min(m.last_heartbeat + session);
            }
        }
        if let Phase::Preparing { deadline, .. } = gs.phase {
            next = next.min(deadline);
        }
        if next != SimTime::NEVER {
            self.schedule_check(group, next.max(now + SimTime::from_us(1)), cx);
        }
    }
}

/// The coordinator's answer to `from`'s request `req` about `txn`: a copy
/// of the last request it handled from that node gets the original answer
/// again, a copy of an older one none (its sender has moved on), and a new
/// one is handled by `handle` and its answer kept.
fn answer_once(
    durable: &mut Durable,
    txn: u16,
    (from, req): (NodeId, u32),
    handle: impl FnOnce(&mut Durable) -> TxnAnswer,
) -> Option<TxnAnswer> {
    if let Some(copy) = txn::copy_of(durable, txn, from, req) {
        return copy;
    }
    let answer = handle(durable);
    txn::remember(durable, txn, from, req, answer);
    Some(answer)
}
