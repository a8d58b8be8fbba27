//! Transactions: the coordinator's durable state per `transactional.id`,
//! each log's open and aborted transactions (from which the last stable
//! offset and the aborted-records filter of `read_committed` fetches
//! follow), and how a coordinator ends a transaction by writing commit or
//! abort markers.
//!
//! A transaction coordinator is the broker that leads the
//! `__transaction_state` partition of the transactional id (chosen like a
//! group's coordinator). Its state is durable, as that topic is. The
//! coordinator writes markers straight into the partition logs (standing
//! in for `WriteTxnMarkers` to their leaders), and learns which partitions
//! a transaction touched from those logs (standing in for the partitions
//! that `AddPartitionsToTxn` lists).

use crate::event::{AbortReason, CommitError, EventKind};
use crate::ids::GroupId;
use crate::ids::{KeyId, MessageId, NodeId, PartitionId};
use crate::model::{Cx, Deadlines};
use crate::time::SimTime;

use super::broker::fence_epoch;
use super::protocol::{Control, Msg, Record, Timer, TxnError};
use super::world::{Durable, Layout};

/// Producer ids of transactional ids start here, clear of the ids handed
/// to producers without one.
pub const TXN_PID_BASE: u32 = 1 << 24;

/// Where a transactional id's transaction is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TxnPhase {
    /// No transaction open.
    #[default]
    Empty,
    /// A transaction is open since `since`.
    Ongoing {
        /// When it began.
        since: SimTime,
    },
}

/// The coordinator's durable record of one transactional id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxnState {
    /// Its producer id (0 until first initialized).
    pub pid: u32,
    /// The current epoch.
    pub epoch: u16,
    /// Its transaction.
    pub phase: TxnPhase,
    /// The epoch a timeout abort bumped away from: a producer still at it
    /// may initialize again with it and go on (KIP-360); any other stale
    /// epoch is fenced.
    pub timed_out_from: Option<u16>,
    /// The producer instance that initialized the current epoch (the one
    /// whose transactions the markers and aborts belong to).
    pub owner: Option<NodeId>,
}

impl TxnState {
    /// The error for a request carrying a stale `epoch`.
    fn stale(&self, epoch: u16) -> TxnError {
        if self.timed_out_from == Some(epoch) {
            TxnError::InvalidEpoch
        } else {
            TxnError::Fenced
        }
    }
}

/// The transactions of one partition log: the open ones (producer id,
/// first offset) and the aborted ones (producer id, first offset, marker
/// offset), as Kafka's producer-state snapshot and `.txnindex` keep them.
#[derive(Clone, Debug, Default)]
pub struct TxnLog {
    open: Vec<(u32, u64)>,
    aborted: Vec<(u32, u64, u64)>,
}

impl TxnLog {
    /// A transactional batch of `pid` was appended at `offset`: its
    /// transaction is open from its first batch on.
    pub fn begin(&mut self, pid: u32, offset: u64) {
        if !self.open.iter().any(|&(p, _)| p == pid) {
            self.open.push((pid, offset));
        }
    }

    /// The last stable offset given what consumers may otherwise see
    /// (`visible`): the first offset of the earliest open transaction.
    #[inline]
    pub fn lso(&self, visible: u64) -> u64 {
        self.open
            .iter()
            .map(|&(_, first)| first)
            .min()
            .map_or(visible, |first| first.min(visible))
    }

    /// Whether the record of `pid` at `offset` belongs to an aborted
    /// transaction.
    pub fn is_aborted(&self, pid: u32, offset: u64) -> bool {
        pid != 0
            && self
                .aborted
                .iter()
                .any(|&(p, first, last)| p == pid && first <= offset && offset <= last)
    }

    fn close(&mut self, pid: u32) -> Option<u64> {
        let i = self.open.iter().position(|&(p, _)| p == pid)?;
        Some(self.open.remove(i).1)
    }
}

/// A coordinator's answer to a transactional request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnAnswer {
    /// To `InitProducerId`.
    Init(Result<(u32, u16), TxnError>),
    /// To `AddPartitionsToTxn` or `EndTxn`.
    Txn(Result<(), TxnError>),
    /// To `TxnOffsetCommit` (at the group coordinator).
    Offsets(Result<(), CommitError>),
}

/// The last request each producer node sent about one transactional id,
/// with the answer it got: `(node, request id, answer)`. A request id at
/// or below a node's last is a copy (a retry whose original got through,
/// or a duplicated message): it is not acted on again, so a late copy of
/// a commit cannot end a later transaction, nor a copy of
/// `InitProducerId` bump the epoch twice. A copy of the last request gets
/// the answer the original got (an `EndTxn` refused stays refused, a
/// fenced producer stays fenced); an older copy gets none, as its sender
/// has moved on.
pub type Answered = Vec<(NodeId, u32, TxnAnswer)>;

