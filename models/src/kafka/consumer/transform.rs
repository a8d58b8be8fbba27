//! The producing side of a consume-transform-produce member: one Kafka
//! transaction per polled batch, as Kafka Streams' `exactly_once_v2` and
//! the documented read-process-write loop do it:
//!
//! ```text
//! initTransactions()                        // once, at start
//! loop {
//!     batch = poll()
//!     for record in batch { handle(record); output += transform(record) }
//!     beginTransaction(); send(output)      // AddPartitionsToTxn, Produce
//!     sendOffsetsToTransaction(offsets, groupMetadata)   // TxnOffsetCommit
//!     commitTransaction()                   // EndTxn
//! }
//! ```
//!
//! Each member has its own transactional id (`<group>-<member>`). With
//! `input_offsets = "transaction"` the offsets go to the transaction with
//! the member id and generation, so a member the group has moved on from
//! is refused (`ILLEGAL_GENERATION`) and aborts; with
//! `"transaction-unfenced"` only the group id is sent and nothing stops
//! such a zombie; with `"outside-transaction"` the offsets are committed
//! with `commitSync` after the transaction. On any failure the member
//! aborts (or re-initializes, when its epoch is stale), forgets its
//! positions and starts again from the committed offsets, rejoining the
//! group when the group refused it.
//!
//! Simplification: a batch's outputs are sent together once the batch is
//! handled (one produce request per output partition), rather than as the
//! handler produces them.

use std::sync::Arc;

use crate::event::{CommitError, CrashPoint, EventKind};
use crate::ids::PartitionId;
use crate::model::Cx;
use crate::store::TxBuffer;

use super::super::config::{Acks, InputOffsets};
use super::super::protocol::{Control, Msg, ProduceResult, Record, Resend, Timer};
use super::super::world::{Durable, Layout};
use super::{Consumer, Item, Pending, Phase, Purpose};

/// Where the member's producer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// `InitProducerId` sent (`current`: with the producer id and epoch it
    /// has, to recover after a failure).
    Init { current: bool },
    /// Between transactions.
    Ready,
    /// `AddPartitionsToTxn` sent: the transaction begins.
    Adding,
    /// Outputs sent to their partitions.
    Producing,
    /// `TxnOffsetCommit` sent.
    Offsets,
    /// `EndTxn` (commit) sent.
    Committing,
    /// `EndTxn` (abort) sent.
    Aborting,
}

/// One output partition's produce request in the current transaction.
#[derive(Clone, Debug)]
pub(super) struct OutSend {
    partition: PartitionId,
    base_seq: u32,
    records: Arc<Vec<Record>>,
    batch: u32,
    attempt: u32,
    /// The request id of its latest attempt.
    req: u32,
    done: bool,
}

/// A member's transactional producer.
#[derive(Debug)]
pub(super) struct Output {
    txn: u16,
    pid: u32,
    epoch: u16,
    step: Step,
    /// The output topic's first partition: slot `i` is partition `first + i`.
    first: PartitionId,
    /// Next sequence number per output partition (for this epoch).
    seqs: Vec<u32>,
    /// The current batch's outputs per output partition.
    records: Vec<Vec<Record>>,
    /// The current transaction's produce requests.
    sends: Vec<OutSend>,
    /// The input offsets the current transaction covers.
    offsets: Vec<(PartitionId, u64)>,
    /// `(member id, generation)` when the transaction began: what
    /// `consumer.groupMetadata()` gave the application for this batch.
    group_metadata: Option<(u32, u32)>,
    next_batch: u32,
    /// After the abort: rejoin the group too.
    rejoin: bool,
    /// Re-initializing after a failure: start over from the committed
    /// offsets once initialized.
    recovering: bool,
    /// Request ids of transactional requests, from `incarnation << 24` on,
    /// so the coordinators tell a restarted member's requests from copies
    /// of its earlier ones (see `txn::copy_of`).
    next_txn_req: u32,
}

