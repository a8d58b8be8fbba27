//! A producer client driven by its planned workload.
//!
//! Records are accumulated per partition into batches, closed when full or
//! when `linger.ms` passes, and queued per partition, as in the Java
//! client's `RecordAccumulator`. The head batch of each partition's queue
//! is sent to the partition leader while the connection has fewer than
//! `max.in.flight.requests.per.connection` requests outstanding. A request
//! that gets no response within `request.timeout.ms`, or an
//! out-of-order-sequence error, puts its batch back at the head of its
//! partition's queue, where it waits out a jittered backoff (holding back
//! the batches behind it) until `retries` or `delivery.timeout.ms` runs out.
//! With idempotence off, a retry after a lost acknowledgement appends the
//! batch again, and with more than one request in flight a later batch of
//! the same partition can be appended before an earlier one that is
//! retried.
//!
//! On a replicated partition a batch can also fail on its own while the
//! ones behind it succeed: `NOT_LEADER_OR_FOLLOWER`, `NOT_ENOUGH_REPLICAS`,
//! `NOT_ENOUGH_REPLICAS_AFTER_APPEND` (appended, yet failed) and
//! `REQUEST_TIMED_OUT` are retried like the rest. Retried batches go back
//! to the front of their queue, as the Java client's `reenqueue` does: in
//! sequence order for an idempotent producer, each in front of the others
//! (so several come back reversed) without idempotence. After such an
//! error, a broken connection or a retry backoff, the producer looks the
//! partition leaders up again.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::event::{EventKind, ProduceError};
use crate::ids::{NodeId, PartitionId};
use crate::model::{Cx, Deadlines};
use crate::time::SimTime;

use super::config::Acks;
use super::numbering::{Numbering, Place};
use super::protocol::{Control, Msg, ProduceResult, Record, Timer, TxnError};
use super::request_ids::RequestIds;
use super::world::{Durable, Layout};

/// Whether bit `i` of a bit set is set.
fn bit(set: &[u64], i: u32) -> bool {
    set.get((i / 64) as usize)
        .is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// `Part::leader` of a partition without a leader.
const NO_LEADER: usize = usize::MAX;

/// Spent record buffers kept for reuse.
const SPENT_KEPT: usize = 64;

/// Records a fresh record buffer has room for at most (a full batch's
/// worth with the default `batch.size`).
const FRESH_ROOM: u32 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BatchState {
    Queued,
    InFlight { req: u32 },
    Backoff,
    Done,
}

#[derive(Clone, Debug)]
struct Batch {
    partition: PartitionId,
    leader: usize,
    records: Arc<Vec<Record>>,
    /// Its place in the partition's sequence numbering.
    place: Place,
    attempt: u32,
    /// When its first record was handed to the producer: delivery.timeout.ms
    /// counts from there, as from `send()`.
    created: SimTime,
    state: BatchState,
}

impl Batch {
    /// A finished batch with no records, holding the place of an id.
    fn placeholder(partition: PartitionId, leader: usize, empty: &Arc<Vec<Record>>) -> Batch {
        Batch {
            partition,
            leader,
            records: empty.clone(),
            place: Place::default(),
            attempt: 0,
            created: SimTime::ZERO,
            state: BatchState::Done,
        }
    }
}

/// A request in flight on a broker connection.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    req: u32,
    batch: u32,
    /// The response, once it arrived (it is taken in send order).
    result: Option<ProduceResult>,
    /// When it times out.
    deadline: SimTime,
}

/// The producer's side of its connection to one broker (kept together:
/// a drain touches all of it, behind a single index).
#[derive(Clone, Debug, Default)]
struct Conn {
    /// The slots the broker leads, in slot order.
    slots: Vec<usize>,
    /// Round-robin start for draining.
    drain_from: usize,
    /// How many batch ids the queues of the slots it leads hold (ready or
    /// backing off): a drain stops once none is left.
    queued: u32,
    /// Requests in flight, in the order they were sent, with the response
    /// if it has already arrived. Responses are taken in send order, as a
    /// TCP stream delivers them: a response that overtook an earlier one
    /// waits for it.
    in_flight: VecDeque<InFlight>,
    /// The request-timeout timer, for its oldest request.
    timeout: Deadlines,
}

/// One slot's (partition's) batches: the open one, the queued ones, their
/// numbering (kept together: closing and sending a batch touch all of it,
/// behind a single index).
#[derive(Debug)]
struct Part {
    /// The open batch.
    open: Option<Open>,
    /// Queued batch ids; the head may be waiting out a retry backoff.
    queue: VecDeque<u32>,
    /// The leader (index into `Layout::brokers`), or `NO_LEADER`.
    leader: usize,
    /// Idempotent sequence numbering.
    numbering: Numbering,
    /// Idempotent epoch, bumped when a batch fails for good.
    epoch: u16,
}

#[derive(Clone, Debug)]
struct Open {
    batch: u32,
    records: Arc<Vec<Record>>,
    created: SimTime,
}

/// Where a transactional producer is with its coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxnStep {
    /// Waiting for its first `InitProducerId`.
    Init,
    /// Between transactions.
    Ready,
    /// `AddPartitionsToTxn` sent: the transaction begins.
    Beginning,
    /// In a transaction.
    Open,
    /// `EndTxn` (commit) sent.
    Committing,
    /// The transaction failed (a batch given up, or the epoch bumped by a
    /// timeout abort): `InitProducerId` with its epoch sent, which aborts
    /// it; then every record without an answer is sent again in a new
    /// transaction.
    Recovering,
    /// Fenced by a newer incarnation: stopped for good.
    Fenced,
}