/// How far below a node's last request id a copy may be: ids further
/// below (or above) are new requests. Clients number their transactional
/// requests from `incarnation << 24` on, so a restarted client's ids are
/// new even when the counter wraps.
const COPY_WINDOW: u32 = 1 << 16;

/// What a request `req` from `from` about `txn` is: `None` if new,
/// `Some(answer)` if a copy of one handled (`Some(None)` if its sender no
/// longer waits for an answer).
pub(crate) fn copy_of(
    durable: &Durable,
    txn: u16,
    from: NodeId,
    req: u32,
) -> Option<Option<TxnAnswer>> {
    let &(_, last, answer) = durable.txn_answers[usize::from(txn)]
        .iter()
        .find(|&&(node, last, _)| node == from && last.wrapping_sub(req) < COPY_WINDOW)?;
    Some((req == last).then_some(answer))
}

/// Keeps `answer` as the answer to `from`'s request `req` about `txn`.
pub(crate) fn remember(durable: &mut Durable, txn: u16, from: NodeId, req: u32, answer: TxnAnswer) {
    let answered = &mut durable.txn_answers[usize::from(txn)];
    match answered.iter_mut().find(|(node, ..)| *node == from) {
        Some(slot) => *slot = (from, req, answer),
        None => answered.push((from, req, answer)),
    }
}

/// A control marker as it sits in a log.
fn marker(producer: NodeId, pid: u32, commit: bool) -> Record {
    Record {
        msg: MessageId(u32::MAX),
        entity: KeyId(0),
        seq: 0,
        value: 0,
        keyed: false,
        producer,
        batch: u32::MAX,
        txn_pid: pid,
        control: if commit {
            Control::Commit
        } else {
            Control::Abort
        },
    }
}

/// The instance that owns transactional id `txn`: the one that
/// initialized its current epoch (before any did, the first configured
/// with it).
fn owner(layout: &Layout, durable: &Durable, txn: u16) -> NodeId {
    durable.txns[usize::from(txn)]
        .owner
        .unwrap_or_else(|| layout.txn_nodes[usize::from(txn)])
}

/// Ends `pid`'s open transaction in every log that has one, writing a
/// commit or abort marker; records the aborted records.
fn write_markers(
    layout: &Layout,
    durable: &mut Durable,
    broker: NodeId,
    txn: u16,
    pid: u32,
    commit: bool,
    cx: &mut Cx<'_, Msg, Timer>,
) {
    let producer = owner(layout, durable, txn);
    for i in 0..durable.txn_logs.len() {
        let Some(first) = durable.txn_logs[i].close(pid) else {
            continue;
        };
        let partition = PartitionId(i as u16);
        let log = &mut durable.logs[i];
        let at = log.append(&[marker(producer, pid, commit)]);
        if !commit {
            for offset in first..at {
                let r = log.get(offset).expect("below the end");
                if r.txn_pid == pid && r.control == Control::Data {
                    cx.record(EventKind::RecordAborted {
                        partition,
                        offset,
                        msg: r.msg,
                    });
                }
            }
            durable.txn_logs[i].aborted.push((pid, first, at));
        }
        let leader = layout.partitions[i].leader;
        if leader != broker {
            cx.send(leader, Msg::WriteTxnMarkers { partition });
        }
        cx.record(EventKind::TxnMarker {
            broker: leader,
            partition,
            offset: at,
            producer,
            commit,
        });
    }
    // The marker in `__consumer_offsets`: offsets the transaction sent
    // become the groups' committed offsets, or are dropped.
    for (g, gd) in durable.groups.iter_mut().enumerate() {
        let Some(i) = gd.pending.iter().position(|t| t.pid == pid) else {
            continue;
        };
        let t = gd.pending.remove(i);
        if !commit {
            continue;
        }
        let first = layout.topics[usize::from(layout.groups[g].topic)].first;
        for (partition, offset) in t.offsets {
            gd.committed[usize::from(partition.0 - first.0)] = Some(offset);
            cx.record(EventKind::CommitAccepted {
                group: GroupId(g as u16),
                consumer: t.consumer,
                generation: t.generation,
                partition,
                offset,
            });
        }
    }
}

/// Aborts `txn`'s open transaction (if any) and bumps its epoch; every log
/// of the producer's topic refuses the old epoch from now on.
fn abort_and_bump(
    layout: &Layout,
    durable: &mut Durable,
    broker: NodeId,
    txn: u16,
    reason: AbortReason,
    cx: &mut Cx<'_, Msg, Timer>,
) {
    let st = durable.txns[usize::from(txn)];
    if matches!(st.phase, TxnPhase::Ongoing { .. }) {
        write_markers(layout, durable, broker, txn, st.pid, false, cx);
        cx.record(EventKind::TxnAborted {
            coordinator: broker,
            producer: owner(layout, durable, txn),
            epoch: st.epoch,
            reason,
        });
    }
    let epoch = st.epoch.wrapping_add(1);
    let st = &mut durable.txns[usize::from(txn)];
    st.epoch = epoch;
    st.phase = TxnPhase::Empty;
    let pid = st.pid;
    for seqs in &mut durable.seqs {
        fence_epoch(seqs.entry(pid), epoch);
    }
}