impl Output {
    /// The producer of member `member` (index within its group) of a
    /// consume-transform-produce group.
    pub(super) fn new(
        layout: &Layout,
        group: usize,
        member: usize,
        incarnation: u32,
    ) -> Option<Box<Output>> {
        let out = layout.groups[group].output.as_ref()?;
        let topic = &layout.topics[usize::from(out.topic)];
        let parts = topic.partitions as usize;
        Some(Box::new(Output {
            txn: out.first_txn + member as u16,
            pid: 0,
            epoch: 0,
            step: Step::Init { current: false },
            first: topic.first,
            seqs: vec![0; parts],
            records: vec![Vec::new(); parts],
            sends: Vec::new(),
            offsets: Vec::new(),
            group_metadata: None,
            next_batch: 0,
            rejoin: false,
            recovering: false,
            next_txn_req: incarnation.wrapping_shl(24),
        }))
    }

    /// Between transactions, initialized.
    pub(super) fn ready(&self) -> bool {
        self.step == Step::Ready
    }
}

impl Consumer {
    fn offsets_mode(&self, layout: &Layout) -> Option<InputOffsets> {
        layout.groups[self.group.index()]
            .config
            .output
            .map(|o| o.offsets)
    }

    /// Whether the application commits offsets with `commitSync` (not in
    /// transactions).
    pub(super) fn commits_offsets(&self, layout: &Layout) -> bool {
        !matches!(
            self.offsets_mode(layout),
            Some(InputOffsets::Transaction | InputOffsets::TransactionUnfenced)
        )
    }

    /// `initTransactions()` at start.
    pub(super) fn output_start(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        if self.output.is_some() {
            self.send_step(layout, cx);
        }
    }

    /// The transformed record of a handled one goes to the current
    /// transaction: same key, value and message, in the output topic's
    /// partition for its key (a keyless record keeps its partition number).
    #[inline(never)]
    pub(super) fn emit(&mut self, layout: &Layout, item: &Item, me: crate::ids::NodeId) {
        let Some(o) = self.output.as_deref_mut() else {
            return;
        };
        let out = layout.groups[self.group.index()]
            .output
            .as_ref()
            .expect("a group with a producer has an output");
        let partition = if item.record.keyed {
            out.key_partitions[item.record.entity.index()]
        } else {
            let number = layout.partitions[item.partition.index()].number;
            PartitionId(o.first.0 + (number % o.records.len() as u32) as u16)
        };
        o.records[usize::from(partition.0 - o.first.0)].push(Record {
            producer: me,
            txn_pid: o.pid,
            control: Control::Data,
            ..item.record
        });
    }

    /// The batch is handled: its transaction begins.
    pub(super) fn output_batch_done(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        // The positions, which a poll moves past transaction markers too
        // (not the last record's offset + 1).
        let offsets = self.uncommitted();
        let group_metadata = self.member.map(|m| (m, self.generation));
        let Some(o) = self.output.as_deref_mut() else {
            return;
        };
        o.offsets = offsets;
        o.group_metadata = group_metadata;
        self.phase = Phase::Transacting;
        if self.member.is_none() && self.offsets_mode(layout) == Some(InputOffsets::Transaction) {
            // The member knows it has left the group: its generation
            // cannot commit these offsets. Start over from the committed
            // ones.
            self.output_refused(layout, durable, scratch, cx);
            return;
        }
        self.enter(Step::Adding, layout, cx);
    }

    /// Moves to `step` and sends the request it waits for.
    fn enter(&mut self, step: Step, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        if let Some(o) = self.output.as_deref_mut() {
            o.step = step;
        }
        self.send_step(layout, cx);
    }