/// A transactional producer's side of its transactions.
#[derive(Debug)]
struct TxnClient {
    /// Its transactional id.
    id: u16,
    step: TxnStep,
    epoch: u16,
    /// The request awaiting a response (sent again after
    /// `request.timeout.ms`).
    pending: Option<Msg>,
    /// Records handed to the current transaction.
    records: u32,
    /// Messages of the current transaction acknowledged so far: settled
    /// when it commits.
    acked: Vec<u32>,
    /// The current transaction takes no more records: it commits once its
    /// batches are acknowledged.
    closing: bool,
    /// A batch failed for good: the transaction is to be aborted.
    failed: bool,
    /// When the armed `NextRecord` timer fires.
    armed_at: Option<SimTime>,
}

impl TxnClient {
    /// Arms the `NextRecord` timer for a record due `at`, unless it is
    /// armed for then already.
    #[cold]
    #[inline(never)]
    fn arm_next(&mut self, at: SimTime, cx: &mut Cx<'_, Msg, Timer>) {
        if self.armed_at != Some(at) {
            self.armed_at = Some(at);
            cx.after(at.since(cx.now), Timer::NextRecord);
        }
    }

    /// Whether its batch state is live: not before the first
    /// initialization, not while a recovery replaces it, not once fenced.
    /// (Request timeouts and retries armed in one transaction may fire in
    /// the next, between transactions.)
    fn live(&self) -> bool {
        !matches!(
            self.step,
            TxnStep::Init | TxnStep::Recovering | TxnStep::Fenced
        )
    }
}

/// A producer's volatile state.
#[derive(Debug)]
pub(crate) struct Producer {
    index: usize,
    incarnation: u32,
    pid: u32,
    next: usize,
    /// Per slot (partition of the topic), its batches' state.
    parts: Vec<Part>,
    batches: Vec<Batch>,
    /// The topic's first partition: slot `i` is partition `first + i`.
    first: PartitionId,
    /// Per broker (index into `Layout::brokers`), the producer's side of
    /// its connection.
    conns: Vec<Conn>,
    next_req: RequestIds,
    /// Request ids of transactional requests, from `incarnation << 24` on
    /// (see `txn::copy_of`).
    next_txn_req: u32,
    next_batch: u32,
    /// Every batch below this id is finished (or not closed yet).
    unfinished_from: usize,
    /// Records of batch ids reserved but not closed yet (shared, so
    /// placeholders do not allocate).
    empty: Arc<Vec<Record>>,
    /// Record buffers (emptied) of finished batches that no request holds
    /// any more, for opening batches to fill instead of allocating.
    spent: Vec<Arc<Vec<Record>>>,
    sticky: Option<PartitionId>,
    outstanding: usize,
    /// A metadata refresh timer is set (a partition has no leader).
    refresh_armed: bool,
    /// Planned records (a bit per message id) the application got an
    /// answer for, acknowledged or failed. It outlives a crash: the
    /// application knows which sends completed, and after a restart it
    /// hands the producer again only the records without an answer.
    settled: Vec<u64>,
    /// Transactions (`None` without a transactional id).
    txn: Option<Box<TxnClient>>,
}

impl Producer {
    /// A producer's incarnation `incarnation`; `settled` is what its
    /// previous incarnation left (see [`Producer::take_settled`]), empty
    /// at the first start.
    pub fn new(layout: &Layout, index: usize, incarnation: u32, settled: Vec<u64>) -> Producer {
        let meta = &layout.producers[index];
        // (A first incarnation knows of no answers: no need to look.)
        let outstanding = if settled.iter().all(|w| *w == 0) {
            meta.plan.len()
        } else {
            meta.plan.iter().filter(|r| !bit(&settled, r.msg.0)).count()
        };
        let parts = layout.topics[usize::from(meta.topic)].partitions as usize;
        // A fresh producer id per incarnation, as `InitProducerId` gives a
        // restarted producer without a transactional id.
        let pid = if meta.txn.is_some() {
            // Given by the transaction coordinator.
            0
        } else if meta.config.idempotence {
            1 + index as u32 + incarnation * layout.producers.len() as u32
        } else {
            0
        };
        let topic = &layout.topics[usize::from(meta.topic)];
        let slot_leader: Vec<usize> = (0..parts)
            .map(|slot| {
                let leader = layout.partitions[usize::from(topic.first.0) + slot].leader;
                layout
                    .brokers
                    .iter()
                    .position(|b| *b == leader)
                    .unwrap_or(0)
            })
            .collect();
        let mut leader_slots = vec![Vec::new(); layout.brokers.len()];
        for (slot, &leader) in slot_leader.iter().enumerate() {
            leader_slots[leader].push(slot);
        }
        // Request ids apart per incarnation, so answers to an earlier
        // incarnation's produce requests are not taken for answers to its
        // own: see [`RequestIds`].
        let next_req = RequestIds::new(incarnation);
        Producer {
            index,
            incarnation,
            pid,
            next: 0,
            first: topic.first,
            parts: slot_leader
                .iter()
                .zip(&layout.planned_per_partition()[usize::from(topic.first.0)..][..parts])
                .map(|(&leader, &records)| Part {
                    open: None,
                    queue: VecDeque::new(),
                    leader,
                    // A batch holds at least one record: room for as many
                    // batches as records planned for the partition.
                    numbering: Numbering::with_capacity(records),
                    epoch: 0,
                })
                .collect(),
            conns: leader_slots
                .into_iter()
                .map(|slots| Conn {
                    slots,
                    ..Conn::default()
                })
                .collect(),
            // A batch holds at least one record (the ids a transactional
            // producer's recovery skips come on top).
            batches: Vec::with_capacity(meta.plan.len()),
            next_req,
            next_txn_req: incarnation.wrapping_shl(24),
            next_batch: 0,
            unfinished_from: 0,
            empty: Arc::new(Vec::new()),
            spent: Vec::new(),
            sticky: None,
            outstanding,
            refresh_armed: false,
            settled,
            txn: meta.txn.map(|id| {
                Box::new(TxnClient {
                    id,
                    step: TxnStep::Init,
                    epoch: 0,
                    pending: None,
                    records: 0,
                    acked: Vec::new(),
                    closing: false,
                    failed: false,
                    armed_at: None,
                })
            }),
        }
    }