/// `InitProducerId` at the coordinator.
pub(crate) fn init(
    layout: &Layout,
    durable: &mut Durable,
    broker: NodeId,
    txn: u16,
    (from, current): (NodeId, Option<(u32, u16)>),
    cx: &mut Cx<'_, Msg, Timer>,
) -> Result<(u32, u16), TxnError> {
    let st = &mut durable.txns[usize::from(txn)];
    if st.pid == 0 {
        st.pid = TXN_PID_BASE + u32::from(txn);
    }
    if let Some((_, epoch)) = current
        && epoch != st.epoch
        && st.timed_out_from != Some(epoch)
    {
        return Err(TxnError::Fenced);
    }
    let reason = if current.is_some() {
        AbortReason::Producer
    } else {
        AbortReason::Init
    };
    abort_and_bump(layout, durable, broker, txn, reason, cx);
    let st = &mut durable.txns[usize::from(txn)];
    st.timed_out_from = None;
    st.owner = Some(from);
    Ok((st.pid, st.epoch))
}

/// `AddPartitionsToTxn` at the coordinator: the transaction begins (its
/// timeout starts) unless it already has.
pub(crate) fn add_partitions(
    layout: &Layout,
    durable: &mut Durable,
    txn: u16,
    (pid, epoch): (u32, u16),
    timeout: &mut Deadlines,
    cx: &mut Cx<'_, Msg, Timer>,
) -> Result<(), TxnError> {
    let st = &mut durable.txns[usize::from(txn)];
    if pid != st.pid || epoch != st.epoch {
        return Err(st.stale(epoch));
    }
    if st.phase == TxnPhase::Empty {
        st.phase = TxnPhase::Ongoing { since: cx.now };
        timeout.arm(
            cx.now + timeout_of(layout, txn),
            Timer::TxnTimeout { txn },
            cx,
        );
    }
    Ok(())
}

/// `EndTxn` at the coordinator. A repeated end of a transaction that has
/// already ended succeeds (the response may have been lost).
pub(crate) fn end(
    layout: &Layout,
    durable: &mut Durable,
    broker: NodeId,
    txn: u16,
    (pid, epoch): (u32, u16),
    commit: bool,
    cx: &mut Cx<'_, Msg, Timer>,
) -> Result<(), TxnError> {
    let st = durable.txns[usize::from(txn)];
    if pid != st.pid || epoch != st.epoch {
        return Err(st.stale(epoch));
    }
    if matches!(st.phase, TxnPhase::Ongoing { .. }) {
        write_markers(layout, durable, broker, txn, pid, commit, cx);
        if !commit {
            cx.record(EventKind::TxnAborted {
                coordinator: broker,
                producer: owner(layout, durable, txn),
                epoch,
                reason: AbortReason::Producer,
            });
        }
        durable.txns[usize::from(txn)].phase = TxnPhase::Empty;
    }
    Ok(())
}

/// The coordinator's timeout check of `txn`: a transaction open for
/// `transaction.timeout.ms` is aborted and its epoch bumped.
pub(crate) fn check_timeout(
    layout: &Layout,
    durable: &mut Durable,
    broker: NodeId,
    txn: u16,
    check: &mut Deadlines,
    cx: &mut Cx<'_, Msg, Timer>,
) {
    let st = durable.txns[usize::from(txn)];
    let TxnPhase::Ongoing { since } = st.phase else {
        return;
    };
    let timeout = timeout_of(layout, txn);
    if cx.now.since(since) < timeout {
        check.arm(since + timeout, Timer::TxnTimeout { txn }, cx);
        return;
    }
    abort_and_bump(layout, durable, broker, txn, AbortReason::Timeout, cx);
    durable.txns[usize::from(txn)].timed_out_from = Some(st.epoch);
}

/// A restarted coordinator arms the timeouts of the transactions open on
/// it.
pub(crate) fn restart(
    layout: &Layout,
    durable: &Durable,
    broker: NodeId,
    checks: &mut [Deadlines],
    cx: &mut Cx<'_, Msg, Timer>,
) {
    for (t, coordinator) in layout.txn_coordinators.iter().enumerate() {
        if *coordinator != broker {
            continue;
        }
        if let TxnPhase::Ongoing { .. } = durable.txns[t].phase {
            checks[t].arm(cx.now, Timer::TxnTimeout { txn: t as u16 }, cx);
        }
    }
}

fn timeout_of(layout: &Layout, txn: u16) -> SimTime {
    layout.txn_timeouts[usize::from(txn)]
}