    /// Sends the request the current step waits for.
    fn send_step(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        let Some(o) = self.output.as_deref_mut() else {
            return;
        };
        if matches!(o.step, Step::Ready | Step::Producing) {
            return;
        }
        let req = o.next_txn_req;
        o.next_txn_req = req.wrapping_add(1);
        let o = self.output.as_deref().expect("checked above");
        let (txn, pid, epoch) = (o.txn, o.pid, o.epoch);
        let mut to = layout.txn_coordinators[usize::from(txn)];
        let msg = match o.step {
            Step::Init { current } => Msg::InitProducerId {
                req,
                txn,
                current: current.then_some((pid, epoch)),
            },
            Step::Adding => Msg::AddPartitionsToTxn {
                req,
                txn,
                pid,
                epoch,
            },
            Step::Offsets => {
                to = self.coordinator(layout);
                let fenced = self.offsets_mode(layout) == Some(InputOffsets::Transaction);
                Msg::TxnOffsetCommit {
                    req,
                    txn,
                    pid,
                    epoch,
                    group: self.group,
                    member: if fenced { o.group_metadata } else { None },
                    offsets: o.offsets.as_slice().into(),
                }
            }
            Step::Committing | Step::Aborting => Msg::EndTxn {
                req,
                txn,
                pid,
                epoch,
                commit: o.step == Step::Committing,
            },
            Step::Ready | Step::Producing => return,
        };
        let timeout = layout.groups[self.group.index()].config.request_timeout;
        self.request(to, msg, Pending::Txn, timeout, cx);
    }

    /// Sends (again) the produce request of output `i`.
    fn send_output(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        i: usize,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let cfg = &layout.groups[self.group.index()].config;
        let (retry_backoff, timeout) = (cfg.retry_backoff, cfg.request_timeout);
        let req = self.req();
        let Some(o) = self.output.as_deref_mut() else {
            return;
        };
        let (pid, epoch) = (o.pid, o.epoch);
        let s = &mut o.sends[i];
        let partition = s.partition;
        let Some(leader) = durable.leader_of(layout, partition) else {
            cx.after(
                retry_backoff,
                Timer::Resend {
                    what: Resend::Output { partition },
                },
            );
            return;
        };
        s.attempt += 1;
        s.req = req;
        cx.record(EventKind::ProduceSent {
            producer: cx.me,
            partition,
            batch: s.batch,
            attempt: s.attempt,
            records: s.records.len() as u16,
        });
        let msg = Msg::Produce {
            req,
            partition,
            batch: s.batch,
            attempt: s.attempt,
            pid,
            epoch,
            base_seq: s.base_seq,
            acks: Acks::All,
            records: s.records.clone(),
        };
        self.request(leader, msg, Pending::Output(partition), timeout, cx);
    }