    /// What the application knows of its sends when the producer crashes:
    /// the records that got an answer.
    pub fn take_settled(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.settled)
    }

    fn settle(&mut self, msg: u32) {
        let word = (msg / 64) as usize;
        let bit = 1 << (msg % 64);
        match self.settled.get_mut(word) {
            Some(w) => *w |= bit,
            None => {
                self.settled.resize(word + 1, 0);
                self.settled[word] |= bit;
            }
        }
    }

    /// Whether every planned record is acknowledged or given up (and, for
    /// a transactional producer, committed, or it was fenced).
    pub fn done(&self) -> bool {
        self.outstanding == 0
            && self.txn.as_ref().is_none_or(|t| {
                t.step == TxnStep::Fenced || (t.step == TxnStep::Ready && t.records == 0)
            })
    }

    /// What the application knows is answered.
    pub fn settled(&self) -> &[u64] {
        &self.settled
    }

    /// Starts the producer (at the run's start or a restart); a standby
    /// waits for its takeover unless it `taken_over` already.
    pub fn start(&mut self, layout: &Layout, taken_over: bool, cx: &mut Cx<'_, Msg, Timer>) {
        let meta = &layout.producers[self.index];
        if meta.standby_of.is_some() && !taken_over {
            // A standby waits for its takeover.
            if let Some(at) = meta.config.takeover {
                cx.after(at.since(cx.now), Timer::Takeover);
            }
            return;
        }
        self.begin(layout, cx);
    }

    /// Starts producing (or initializing transactions first).
    pub fn begin(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        if let Some(t) = &self.txn {
            let txn = t.id;
            self.txn_send(
                layout,
                |req| Msg::InitProducerId {
                    req,
                    txn,
                    current: None,
                },
                cx,
            );
            return;
        }
        if let Some(r) = layout.producers[self.index].plan.first() {
            cx.after(r.at.since(cx.now), Timer::NextRecord);
        }
    }

    pub fn on_message(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        msg: Msg,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        if self.txn.is_some() {
            self.txn_message(layout, durable, msg, cx);
            return;
        }
        self.produce_response(layout, durable, msg, cx);
    }

    #[inline]
    fn produce_response(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        msg: Msg,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let Msg::ProduceResponse { req, batch, result } = msg else {
            return;
        };
        // A produce response owns nothing (its fields are copied out
        // above): no drop glue to run for it. The pattern names every
        // field, with no `..`, so a field added to `ProduceResponse` fails
        // to compile here; if it owns memory, bind it by value (moving it
        // out, which this `forget` then refuses) rather than as `_`.
        std::mem::forget(msg);
        let Some(b) = self.batches.get(batch as usize) else {
            return;
        };
        if b.state != (BatchState::InFlight { req }) {
            return; // a late or duplicated response
        }
        let leader = b.leader;
        let queue = &mut self.conns[leader].in_flight;
        // Usually the answer to the oldest request in flight: taken at
        // once (with the answer it already has, if any, as for the others).
        let mut taken = if queue.front().is_some_and(|f| f.req == req) {
            queue
                .pop_front()
                .map(|f| (f.batch, f.result.unwrap_or(result)))
        } else {
            if let Some(f) = queue.iter_mut().find(|f| f.req == req) {
                f.result.get_or_insert(result);
            }
            None
        };
        let mut failed = false;
        loop {
            let (batch, result) = match taken.take() {
                Some(answered) => answered,
                None => {
                    let queue = &mut self.conns[leader].in_flight;
                    match queue.front() {
                        Some(&InFlight {
                            batch,
                            result: Some(result),
                            ..
                        }) => {
                            queue.pop_front();
                            (batch, result)
                        }
                        _ => break,
                    }
                }
            };
            match result {
                ProduceResult::Appended { base_offset }
                | ProduceResult::Duplicate { base_offset } => {
                    self.finish(batch, Some(base_offset), cx);
                }
                ProduceResult::InvalidEpoch if self.txn.is_some() => {
                    // The coordinator bumped the epoch: the transaction is
                    // over (timed out, or a newer incarnation fenced this
                    // one).
                    self.batches[batch as usize].state = BatchState::Done;
                    if let Some(t) = &mut self.txn {
                        t.failed = true;
                    }
                }
                ProduceResult::OutOfOrderSequence | ProduceResult::InvalidEpoch => {
                    self.retry(layout, batch, cx)
                }
                ProduceResult::NotLeaderOrFollower
                | ProduceResult::NotEnoughReplicas
                | ProduceResult::NotEnoughReplicasAfterAppend
                | ProduceResult::RequestTimedOut => {
                    failed = true;
                    self.retry(layout, batch, cx)
                }
            }
        }
        if failed {
            self.refresh_leaders(layout, durable, cx);
        }
        self.send_ready(layout, leader, cx);
    }

    /// Looks partition leaders up again (replicated partitions only): a
    /// partition whose leader moved is drained to its new leader from now
    /// on; while one has none, a timer looks again after
    /// `retry.backoff.ms`.
    fn refresh_leaders(&mut self, layout: &Layout, durable: &Durable, cx: &mut Cx<'_, Msg, Timer>) {
        if !layout.replicated() {
            return;
        }
        let mut leaderless = false;
        for slot in 0..self.parts.len() {
            let p = PartitionId(self.first.0 + slot as u16);
            let want = durable
                .leader_of(layout, p)
                .and_then(|n| layout.broker_index(n))
                .unwrap_or(NO_LEADER);
            leaderless |= want == NO_LEADER;
            let old = self.parts[slot].leader;
            if want == old {
                continue;
            }
            let queued = self.parts[slot].queue.len() as u32;
            if old != NO_LEADER {
                self.conns[old].slots.retain(|&s| s != slot);
                self.conns[old].queued -= queued;
            }
            if want != NO_LEADER {
                let list = &mut self.conns[want].slots;
                let at = list.partition_point(|&s| s < slot);
                list.insert(at, slot);
                self.conns[want].queued += queued;
            }
            self.parts[slot].leader = want;
        }
        if leaderless && !self.refresh_armed {
            self.refresh_armed = true;
            let wait = layout.producers[self.index].config.retry_backoff;
            cx.after(wait.max(SimTime::from_ms(1)), Timer::MetadataRefresh);
        }
    }

    /// Sends what is ready to every broker (after leaders moved).
    fn send_all(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        for leader in 0..self.conns.len() {
            self.send_ready(layout, leader, cx);
        }
        // Partitions without a leader: their batches can only expire.
        let timeout = layout.producers[self.index].config.delivery_timeout;
        if self.may_expire(timeout, cx.now) {
            for slot in 0..self.parts.len() {
                if self.parts[slot].leader == NO_LEADER && !self.parts[slot].queue.is_empty() {
                    self.expire_queued(layout, slot, cx);
                }
            }
        }
    }

    pub fn on_timer(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        timer: Timer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        if self.txn.is_some() {
            self.txn_timer(layout, durable, timer, cx);
            return;
        }
        // By far the most common timers (one per record, one per batch):
        // straight to their handling, without entering the handler of the
        // others.
        match timer {
            Timer::NextRecord => {
                self.accumulate(layout, usize::MAX, cx);
            }
            Timer::Linger { partition, batch } => self.linger(layout, partition, batch, cx),
            _ => self.timer(layout, durable, timer, cx),
        }
    }

    /// `linger.ms` passed for batch `batch` of `partition`: it closes if it
    /// is still open. (Kept out of line: [`Producer::on_timer`] stays small
    /// enough to be inlined into the world's dispatch.)
    #[inline(never)]
    fn linger(
        &mut self,
        layout: &Layout,
        partition: PartitionId,
        batch: u32,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let slot = self.slot(layout, partition);
        if self.parts[slot]
            .open
            .as_ref()
            .is_some_and(|o| o.batch == batch)
        {
            self.close(layout, partition, cx);
        }
    }

    #[inline]
    fn timer(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        timer: Timer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        match timer {
            Timer::NextRecord => {
                self.accumulate(layout, usize::MAX, cx);
            }
            Timer::Linger { partition, batch } => self.linger(layout, partition, batch, cx),
            Timer::ProduceTimeout { broker } => {
                let leader = usize::from(broker);
                self.conns[leader].timeout.fired();
                match self.conns[leader].in_flight.front().map(|f| f.deadline) {
                    // The Java client closes a connection on which a request
                    // timed out, failing every request in flight on it.
                    Some(d) if d <= cx.now => self.fail_connection(layout, durable, leader, cx),
                    Some(d) => self.conns[leader].timeout.arm(d, timer, cx),
                    None => {}
                }
            }
            Timer::ProduceRetry { batch } => {
                let Some(b) = self.batches.get_mut(batch as usize) else {
                    return;
                };
                if b.state == BatchState::Backoff {
                    b.state = BatchState::Queued;
                    if layout.replicated() {
                        self.refresh_leaders(layout, durable, cx);
                        self.send_all(layout, cx);
                    } else {
                        let leader = b.leader;
                        self.send_ready(layout, leader, cx);
                    }
                }
            }
            Timer::MetadataRefresh => {
                self.refresh_armed = false;
                self.refresh_leaders(layout, durable, cx);
                self.send_all(layout, cx);
            }
            _ => {}
        }
    }

    /// The connection to `peer` broke.
    pub fn on_disconnect(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        peer: NodeId,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        if self.txn.as_ref().is_some_and(|t| !t.live()) {
            return;
        }
        if let Some(leader) = layout.brokers.iter().position(|b| *b == peer) {
            self.fail_connection(layout, durable, leader, cx);
        }
        self.txn_progress(layout, cx);
    }

    /// Fails every batch in flight to broker `leader` and queues them for
    /// retry in their original order.
    fn fail_connection(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        leader: usize,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let failed: Vec<u32> = self.conns[leader]
            .in_flight
            .drain(..)
            .map(|f| f.batch)
            .collect();
        // Latest first, since each goes to the front of its queue.
        for &id in failed.iter().rev() {
            self.retry(layout, id, cx);
        }
        if layout.replicated() {
            self.refresh_leaders(layout, durable, cx);
            self.send_all(layout, cx);
        } else {
            self.send_ready(layout, leader, cx);
        }
    }

    fn slot(&self, _layout: &Layout, p: PartitionId) -> usize {
        usize::from(p.0 - self.first.0)
    }

    /// Hands every record that is due to the accumulator, at most `limit`
    /// of them; returns how many.
    #[inline]
    fn accumulate(&mut self, layout: &Layout, limit: usize, cx: &mut Cx<'_, Msg, Timer>) -> usize {
        let meta = &layout.producers[self.index];
        let mut taken = 0;
        while let Some(r) = meta.plan.get(self.next) {
            if taken == limit {
                break;
            }
            if r.at > cx.now {
                match &mut self.txn {
                    None => cx.after(r.at.since(cx.now), Timer::NextRecord),
                    Some(t) => t.arm_next(r.at, cx),
                }
                break;
            }
            self.next += 1;
            if bit(&self.settled, r.msg.0) {
                // Answered before a crash: the application does not send it
                // again.
                continue;
            }
            taken += 1;
            let partition = if meta.keyless {
                self.sticky_partition(layout, cx)
            } else {
                layout.key_partitions[r.entity.index()]
            };
            let slot = self.slot(layout, partition);
            let part = &mut self.parts[slot];
            let open = match &mut part.open {
                Some(open) => open,
                closed @ None => {
                    // The id is taken when the batch opens; it is stored
                    // when it closes, possibly after batches opened later.
                    let batch = self.next_batch;
                    self.next_batch += 1;
                    let open = closed.insert(Open {
                        batch,
                        created: cx.now,
                        // A spent buffer if there is one (else one with
                        // room for a full batch, up to a bound); the batch
                        // fills it and its requests share it, with no copy.
                        records: self.spent.pop().unwrap_or_else(|| {
                            let room = meta.config.batch_records.min(FRESH_ROOM) as usize;
                            Arc::new(Vec::with_capacity(room))
                        }),
                    });
                    cx.after(meta.config.linger, Timer::Linger { partition, batch });
                    open
                }
            };
            let records =
                Arc::get_mut(&mut open.records).expect("an open batch's records are its own");
            records.push(Record {
                msg: r.msg,
                entity: r.entity,
                seq: r.seq,
                value: r.value,
                keyed: !meta.keyless,
                producer: meta.node,
                batch: open.batch,
                txn_pid: if self.txn.is_some() { self.pid } else { 0 },
                control: Control::Data,
            });
            if records.len() as u32 >= meta.config.batch_records {
                self.close(layout, partition, cx);
            }
        }
        taken
    }

    /// The sticky partition of a keyless producer, drawn when there is
    /// none (kept out of the record loop: the standard workload is keyed).
    #[cold]
    #[inline(never)]
    fn sticky_partition(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) -> PartitionId {
        if let Some(p) = self.sticky {
            return p;
        }
        let meta = &layout.producers[self.index];
        let topic = &layout.topics[usize::from(meta.topic)];
        let p = PartitionId(topic.first.0 + cx.rngs.0.below(u64::from(topic.partitions)) as u16);
        self.sticky = Some(p);
        p
    }

    /// Closes the open batch of `partition` and queues it for sending.
    fn close(&mut self, layout: &Layout, partition: PartitionId, cx: &mut Cx<'_, Msg, Timer>) {
        let slot = self.slot(layout, partition);
        let part = &mut self.parts[slot];
        let Some(open) = part.open.take() else {
            return;
        };
        let leader = part.leader;
        let place = part.numbering.close(open.records.len() as u32);
        part.queue.push_back(open.batch);
        let id = open.batch as usize;
        let batch = Batch {
            partition,
            leader,
            records: open.records,
            place,
            attempt: 0,
            created: open.created,
            state: BatchState::Queued,
        };
        if id < self.batches.len() {
            self.batches[id] = batch;
        } else {
            // Batches opened after this one and closed before it hold
            // their places; ids in between get placeholders until they
            // close.
            while self.batches.len() < id {
                self.batches
                    .push(Batch::placeholder(partition, leader, &self.empty));
            }
            self.batches.push(batch);
        }
        self.unfinished_from = self.unfinished_from.min(id);
        if self.sticky == Some(partition) {
            self.sticky = None;
        }
        if leader != NO_LEADER {
            self.conns[leader].queued += 1;
            // (What `send_ready` does: something is queued now.)
            self.drain(layout, leader, cx);
        }
    }

    /// Sends head batches of the partitions `leader` leads while the
    /// connection has room, one partition after another (in slot order,
    /// round robin from where the last drain stopped).
    #[inline]
    fn send_ready(&mut self, layout: &Layout, leader: usize, cx: &mut Cx<'_, Msg, Timer>) {
        debug_assert_eq!(
            self.conns[leader].queued as usize,
            self.conns[leader]
                .slots
                .iter()
                .map(|&s| self.parts[s].queue.len())
                .sum::<usize>(),
            "queued ids per broker"
        );
        // Nothing queued for this broker: nothing to expire or send (the
        // common case after an acknowledgement), checked before the call.
        if self.conns[leader].queued != 0 {
            self.drain(layout, leader, cx);
        }
    }

    /// [`Producer::send_ready`] once something is queued for `leader`.
    #[inline(never)]
    fn drain(&mut self, layout: &Layout, leader: usize, cx: &mut Cx<'_, Msg, Timer>) {
        let cfg = &layout.producers[self.index].config;
        let k = self.conns[leader].slots.len();
        if self.may_expire(cfg.delivery_timeout, cx.now) {
            for j in 0..k {
                let slot = self.conns[leader].slots[j];
                if !self.parts[slot].queue.is_empty() {
                    self.expire_queued(layout, slot, cx);
                }
            }
        }
        // A leader without slots, or a connection with no room (the common
        // case when a batch closes behind a full pipeline): nothing to send,
        // so no round-robin start to look up. Expiry above does not change
        // what is in flight.
        if k == 0 || self.conns[leader].in_flight.len() as u32 >= cfg.max_in_flight {
            return;
        }
        let n = self.parts.len();
        let to = layout.brokers[leader];
        // The first of the leader's slots at or after the round-robin start
        // (wrapping around; `drain_from` is always below `n`). A leader
        // leads a few slots: a linear scan beats a binary search.
        let conn = &self.conns[leader];
        let start = conn.drain_from;
        let mut j = conn.slots.iter().position(|&s| s >= start).unwrap_or(0);
        loop {
            let conn = &mut self.conns[leader];
            // Once nothing is queued any more, the rest of the round would
            // only find empty queues.
            if conn.in_flight.len() as u32 >= cfg.max_in_flight || conn.queued == 0 {
                return;
            }
            // The next ready slot within one round from `j`; none in a
            // whole round ends the drain.
            let (parts, batches) = (&self.parts, &self.batches);
            let ready = |&s: &usize| {
                parts[s]
                    .queue
                    .front()
                    .is_some_and(|&id| batches[id as usize].state == BatchState::Queued)
            };
            let slots = &conn.slots;
            let Some(at) = slots[j..]
                .iter()
                .position(ready)
                .map(|i| j + i)
                .or_else(|| slots[..j].iter().position(ready))
            else {
                return;
            };
            let slot = slots[at];
            j = if at + 1 == k { 0 } else { at + 1 };
            let part = &mut self.parts[slot];
            let id = part.queue.pop_front().expect("checked non-empty");
            conn.queued -= 1;
            conn.drain_from = if slot + 1 == n { 0 } else { slot + 1 };
            let req = self.next_req.next();
            let b = &mut self.batches[id as usize];
            b.attempt = b.attempt.saturating_add(1);
            b.leader = leader;
            // (A fire-and-forget batch is finished right below.)
            b.state = BatchState::InFlight { req };
            cx.record(EventKind::ProduceSent {
                producer: cx.me,
                partition: b.partition,
                batch: id,
                attempt: b.attempt,
                records: b.records.len() as u16,
            });
            cx.send(
                to,
                Msg::Produce {
                    req,
                    partition: b.partition,
                    batch: id,
                    attempt: b.attempt,
                    pid: self.pid,
                    // An unfinished batch always carries the partition's
                    // current epoch and number.
                    epoch: part.epoch,
                    base_seq: part.numbering.base_seq(b.place),
                    acks: cfg.acks,
                    records: b.records.clone(),
                },
            );
            if cfg.acks == Acks::Zero {
                // Fire and forget: the send "succeeds" with no offset.
                self.finish(id, None, cx);
            } else {
                let deadline = cx.now + cfg.request_timeout;
                conn.in_flight.push_back(InFlight {
                    req,
                    batch: id,
                    result: None,
                    deadline,
                });
                conn.timeout.arm(
                    deadline,
                    Timer::ProduceTimeout {
                        broker: leader as u16,
                    },
                    cx,
                );
            }
        }
    }

    fn finish(&mut self, id: u32, base_offset: Option<u64>, cx: &mut Cx<'_, Msg, Timer>) {
        let b = &mut self.batches[id as usize];
        b.state = BatchState::Done;
        // Done for good: its records are in the history now.
        let records = std::mem::replace(&mut b.records, self.empty.clone());
        let (partition, place) = (b.partition, b.place);
        // Without transactions the application has its answer now.
        let answered = self.txn.is_none();
        for (i, r) in records.iter().enumerate() {
            cx.history.record(
                cx.now,
                EventKind::Acked {
                    producer: cx.me,
                    msg: r.msg,
                    partition,
                    offset: base_offset.map(|o| o + i as u64),
                },
            );
            if answered {
                self.settle(r.msg.0);
            }
        }
        self.outstanding -= records.len();
        if self.pid != 0 {
            let slot = usize::from(partition.0 - self.first.0);
            self.parts[slot]
                .numbering
                .finished(place, records.len() as u32);
        }
        if let Some(t) = &mut self.txn {
            // Answered only when the transaction commits.
            t.acked.extend(records.iter().map(|r| r.msg.0));
        }
        self.recycle(records);
    }

    /// Keeps the records of a finished batch for reuse if nothing else
    /// holds them (a request still travelling, or a duplicate of it, may;
    /// the shared empty records of placeholders always are).
    fn recycle(&mut self, mut records: Arc<Vec<Record>>) {
        if self.spent.len() >= SPENT_KEPT {
            return;
        }
        if let Some(buf) = Arc::get_mut(&mut records) {
            buf.clear();
            if self.spent.capacity() == 0 {
                // Room for the whole pool at once, rather than growing it
                // step by step as batches come back.
                self.spent.reserve_exact(SPENT_KEPT);
            }
            self.spent.push(records);
        }
    }

    fn retry(&mut self, layout: &Layout, id: u32, cx: &mut Cx<'_, Msg, Timer>) {
        let cfg = &layout.producers[self.index].config;
        let b = &self.batches[id as usize];
        let expired = cx.now.since(b.created) >= cfg.delivery_timeout;
        if expired || b.attempt > cfg.retries {
            let reason = if expired {
                ProduceError::DeliveryTimeout
            } else {
                ProduceError::RetriesExhausted
            };
            self.give_up(layout, id, reason, cx);
            return;
        }
        let b = &mut self.batches[id as usize];
        b.state = BatchState::Backoff;
        let partition = b.partition;
        let slot = self.slot(layout, partition);
        if self.parts[slot].leader != NO_LEADER {
            self.conns[self.parts[slot].leader].queued += 1;
        }
        let queue = &mut self.parts[slot].queue;
        if self.pid != 0 {
            // In sequence order (`insertInSequenceOrder`): a partition's
            // batch ids grow with its sequence numbers, so the batch goes
            // in front of the first one closed after it.
            let at = queue.iter().position(|&q| q > id).unwrap_or(queue.len());
            queue.insert(at, id);
        } else {
            queue.push_front(id);
        }
        // ±20 % jitter, as the Java client applies to retry.backoff.ms.
        let base = cfg.retry_backoff.as_us();
        let jitter = base / 5;
        let wait = base - jitter + cx.rngs.0.below(2 * jitter + 1);
        cx.after(SimTime::from_us(wait), Timer::ProduceRetry { batch: id });
    }

    /// Fails a batch for good. An idempotent producer then bumps the
    /// partition's epoch and numbers its unfinished batches from 0 again,
    /// as the Java client does (KIP-360), so later batches are not refused
    /// for the gap the failed one left.
    fn give_up(
        &mut self,
        layout: &Layout,
        id: u32,
        reason: ProduceError,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let b = &mut self.batches[id as usize];
        let queued = matches!(b.state, BatchState::Queued | BatchState::Backoff);
        b.state = BatchState::Done;
        if let Some(t) = &mut self.txn {
            // The transaction fails with it: it is aborted and its records
            // are sent again in a new one (the application's retry of an
            // aborted transaction).
            t.failed = true;
            return;
        }
        for r in b.records.iter() {
            cx.history.record(
                cx.now,
                EventKind::ProduceFailed {
                    producer: cx.me,
                    msg: r.msg,
                    partition: b.partition,
                    reason,
                },
            );
        }
        self.outstanding -= b.records.len();
        let (partition, place, records) = (b.partition, b.place, b.records.len() as u32);
        // Done for good: its records are in the history now.
        let done = std::mem::replace(&mut b.records, self.empty.clone());
        for r in done.iter() {
            self.settle(r.msg.0);
        }
        self.recycle(done);
        let slot = self.slot(layout, partition);
        // Only a queued batch is in the queue (near its head: a retried
        // batch, or the oldest one expiring); one in flight is not.
        if queued && let Some(i) = self.parts[slot].queue.iter().position(|&q| q == id) {
            self.parts[slot].queue.remove(i);
            if self.parts[slot].leader != NO_LEADER {
                self.conns[self.parts[slot].leader].queued -= 1;
            }
        }
        if self.pid == 0 {
            return;
        }
        // The partition's unfinished batches now carry the next epoch and
        // are numbered from 0 (worked out as they are sent).
        self.parts[slot].epoch = self.parts[slot].epoch.wrapping_add(1);
        self.parts[slot].numbering.finished(place, records);
        self.parts[slot].numbering.bump();
    }

    /// Whether any unfinished batch may have waited `timeout` by `now`.
    ///
    /// Batch ids are taken in time order, so the unfinished batch with the
    /// lowest id is the oldest one; `unfinished_from` moves past finished
    /// batches (and placeholders) as they accumulate, and back when a
    /// placeholder's batch closes.
    fn may_expire(&mut self, timeout: SimTime, now: SimTime) -> bool {
        while let Some(b) = self.batches.get(self.unfinished_from) {
            if b.state != BatchState::Done {
                return now.since(b.created) >= timeout;
            }
            self.unfinished_from += 1;
        }
        false
    }

    /// Fails the queued batches of `slot` that waited longer than
    /// `delivery.timeout.ms` (as the Java client expires batches in its
    /// accumulator). Batches queue in creation order behind at most a
    /// retried head, so checking from the first queued one is enough.
    fn expire_queued(&mut self, layout: &Layout, slot: usize, cx: &mut Cx<'_, Msg, Timer>) {
        let timeout = layout.producers[self.index].config.delivery_timeout;
        loop {
            let oldest = self.parts[slot]
                .queue
                .iter()
                .copied()
                .find(|&id| self.batches[id as usize].state == BatchState::Queued);
            match oldest {
                Some(id) if cx.now.since(self.batches[id as usize].created) >= timeout => {
                    self.give_up(layout, id, ProduceError::DeliveryTimeout, cx);
                }
                _ => return,
            }
        }
    }

    // ----- transactions -----

    /// Sends a request to the transaction coordinator, to be sent again if
    /// no response comes within `request.timeout.ms`.
    fn txn_send(
        &mut self,
        layout: &Layout,
        build: impl FnOnce(u32) -> Msg,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let Some(t) = &mut self.txn else {
            return;
        };
        let req = self.next_txn_req;
        self.next_txn_req = req.wrapping_add(1);
        let msg = build(req);
        t.pending = Some(msg.clone());
        cx.send(layout.txn_coordinators[usize::from(t.id)], msg);
        let timeout = layout.producers[self.index].config.request_timeout;
        cx.after(timeout, Timer::TxnRequestTimeout { req });
    }

    /// Takes the pending request if `req` answers it.
    fn txn_answered(&mut self, req: u32) -> bool {
        let Some(t) = &mut self.txn else {
            return false;
        };
        let pending = match &t.pending {
            Some(
                Msg::InitProducerId { req: r, .. }
                | Msg::AddPartitionsToTxn { req: r, .. }
                | Msg::EndTxn { req: r, .. },
            ) => *r,
            _ => return false,
        };
        if pending != req {
            return false;
        }
        t.pending = None;
        true
    }

    #[inline(never)]
    fn txn_message(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        msg: Msg,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let step = self.txn.as_ref().map_or(TxnStep::Fenced, |t| t.step);
        match msg {
            Msg::InitProducerIdResponse { req, result } => {
                if !self.txn_answered(req) {
                    return;
                }
                match result {
                    Ok((pid, epoch)) => self.initialized(layout, pid, epoch, cx),
                    Err(_) => self.fence(cx),
                }
            }
            Msg::TxnResponse { req, result } => {
                if !self.txn_answered(req) {
                    return;
                }
                match (step, result) {
                    (_, Err(TxnError::Fenced)) => self.fence(cx),
                    (_, Err(TxnError::InvalidEpoch)) => self.recover(layout, cx),
                    (TxnStep::Beginning, Ok(())) => {
                        let t = self.txn.as_mut().expect("transactional");
                        t.step = TxnStep::Open;
                        let epoch = t.epoch;
                        cx.record(EventKind::TxnBegan {
                            producer: cx.me,
                            epoch,
                        });
                        self.txn_progress(layout, cx);
                    }
                    (TxnStep::Committing, Ok(())) => {
                        let t = self.txn.as_mut().expect("transactional");
                        let acked = std::mem::take(&mut t.acked);
                        let (epoch, records) = (t.epoch, t.records);
                        t.step = TxnStep::Ready;
                        t.records = 0;
                        t.closing = false;
                        cx.record(EventKind::TxnCommitted {
                            producer: cx.me,
                            epoch,
                            records,
                        });
                        for m in acked {
                            self.settle(m);
                        }
                        self.txn_progress(layout, cx);
                    }
                    _ => {}
                }
            }
            Msg::ProduceResponse { .. } if self.txn.as_ref().is_some_and(|t| t.live()) => {
                self.produce_response(layout, durable, msg, cx);
                self.txn_progress(layout, cx);
            }
            _ => {}
        }
    }

    #[inline(never)]
    fn txn_timer(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        timer: Timer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let Some(t) = &mut self.txn else {
            return;
        };
        match timer {
            Timer::TxnRequestTimeout { req } => {
                let again = match &t.pending {
                    Some(
                        m @ (Msg::InitProducerId { req: r, .. }
                        | Msg::AddPartitionsToTxn { req: r, .. }
                        | Msg::EndTxn { req: r, .. }),
                    ) if *r == req => Some(m.clone()),
                    _ => None,
                };
                if let Some(m) = again {
                    cx.send(layout.txn_coordinators[usize::from(t.id)], m);
                    let timeout = layout.producers[self.index].config.request_timeout;
                    cx.after(timeout, Timer::TxnRequestTimeout { req });
                }
            }
            Timer::NextRecord => {
                t.armed_at = None;
                self.txn_progress(layout, cx);
            }
            _ if t.live() => {
                self.timer(layout, durable, timer, cx);
                self.txn_progress(layout, cx);
            }
            _ => {}
        }
    }

    /// The coordinator gave the producer id and epoch: a first start, or a
    /// recovery after which every record without an answer goes again.
    fn initialized(&mut self, layout: &Layout, pid: u32, epoch: u16, cx: &mut Cx<'_, Msg, Timer>) {
        if self
            .txn
            .as_ref()
            .is_some_and(|t| t.step == TxnStep::Recovering)
        {
            let settled = self.take_settled();
            let (next_req, next_txn_req, next_batch) =
                (self.next_req, self.next_txn_req, self.next_batch);
            *self = Producer::new(layout, self.index, self.incarnation, settled);
            // Request and batch ids go on from where they were, so the old
            // batches' responses and timers (still on their way) find
            // finished placeholders and are ignored.
            self.next_req = next_req;
            self.next_txn_req = next_txn_req;
            self.next_batch = next_batch;
            let leader = self.parts.first().map(|p| p.leader).unwrap_or(0);
            let placeholder = Batch::placeholder(self.first, leader, &self.empty);
            self.batches = vec![placeholder; next_batch as usize];
            self.unfinished_from = next_batch as usize;
        }
        self.pid = pid;
        self.parts.iter_mut().for_each(|p| p.epoch = epoch);
        let t = self.txn.as_mut().expect("transactional");
        t.epoch = epoch;
        t.step = TxnStep::Ready;
        cx.record(EventKind::ProducerInitialized {
            producer: cx.me,
            pid,
            epoch,
        });
        self.txn_progress(layout, cx);
    }

    /// The transaction failed: `InitProducerId` with the current epoch
    /// aborts it and bumps the epoch.
    fn recover(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        let Some(t) = &mut self.txn else {
            return;
        };
        if matches!(t.step, TxnStep::Recovering | TxnStep::Fenced) {
            return;
        }
        t.step = TxnStep::Recovering;
        let (txn, current) = (t.id, Some((self.pid, t.epoch)));
        self.txn_send(layout, |req| Msg::InitProducerId { req, txn, current }, cx);
    }

    /// A newer incarnation fenced this one: it stops for good, with its
    /// unanswered records unsent.
    fn fence(&mut self, cx: &mut Cx<'_, Msg, Timer>) {
        let Some(t) = &mut self.txn else {
            return;
        };
        if t.step == TxnStep::Fenced {
            return;
        }
        t.step = TxnStep::Fenced;
        t.pending = None;
        cx.record(EventKind::Fenced {
            producer: cx.me,
            epoch: t.epoch,
        });
        self.outstanding = 0;
    }

    /// Moves the transaction on: begins one when records are due, hands it
    /// records up to `transaction_records`, closes it when full (or when
    /// the plan is exhausted) and commits once its batches are
    /// acknowledged; a failed batch aborts it.
    #[inline(never)]
    fn txn_progress(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        let Some(t) = &self.txn else {
            return;
        };
        if t.failed && t.live() {
            self.recover(layout, cx);
            return;
        }
        let meta = &layout.producers[self.index];
        let limit = meta.config.transaction_records.max(1);
        match t.step {
            TxnStep::Ready => {
                // The next record without an answer, if any.
                while let Some(r) = meta.plan.get(self.next) {
                    if !bit(&self.settled, r.msg.0) {
                        break;
                    }
                    self.next += 1;
                }
                let Some(r) = meta.plan.get(self.next) else {
                    return;
                };
                if r.at > cx.now {
                    let t = self.txn.as_mut().expect("transactional");
                    t.arm_next(r.at, cx);
                    return;
                }
                let t = self.txn.as_mut().expect("transactional");
                t.step = TxnStep::Beginning;
                let (txn, pid, epoch) = (t.id, self.pid, t.epoch);
                self.txn_send(
                    layout,
                    |req| Msg::AddPartitionsToTxn {
                        req,
                        txn,
                        pid,
                        epoch,
                    },
                    cx,
                );
            }
            TxnStep::Open => {
                if !t.closing {
                    let room = (limit - t.records) as usize;
                    let taken = self.accumulate(layout, room, cx) as u32;
                    let exhausted = self.next >= meta.plan.len();
                    let t = self.txn.as_mut().expect("transactional");
                    t.records += taken;
                    if t.records >= limit || (exhausted && t.records > 0) {
                        t.closing = true;
                        // flush(): every open batch goes now.
                        for slot in 0..self.parts.len() {
                            if self.parts[slot].open.is_some() {
                                let p = PartitionId(self.first.0 + slot as u16);
                                self.close(layout, p, cx);
                            }
                        }
                    } else if exhausted {
                        // Nothing left to send: an empty transaction is
                        // not committed.
                        t.step = TxnStep::Ready;
                        return;
                    }
                }
                let t = self.txn.as_ref().expect("transactional");
                if !t.closing || t.failed || !self.all_finished() {
                    return;
                }
                let t = self.txn.as_mut().expect("transactional");
                t.step = TxnStep::Committing;
                let (txn, pid, epoch) = (t.id, self.pid, t.epoch);
                self.txn_send(
                    layout,
                    |req| Msg::EndTxn {
                        req,
                        txn,
                        pid,
                        epoch,
                        commit: true,
                    },
                    cx,
                );
            }
            _ => {}
        }
    }

    /// Whether every closed batch is finished and none is open.
    fn all_finished(&mut self) -> bool {
        self.parts.iter().all(|p| p.open.is_none())
            && self.batches[self.unfinished_from.min(self.batches.len())..]
                .iter()
                .all(|b| b.state == BatchState::Done)
    }
}