    /// A response to the member's producer.
    pub(super) fn output_message(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        msg: Msg,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        match msg {
            Msg::InitProducerIdResponse { req, result } => {
                if !self.take_txn_pending(req) {
                    return;
                }
                let o = self.output.as_deref_mut().expect("only sent with one");
                if !matches!(o.step, Step::Init { .. }) {
                    return;
                }
                match result {
                    Ok((pid, epoch)) => {
                        o.pid = pid;
                        o.epoch = epoch;
                        o.seqs.fill(0);
                        o.step = Step::Ready;
                        cx.record(EventKind::ProducerInitialized {
                            producer: cx.me,
                            pid,
                            epoch,
                        });
                        if std::mem::take(&mut o.recovering) {
                            self.rewind(layout, durable, scratch, cx);
                        } else if self.phase == Phase::Polling {
                            self.poll(layout, durable, scratch, cx);
                        }
                    }
                    Err(_) => {
                        // Its epoch is gone: initialize afresh.
                        self.enter(Step::Init { current: false }, layout, cx);
                    }
                }
            }
            Msg::TxnResponse { req, result } => {
                if !self.take_txn_pending(req) {
                    return;
                }
                let o = self.output.as_deref_mut().expect("only sent with one");
                match (o.step, result) {
                    (Step::Adding, Ok(())) => {
                        cx.record(EventKind::TxnBegan {
                            producer: cx.me,
                            epoch: o.epoch,
                        });
                        self.produce_outputs(layout, durable, cx);
                    }
                    (Step::Committing, Ok(())) => {
                        self.output_committed(layout, durable, scratch, cx)
                    }
                    (Step::Aborting, Ok(())) => self.rewind(layout, durable, scratch, cx),
                    (Step::Adding | Step::Committing | Step::Aborting, Err(_)) => {
                        // A stale epoch (a timeout aborted the transaction,
                        // or a newer incarnation fenced this one).
                        self.reinit(layout, cx);
                    }
                    _ => {}
                }
            }
            Msg::ProduceResponse { req, result, .. } => {
                let Some(Pending::Output(partition)) = self.take_pending(req) else {
                    return;
                };
                let Some(o) = self.output.as_deref_mut() else {
                    return;
                };
                if o.step != Step::Producing {
                    return;
                }
                // The answer to this transaction's latest attempt only.
                let Some(i) = o.sends.iter().position(|s| s.req == req) else {
                    return;
                };
                match result {
                    r if r.is_success() => {
                        o.sends[i].done = true;
                        if o.sends.iter().all(|s| s.done) {
                            self.after_outputs(layout, cx);
                        }
                    }
                    // A stale epoch, or a gap in the sequence: since
                    // KIP-360 the producer bumps its epoch (which aborts
                    // the transaction) and starts its sequences over.
                    ProduceResult::InvalidEpoch | ProduceResult::OutOfOrderSequence => {
                        self.reinit(layout, cx);
                    }
                    _ => {
                        let cfg = &layout.groups[self.group.index()].config;
                        cx.after(
                            cfg.retry_backoff,
                            Timer::Resend {
                                what: Resend::Output { partition },
                            },
                        );
                    }
                }
            }
            Msg::TxnOffsetCommitResponse { req, result } => {
                if !self.take_txn_pending(req) {
                    return;
                }
                if self.output.as_deref().map(|o| o.step) != Some(Step::Offsets) {
                    return;
                }
                match result {
                    Ok(()) => self.commit_transaction(layout, cx),
                    Err(CommitError::InvalidProducerEpoch) => self.reinit(layout, cx),
                    // The group has moved on (KIP-447's fencing): abort,
                    // rejoin, and start over from the committed offsets.
                    Err(_) => self.output_refused(layout, durable, scratch, cx),
                }
            }
            _ => {}
        }
    }

    /// Sends the batch's outputs, one request per output partition.
    fn produce_outputs(&mut self, layout: &Layout, durable: &Durable, cx: &mut Cx<'_, Msg, Timer>) {
        let o = self.output.as_deref_mut().expect("only with one");
        o.step = Step::Producing;
        o.sends.clear();
        for slot in 0..o.records.len() {
            if o.records[slot].is_empty() {
                continue;
            }
            let batch = o.next_batch;
            o.next_batch += 1;
            let pid = o.pid;
            let mut records = std::mem::take(&mut o.records[slot]);
            for r in &mut records {
                r.batch = batch;
                r.txn_pid = pid;
            }
            let base_seq = o.seqs[slot];
            o.seqs[slot] = base_seq.wrapping_add(records.len() as u32);
            o.sends.push(OutSend {
                partition: PartitionId(o.first.0 + slot as u16),
                base_seq,
                records: Arc::new(records),
                batch,
                attempt: 0,
                req: 0,
                done: false,
            });
        }
        let n = o.sends.len();
        if n == 0 {
            self.after_outputs(layout, cx);
            return;
        }
        for i in 0..n {
            self.send_output(layout, durable, i, cx);
        }
    }

    /// Every output is appended: the offsets go to the transaction (or
    /// the transaction commits).
    fn after_outputs(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        if self.offsets_mode(layout) == Some(InputOffsets::OutsideTransaction) {
            self.commit_transaction(layout, cx);
        } else {
            self.enter(Step::Offsets, layout, cx);
        }
    }

    fn commit_transaction(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        // The outputs are written (and the offsets sent): the last moment
        // before the commit.
        if cx.crash_point(CrashPoint::AfterHandleBeforeCommit, None) {
            return;
        }
        self.enter(Step::Committing, layout, cx);
    }

    /// The transaction committed.
    fn output_committed(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let o = self.output.as_deref_mut().expect("only with one");
        o.step = Step::Ready;
        let records = o.sends.iter().map(|s| s.records.len() as u32).sum();
        let epoch = o.epoch;
        let offsets = std::mem::take(&mut o.offsets);
        cx.record(EventKind::TxnCommitted {
            producer: cx.me,
            epoch,
            records,
        });
        if cx.crash_point(CrashPoint::AfterCommit, None) {
            return;
        }
        if self.commits_offsets(layout) {
            // The outputs are committed; now the input offsets, outside
            // the transaction.
            self.phase = Phase::CommitAfter;
            self.send_commit(
                layout,
                durable,
                scratch,
                offsets,
                Purpose::AfterBatch,
                1,
                cx,
            );
            return;
        }
        self.note_committed(&offsets);
        self.poll(layout, durable, scratch, cx);
    }

    /// The group refused this member (or it knows it left): abort the
    /// transaction, rejoin, and start over from the committed offsets.
    fn output_refused(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let o = self.output.as_deref_mut().expect("only with one");
        o.rejoin = true;
        match o.step {
            Step::Adding | Step::Producing | Step::Offsets | Step::Committing => {
                self.enter(Step::Aborting, layout, cx);
            }
            // Nothing began.
            _ => self.rewind(layout, durable, scratch, cx),
        }
    }

    /// The producer's epoch is stale: `InitProducerId` with it aborts what
    /// is open and gives a new epoch (KIP-360), then the member starts over.
    fn reinit(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        if let Some(o) = self.output.as_deref_mut() {
            o.recovering = true;
        }
        self.enter(Step::Init { current: true }, layout, cx);
    }

    /// Forgets the batch and every position, and starts again from the
    /// committed offsets (rejoining first if the group refused the member).
    fn rewind(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let o = self.output.as_deref_mut().expect("only with one");
        o.step = Step::Ready;
        o.sends.clear();
        o.offsets.clear();
        for r in &mut o.records {
            r.clear();
        }
        let rejoin = std::mem::take(&mut o.rejoin);
        cx.record(EventKind::StageRewound {
            consumer: cx.me,
            rejoin,
        });
        self.batch.clear();
        // Answers to the abandoned transaction's requests are not awaited.
        self.pending
            .retain(|(_, _, p, _)| !matches!(p, Pending::Txn | Pending::Output(_)));
        for part in &mut self.parts {
            part.position = None;
            part.committed = None;
            part.fetching = None;
            part.buffer.clear();
        }
        if rejoin || self.member.is_none() {
            self.rejoin = true;
            self.poll(layout, durable, scratch, cx);
            return;
        }
        self.phase = Phase::Resetting;
        self.fetch_committed(layout, cx);
        self.after_reset(layout, durable, scratch, cx);
    }

    /// A transactional request or an output's produce request timed out:
    /// send it again after a backoff.
    pub(super) fn output_resend(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        what: Resend,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let waiting =
            |c: &Consumer, f: &dyn Fn(&Pending) -> bool| c.pending.iter().any(|(_, _, p, _)| f(p));
        match what {
            Resend::Txn if !waiting(self, &|p| matches!(p, Pending::Txn)) => {
                self.send_step(layout, cx);
            }
            Resend::Output { partition } => {
                let Some(o) = self.output.as_deref() else {
                    return;
                };
                if o.step != Step::Producing
                    || waiting(
                        self,
                        &|p| matches!(p, Pending::Output(q) if *q == partition),
                    )
                {
                    return;
                }
                if let Some(i) = o
                    .sends
                    .iter()
                    .position(|s| s.partition == partition && !s.done)
                {
                    self.send_output(layout, durable, i, cx);
                }
            }
            _ => {}
        }
    }
}
