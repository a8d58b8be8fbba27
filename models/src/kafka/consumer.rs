//! A group consumer running a user handler.
//!
//! The loop is the Java client's, as applications write it:
//!
//! ```text
//! loop {
//!     batch = poll()            // rejoins first if a rebalance is pending
//!     [commitSync(batch)]       // commit-before-process
//!     for record in batch { handler.handle(record) }
//!     [commitSync(batch)]       // process-then-commit
//! }
//! ```
//!
//! with auto-commit inside `poll` as the third option. A heartbeat runs
//! beside the loop; it also notices when the loop has not polled within
//! `max.poll.interval.ms` and leaves the group, as the Java heartbeat thread
//! does. Rebalances are eager by default: all partitions are revoked
//! before rejoining, and positions restart from the committed offsets.
//! Under the cooperative protocol (`cooperative-sticky`, KIP-429) a member
//! rejoins in the background and goes on consuming what it owns; at its
//! next poll it gives up only the partitions its new assignment leaves out
//! (committing them first under auto-commit, as on any revocation), takes
//! on the ones added, and rejoins again if it gave any up, so a follow-up
//! rebalance can hand them over.
//!
//! Crash points are checked where the loop passes them: `before-handle`,
//! `mid-batch`, `after-handle-before-commit`, `after-commit`, and inside the
//! handler (`mid-handle`, named points).

use std::collections::VecDeque;

use crate::event::{CommitError, CrashPoint, EventKind, Settle};
use crate::handler::{Handler, HandlerCx, Outcome};
use crate::ids::{GroupId, NodeId, PartitionId};
use crate::model::{Cx, Deadlines, Env};
use crate::panic_guard::run_user_code;
use crate::store::{Store, TxBuffer};
use crate::time::SimTime;

use super::config::{CommitMode, OffsetReset};
use super::protocol::{GroupError, Msg, Record, Resend, Timer};
use super::request_ids::RequestIds;
use super::world::{Durable, Layout};

mod transform;

use transform::Output;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not started yet.
    Idle,
    /// Waiting for the rebalance to complete.
    Joining,
    /// Looking up where to start on the assigned partitions.
    Resetting,
    /// Inside `poll`, waiting for records.
    Polling,
    /// `commitSync` before handling the batch.
    CommitBefore,
    /// Handling the batch.
    Handling,
    /// `commitSync` after handling the batch.
    CommitAfter,
    /// Committing positions synchronously before revoking (auto-commit).
    CommitRevoke,
    /// A consume-transform-produce member writing the batch's outputs
    /// (and its offsets) in a transaction.
    Transacting,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    BeforeProcess,
    AfterBatch,
    Revoke,
    Auto,
}

#[derive(Clone, Debug)]
enum Pending {
    Join,
    OffsetFetch,
    ListOffsets(PartitionId),
    Fetch(PartitionId),
    Commit {
        purpose: Purpose,
        attempt: u32,
        offsets: Vec<(PartitionId, u64)>,
    },
    /// A transactional request of a consume-transform-produce member.
    Txn,
    /// Its produce request to an output partition.
    Output(PartitionId),
}

#[derive(Clone, Debug)]
struct Part {
    partition: PartitionId,
    /// Next offset `poll` returns (`None` until known).
    position: Option<u64>,
    /// Next offset to fetch.
    fetch_at: u64,
    /// Request id of the fetch in flight.
    fetching: Option<u32>,
    /// Fetched records from `position` on.
    buffer: VecDeque<Record>,
    /// No fetch before this time (backoff after a failed fetch).
    retry_at: SimTime,
    /// The last offset the coordinator is known to hold for this group
    /// (at first, where consumption started: nothing to commit yet).
    committed: Option<u64>,
}

impl Part {
    /// A newly assigned partition, its position not known yet.
    fn new(partition: PartitionId) -> Part {
        Part {
            partition,
            position: None,
            fetch_at: 0,
            fetching: None,
            buffer: VecDeque::new(),
            retry_at: SimTime::ZERO,
            committed: None,
        }
    }
}

/// Stands in for a handler whose factory panicked: every record is
/// dead-lettered.
struct DeadLetterAll;

impl Handler for DeadLetterAll {
    fn handle(&mut self, _: &crate::handler::Delivery<'_>, _: &mut HandlerCx<'_>) -> Outcome {
        Outcome::Fail
    }
}

/// The request id of a request message.
fn request_id(msg: &Msg) -> u32 {
    match msg {
        Msg::Join { req, .. }
        | Msg::OffsetFetch { req, .. }
        | Msg::ListOffsets { req, .. }
        | Msg::Fetch { req, .. }
        | Msg::Commit { req, .. }
        | Msg::InitProducerId { req, .. }
        | Msg::AddPartitionsToTxn { req, .. }
        | Msg::EndTxn { req, .. }
        | Msg::TxnOffsetCommit { req, .. }
        | Msg::Produce { req, .. } => *req,
        _ => unreachable!("only requests are sent through Consumer::request"),
    }
}

/// The next attempt of a failed `commitSync`: `(offsets, purpose, attempt)`.
type RetryCommit = (Vec<(PartitionId, u64)>, Purpose, u32);

/// One record of the current batch.
#[derive(Clone, Copy, Debug)]
struct Item {
    partition: PartitionId,
    offset: u64,
    record: Record,
}

/// A consumer's volatile state (all of it: a crash rebuilds it).
pub(crate) struct Consumer {
    group: GroupId,
    handler: Box<dyn Handler>,
    /// The handler factory panicked with this message (reported at start).
    factory_panic: Option<String>,
    member: Option<u32>,
    generation: u32,
    phase: Phase,
    rejoin: bool,
    /// Cooperative protocol: a join is in flight while the loop goes on
    /// consuming the partitions this member owns.
    joining_behind: bool,
    /// Cooperative protocol: an assignment received while the loop was
    /// busy, applied at its next poll (where the Java client runs its
    /// rebalance callbacks).
    next_assignment: Option<Vec<PartitionId>>,
    parts: Vec<Part>,
    next_req: RequestIds,
    /// Requests awaiting a response: `(request id, destination, what)`.
    pending: Vec<(u32, NodeId, Pending, SimTime)>,
    /// One timer for the earliest request deadline.
    timeouts: Deadlines,
    batch: Vec<Item>,
    pos: usize,
    attempt: u32,
    /// Invalidates processing and backoff timers of earlier steps.
    step: u64,
    waiting: bool,
    poll_returned_at: SimTime,
    last_auto_commit: SimTime,
    /// When the last commit request was sent (any purpose).
    last_commit_sent: SimTime,
    heartbeat_running: bool,
    rr: usize,
    /// The next attempt of a `commitSync` that failed: `(offsets, purpose,
    /// attempt)`.
    retry_commit: Option<RetryCommit>,
    /// One timer for the `max.poll.interval.ms` deadline of the last poll
    /// that returned records.
    poll_deadline: Deadlines,
    /// No catch-up commit before this time (backoff after a failed one).
    commit_backoff_until: SimTime,
    /// The transactional producer of a consume-transform-produce member.
    output: Option<Box<Output>>,
}

impl Consumer {
    /// Consumer `index`'s incarnation `incarnation` (0 at the first start).
    pub fn new(layout: &Layout, index: usize, incarnation: u32) -> Consumer {
        let (node, group) = layout.consumers[index];
        let member = layout.groups[group.index()]
            .members
            .iter()
            .position(|m| *m == node)
            .unwrap_or(0);
        let output = Output::new(layout, group.index(), member, incarnation);
        // Request ids apart per incarnation: see [`RequestIds`].
        let next_req = RequestIds::new(incarnation);
        // The factory is user code too: a panic in it must not take the
        // harness down. The consumer then dead-letters everything, and the
        // panic is reported when it starts.
        let factory = &layout.groups[group.index()].handler;
        let (handler, factory_panic) = match run_user_code(|| factory()) {
            Ok(h) => (h, None),
            Err(message) => (Box::new(DeadLetterAll) as Box<dyn Handler>, Some(message)),
        };
        Consumer {
            group,
            handler,
            factory_panic,
            member: None,
            generation: 0,
            phase: Phase::Idle,
            rejoin: false,
            joining_behind: false,
            next_assignment: None,
            parts: Vec::new(),
            next_req,
            pending: Vec::new(),
            timeouts: Deadlines::default(),
            batch: Vec::with_capacity(
                layout.groups[group.index()].config.max_poll_records as usize,
            ),
            pos: 0,
            attempt: 1,
            step: 0,
            waiting: false,
            poll_returned_at: SimTime::ZERO,
            last_auto_commit: SimTime::ZERO,
            last_commit_sent: SimTime::ZERO,
            heartbeat_running: false,
            rr: 0,
            retry_commit: None,
            poll_deadline: Deadlines::default(),
            commit_backoff_until: SimTime::ZERO,
            output,
        }
    }

    /// Idle in `poll` with nothing buffered and no rebalance pending.
    pub fn idle(&self) -> bool {
        self.phase == Phase::Polling
            && !self.rejoin
            && !self.joining_behind
            && self.next_assignment.is_none()
            && self.member.is_some()
            && self.parts.iter().all(|p| p.buffer.is_empty())
            && self.output.as_deref().is_none_or(Output::ready)
    }

    /// The position on `p`, if this consumer owns it.
    pub fn position(&self, p: PartitionId) -> Option<u64> {
        self.parts
            .iter()
            .find(|x| x.partition == p)
            .and_then(|x| x.position)
    }

    fn coordinator(&self, layout: &Layout) -> NodeId {
        layout.groups[self.group.index()].coordinator
    }

    fn req(&mut self) -> u32 {
        self.next_req.next()
    }

    /// Takes the pending request `req` (of any kind but a transactional
    /// one, whose ids are counted apart: see [`Consumer::take_txn_pending`]).
    fn take_pending(&mut self, req: u32) -> Option<Pending> {
        self.take_entry((req, false))
    }

    /// Takes the pending transactional request `req`, if it is one.
    fn take_txn_pending(&mut self, req: u32) -> bool {
        self.take_entry((req, true)).is_some()
    }

    /// Takes the pending request `req`, transactional (`txn`) or not.
    fn take_entry(&mut self, (req, txn): (u32, bool)) -> Option<Pending> {
        let i = self
            .pending
            .iter()
            .position(|(r, _, p, _)| *r == req && matches!(p, Pending::Txn) == txn)?;
        Some(self.pending.remove(i).2)
    }

    /// Sends a request and remembers it until its response or `timeout`.
    fn request(
        &mut self,
        to: NodeId,
        msg: Msg,
        pending: Pending,
        timeout: SimTime,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let req = request_id(&msg);
        let deadline = cx.now + timeout;
        self.pending.push((req, to, pending, deadline));
        cx.send(to, msg);
        self.timeouts.arm(deadline, Timer::RequestTimeout, cx);
    }

    /// The connection to `peer` broke: every request in flight on it fails
    /// as if it had timed out.
    pub fn on_disconnect(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        peer: NodeId,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let failed: Vec<(u32, bool)> = self
            .pending
            .iter()
            .filter(|(_, to, _, _)| *to == peer)
            .map(|(r, _, p, _)| (*r, matches!(p, Pending::Txn)))
            .collect();
        for req in failed {
            if cx.crashed().is_some() {
                return;
            }
            self.timed_out(layout, durable, scratch, req, cx);
        }
    }

    pub fn start(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        if let Some(message) = self.factory_panic.take() {
            cx.history.panics.push(message);
            let panic = (cx.history.panics.len() - 1) as u32;
            cx.record(EventKind::HandlerFactoryPanicked {
                consumer: cx.me,
                panic,
            });
        }
        self.output_start(layout, cx);
        self.send_join(layout, cx);
    }

    pub fn on_message(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        msg: Msg,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        match msg {
            Msg::JoinResponse {
                req,
                member,
                generation,
                assignment,
            } => {
                if !matches!(self.take_pending(req), Some(Pending::Join)) {
                    return;
                }
                self.member = Some(member);
                self.generation = generation;
                if self.joining_behind {
                    // Cooperative: the member kept consuming while it
                    // rejoined; the new assignment is applied at its next
                    // poll (now, if the loop is waiting in one).
                    self.joining_behind = false;
                    self.next_assignment = Some(assignment);
                    if self.phase == Phase::Polling {
                        self.poll(layout, durable, scratch, cx);
                    }
                    return;
                }
                self.rejoin = false;
                self.parts = assignment.into_iter().map(Part::new).collect();
                if !self.heartbeat_running {
                    self.heartbeat_running = true;
                    let cfg = &layout.groups[self.group.index()].config;
                    cx.after(cfg.heartbeat_interval, Timer::Heartbeat);
                }
                self.phase = Phase::Resetting;
                self.fetch_committed(layout, cx);
                self.after_reset(layout, durable, scratch, cx);
            }
            Msg::OffsetFetchResponse {
                req,
                offsets,
                unstable,
            } => {
                if !matches!(self.take_pending(req), Some(Pending::OffsetFetch)) {
                    return;
                }
                if unstable {
                    // A transaction holds offsets of these partitions:
                    // ask again once it may have ended.
                    let cfg = &layout.groups[self.group.index()].config;
                    cx.after(
                        cfg.retry_backoff,
                        Timer::Resend {
                            what: Resend::OffsetFetch,
                        },
                    );
                    return;
                }
                for (p, committed) in offsets {
                    match committed {
                        Some(o) => {
                            self.set_position(p, o, true);
                            self.note_committed(&[(p, o)]);
                        }
                        None => self.reset_position(layout, durable, p, cx),
                    }
                }
                self.after_reset(layout, durable, scratch, cx);
            }
            Msg::ListOffsetsResponse {
                req,
                partition,
                end,
            } => {
                if !matches!(self.take_pending(req), Some(Pending::ListOffsets(_))) {
                    return;
                }
                let Some(end) = end else {
                    // Not the leader (any more): ask again after a backoff.
                    let cfg = &layout.groups[self.group.index()].config;
                    cx.after(
                        cfg.retry_backoff,
                        Timer::Resend {
                            what: Resend::ListOffsets(partition),
                        },
                    );
                    return;
                };
                // A position reset to the log end is not committed yet: the
                // next commitSync commits it (a restart before that would
                // reset to a later end and skip what came in between).
                self.set_position(partition, end, false);
                cx.record(EventKind::OffsetReset {
                    consumer: cx.me,
                    partition,
                    offset: end,
                    to_end: true,
                });
                self.after_reset(layout, durable, scratch, cx);
            }
            Msg::FetchResponse {
                req,
                partition,
                offset,
                records,
                out_of_range,
                not_leader,
            } => {
                if !matches!(self.take_pending(req), Some(Pending::Fetch(_))) {
                    return;
                }
                if not_leader {
                    // NOT_LEADER_OR_FOLLOWER: fetch again after a backoff,
                    // from the leader then known.
                    let cfg = &layout.groups[self.group.index()].config;
                    let at = cx.now + cfg.retry_backoff;
                    if let Some(part) = self.parts.iter_mut().find(|p| p.partition == partition) {
                        part.fetching = None;
                        part.retry_at = at;
                    }
                    cx.after(cfg.retry_backoff, Timer::Resend { what: Resend::Poll });
                    return;
                }
                if let Some(part) = self.parts.iter_mut().find(|p| p.partition == partition) {
                    part.fetching = None;
                    if out_of_range {
                        part.position = None;
                        part.buffer.clear();
                        self.reset_position(layout, durable, partition, cx);
                    } else if offset == part.fetch_at && part.position.is_some() {
                        part.fetch_at += records.len() as u64;
                        if part.buffer.is_empty() {
                            // The usual case (a partition is fetched only
                            // once its buffer is drained): the records
                            // become the buffer, without a copy.
                            part.buffer = records.into();
                        } else {
                            part.buffer.extend(records);
                        }
                    }
                }
                if self.phase == Phase::Polling {
                    self.poll(layout, durable, scratch, cx);
                }
            }
            Msg::HeartbeatResponse { error, generation } => {
                if generation != self.generation || self.member.is_none() {
                    return;
                }
                match error {
                    None => {}
                    Some(GroupError::RebalanceInProgress | GroupError::IllegalGeneration) => {
                        self.request_rejoin(layout, durable, scratch, cx);
                    }
                    Some(GroupError::UnknownMember) => {
                        self.member = None;
                        self.generation = 0;
                        self.request_rejoin(layout, durable, scratch, cx);
                    }
                }
            }
            Msg::CommitResponse { req, result } => {
                if let Some(Pending::Commit {
                    purpose, offsets, ..
                }) = self.take_pending(req)
                {
                    if result.is_ok() {
                        self.note_committed(&offsets);
                    }
                    self.commit_done(layout, durable, scratch, purpose, result, cx);
                }
            }
            Msg::InitProducerIdResponse { .. }
            | Msg::TxnResponse { .. }
            | Msg::ProduceResponse { .. }
            | Msg::TxnOffsetCommitResponse { .. } => {
                self.output_message(layout, durable, scratch, msg, cx);
            }
            _ => {}
        }
    }

    pub fn on_timer(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        timer: Timer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let cfg = &layout.groups[self.group.index()].config;
        match timer {
            Timer::PollDeadline => {
                self.poll_deadline.fired();
                // The deadline of the last poll that returned records: the
                // timer fired for an earlier one if the application polled
                // again since, and then waits for this one.
                let deadline = self.poll_returned_at + cfg.max_poll_interval + SimTime::from_us(1);
                if deadline > cx.now {
                    self.poll_deadline.arm(deadline, Timer::PollDeadline, cx);
                    return;
                }
                let busy = matches!(
                    self.phase,
                    Phase::Handling | Phase::CommitBefore | Phase::CommitAfter | Phase::Transacting
                );
                if let (true, Some(member)) = (busy, self.member) {
                    // The Java heartbeat thread leaves the group when the
                    // application has not polled in time. A static member
                    // sends no LeaveGroup (only its session timeout removes
                    // it) but forgets its member id and generation all the
                    // same, and rejoins at its next poll.
                    cx.record(EventKind::PollIntervalExceeded {
                        consumer: cx.me,
                        generation: self.generation,
                    });
                    if !cfg.static_membership {
                        cx.send(
                            self.coordinator(layout),
                            Msg::Leave {
                                group: self.group,
                                member,
                            },
                        );
                    }
                    self.member = None;
                    self.generation = 0;
                    self.rejoin = true;
                }
            }
            Timer::Heartbeat => {
                cx.after(cfg.heartbeat_interval, Timer::Heartbeat);
                if let Some(member) = self.member {
                    cx.send(
                        self.coordinator(layout),
                        Msg::Heartbeat {
                            group: self.group,
                            member,
                            generation: self.generation,
                        },
                    );
                }
            }
            Timer::RequestTimeout => {
                self.timeouts.fired();
                // The Java client closes a connection on which a request
                // timed out: the others in flight on it fail too.
                while let Some(&(_, peer, _, _)) =
                    self.pending.iter().find(|(_, _, _, d)| *d <= cx.now)
                {
                    self.on_disconnect(layout, durable, scratch, peer, cx);
                    if cx.crashed().is_some() {
                        return;
                    }
                }
                if let Some(next) = self.pending.iter().map(|(_, _, _, d)| *d).min() {
                    self.timeouts.arm(next, Timer::RequestTimeout, cx);
                }
            }
            Timer::Resend { what } => self.resend(layout, durable, scratch, what, cx),
            Timer::Processed { step } | Timer::Backoff { step }
                if step == self.step && self.phase == Phase::Handling =>
            {
                self.process(layout, durable, scratch, cx);
            }
            _ => {}
        }
    }

    /// A request got no response (or its connection broke): retry it, or
    /// give up as the application would.
    fn timed_out(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        req: (u32, bool),
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let cfg = &layout.groups[self.group.index()].config;
        let Some(pending) = self.take_entry(req) else {
            return;
        };
        match pending {
            Pending::Join => cx.after(cfg.retry_backoff, Timer::Resend { what: Resend::Join }),
            Pending::OffsetFetch => cx.after(
                cfg.retry_backoff,
                Timer::Resend {
                    what: Resend::OffsetFetch,
                },
            ),
            Pending::ListOffsets(p) => cx.after(
                cfg.retry_backoff,
                Timer::Resend {
                    what: Resend::ListOffsets(p),
                },
            ),
            Pending::Fetch(p) => {
                let at = cx.now + cfg.retry_backoff;
                if let Some(part) = self.parts.iter_mut().find(|x| x.partition == p) {
                    part.fetching = None;
                    part.retry_at = at;
                }
                cx.after(cfg.retry_backoff, Timer::Resend { what: Resend::Poll });
            }
            Pending::Commit {
                purpose,
                attempt,
                offsets,
            } => {
                if purpose != Purpose::Auto && attempt < cfg.commit_attempts_max {
                    self.retry_commit = Some((offsets, purpose, attempt + 1));
                    cx.after(
                        cfg.retry_backoff,
                        Timer::Resend {
                            what: Resend::Commit,
                        },
                    );
                } else {
                    self.commit_timed_out(layout, durable, scratch, purpose, cx);
                }
            }
            Pending::Txn => cx.after(cfg.retry_backoff, Timer::Resend { what: Resend::Txn }),
            Pending::Output(partition) => cx.after(
                cfg.retry_backoff,
                Timer::Resend {
                    what: Resend::Output { partition },
                },
            ),
        }
    }

    /// Sends a failed request again, if it is still wanted.
    fn resend(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        what: Resend,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let waiting =
            |c: &Consumer, f: fn(&Pending) -> bool| c.pending.iter().any(|(_, _, p, _)| f(p));
        match what {
            Resend::Join => {
                if waiting(self, |p| matches!(p, Pending::Join)) {
                    return;
                }
                if self.phase == Phase::Joining {
                    self.send_join(layout, cx);
                } else if self.joining_behind {
                    self.send_join_request(layout, cx);
                }
            }
            Resend::OffsetFetch => {
                if self.phase == Phase::Resetting
                    && !waiting(self, |p| matches!(p, Pending::OffsetFetch))
                {
                    self.fetch_committed(layout, cx);
                }
            }
            Resend::ListOffsets(p) => {
                let unknown = self
                    .parts
                    .iter()
                    .any(|x| x.partition == p && x.position.is_none());
                let asked = self
                    .pending
                    .iter()
                    .any(|(_, _, x, _)| matches!(x, Pending::ListOffsets(q) if *q == p));
                if self.phase == Phase::Resetting && unknown && !asked {
                    self.reset_position(layout, durable, p, cx);
                }
            }
            Resend::Poll => {
                if self.phase == Phase::Polling {
                    self.poll(layout, durable, scratch, cx);
                }
            }
            Resend::Commit => {
                let Some((offsets, purpose, attempt)) = self.retry_commit.take() else {
                    return;
                };
                let waiting = match purpose {
                    Purpose::BeforeProcess => self.phase == Phase::CommitBefore,
                    Purpose::AfterBatch => self.phase == Phase::CommitAfter,
                    Purpose::Revoke => self.phase == Phase::CommitRevoke,
                    Purpose::Auto => false,
                };
                if waiting {
                    self.send_commit(layout, durable, scratch, offsets, purpose, attempt, cx);
                }
            }
            Resend::Txn | Resend::Output { .. } => self.output_resend(layout, durable, what, cx),
        }
    }

    // ----- membership -----

    fn send_join(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        self.phase = Phase::Joining;
        self.send_join_request(layout, cx);
    }

    /// Sends a JoinGroup, with the partitions this member owns under the
    /// cooperative protocol.
    fn send_join_request(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        let req = self.req();
        let cfg = &layout.groups[self.group.index()].config;
        let owned = if cfg.assignor.cooperative() {
            self.parts.iter().map(|p| p.partition).collect()
        } else {
            Vec::new()
        };
        let msg = Msg::Join {
            req,
            group: self.group,
            member: self.member,
            instance: cfg.static_membership.then_some(cx.me),
            owned,
        };
        // Java's join timeout: the rebalance timeout plus five seconds.
        let timeout = cfg.max_poll_interval + SimTime::from_ms(5_000);
        self.request(self.coordinator(layout), msg, Pending::Join, timeout, cx);
    }

    fn request_rejoin(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        self.rejoin = true;
        if self.phase == Phase::Polling {
            self.poll(layout, durable, scratch, cx);
        }
    }

    /// Eager revocation: give up every partition, then rejoin. Under the
    /// cooperative protocol only a member that lost its membership comes
    /// here (its partitions are lost, not revoked: no commit).
    fn rejoin_group(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let cfg = &layout.groups[self.group.index()].config;
        self.next_assignment = None;
        if self.joining_behind {
            // A join is already in flight: wait for its answer.
            self.joining_behind = false;
            self.parts.clear();
            self.phase = Phase::Joining;
            return;
        }
        if cfg.commit == CommitMode::Auto && self.member.is_some() {
            let offsets = self.positions();
            if !offsets.is_empty() {
                self.parts.clear();
                self.phase = Phase::CommitRevoke;
                self.send_commit(layout, durable, scratch, offsets, Purpose::Revoke, 1, cx);
                return;
            }
        }
        self.parts.clear();
        self.send_join(layout, cx);
    }

    /// Cooperative protocol: applies an assignment received while the
    /// loop went on. Partitions left out are revoked (their positions not
    /// known committed are committed first) and the member rejoins, so that
    /// a follow-up rebalance can hand them to their new owners; partitions
    /// added start from their committed offsets. Whether the loop waits on
    /// something before it can poll again.
    fn apply_assignment(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        assignment: Vec<PartitionId>,
        cx: &mut Cx<'_, Msg, Timer>,
    ) -> bool {
        let (group, generation, me) = (self.group, self.generation, cx.me);
        let auto = layout.groups[group.index()].config.commit == CommitMode::Auto;
        let mut revoked = Vec::new();
        let mut any = false;
        self.parts.retain(|p| {
            if assignment.contains(&p.partition) {
                return true;
            }
            cx.history.record(
                cx.now,
                EventKind::IncrementalRevoke {
                    group,
                    consumer: me,
                    generation,
                    partition: p.partition,
                },
            );
            any = true;
            // The revocation callback commits what was consumed from the
            // partition (everything under auto-commit; under manual
            // commits, a position a rejected commit left uncommitted), so
            // its new owner does not read it again.
            match p.position {
                Some(pos) if auto || p.committed != Some(pos) => {
                    revoked.push((p.partition, pos));
                }
                _ => {}
            }
            false
        });
        let mut added = false;
        for partition in assignment {
            if self.parts.iter().any(|p| p.partition == partition) {
                continue;
            }
            cx.record(EventKind::IncrementalAssign {
                group,
                consumer: me,
                generation,
                partition,
            });
            self.parts.push(Part::new(partition));
            added = true;
        }
        // KIP-429: a member that gave partitions up rejoins at once.
        self.rejoin |= any;
        if !revoked.is_empty() {
            self.phase = Phase::CommitRevoke;
            self.send_commit(layout, durable, scratch, revoked, Purpose::Revoke, 1, cx);
            return true;
        }
        if added {
            self.phase = Phase::Resetting;
            self.fetch_committed(layout, cx);
            self.after_reset(layout, durable, scratch, cx);
            return true;
        }
        false
    }

    /// A revocation commit is done (or failed): an eager member rejoins,
    /// a cooperative one polls on.
    fn after_revoke_commit(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        if self.phase != Phase::CommitRevoke {
            return;
        }
        if layout.groups[self.group.index()]
            .config
            .assignor
            .cooperative()
            && self.member.is_some()
        {
            self.poll(layout, durable, scratch, cx);
        } else {
            self.send_join(layout, cx);
        }
    }

    // ----- positions -----

    fn fetch_committed(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        let partitions: Vec<_> = self
            .parts
            .iter()
            .filter(|p| p.position.is_none())
            .map(|p| p.partition)
            .collect();
        if partitions.is_empty() {
            return;
        }
        let req = self.req();
        let msg = Msg::OffsetFetch {
            req,
            group: self.group,
            partitions,
        };
        let timeout = layout.groups[self.group.index()].config.request_timeout;
        self.request(
            self.coordinator(layout),
            msg,
            Pending::OffsetFetch,
            timeout,
            cx,
        );
    }

    fn reset_position(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        p: PartitionId,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let cfg = &layout.groups[self.group.index()].config;
        match cfg.offset_reset {
            // Resetting to the beginning needs no commit: a restart resets
            // to the same place.
            OffsetReset::Earliest => {
                self.set_position(p, 0, true);
                cx.record(EventKind::OffsetReset {
                    consumer: cx.me,
                    partition: p,
                    offset: 0,
                    to_end: false,
                });
            }
            OffsetReset::Latest => {
                let Some(leader) = durable.leader_of(layout, p) else {
                    // Offline: ask again after a backoff.
                    cx.after(
                        cfg.retry_backoff,
                        Timer::Resend {
                            what: Resend::ListOffsets(p),
                        },
                    );
                    return;
                };
                let req = self.req();
                let msg = Msg::ListOffsets { req, partition: p };
                let timeout = cfg.request_timeout;
                self.request(leader, msg, Pending::ListOffsets(p), timeout, cx);
            }
        }
    }

    /// Sets where consumption of `p` starts; `settled`: that position
    /// needs no commit.
    fn set_position(&mut self, p: PartitionId, offset: u64, settled: bool) {
        if let Some(part) = self.parts.iter_mut().find(|x| x.partition == p) {
            part.position = Some(offset);
            if settled {
                part.committed.get_or_insert(offset);
            }
            part.fetch_at = offset;
            part.buffer.clear();
        }
    }

    /// Once every assigned partition has a position, start polling.
    fn after_reset(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        if self.phase == Phase::Resetting && self.parts.iter().all(|p| p.position.is_some()) {
            self.poll(layout, durable, scratch, cx);
        }
    }

    fn note_committed(&mut self, offsets: &[(PartitionId, u64)]) {
        for &(p, o) in offsets {
            if let Some(part) = self.parts.iter_mut().find(|x| x.partition == p) {
                part.committed = Some(o);
            }
        }
    }

    /// Positions not yet known to be committed.
    fn uncommitted(&self) -> Vec<(PartitionId, u64)> {
        self.parts
            .iter()
            .filter_map(|p| match (p.position, p.committed) {
                (Some(pos), c) if c != Some(pos) => Some((p.partition, pos)),
                _ => None,
            })
            .collect()
    }

    /// `(partition, position)` of every partition with a known position.
    fn positions(&self) -> Vec<(PartitionId, u64)> {
        self.parts
            .iter()
            .filter_map(|p| p.position.map(|o| (p.partition, o)))
            .collect()
    }

    // ----- the poll loop -----

    fn poll(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        self.phase = Phase::Polling;
        let cooperative = layout.groups[self.group.index()]
            .config
            .assignor
            .cooperative();
        if let Some(assignment) = self.next_assignment.take()
            && self.member.is_some()
            && self.apply_assignment(layout, durable, scratch, assignment, cx)
        {
            return;
        }
        if cooperative && self.rejoin && self.member.is_some() {
            // Rejoin in the background and go on consuming.
            self.rejoin = false;
            if !self.joining_behind {
                self.joining_behind = true;
                self.send_join_request(layout, cx);
            }
        }
        if self.rejoin || self.member.is_none() {
            self.rejoin_group(layout, durable, scratch, cx);
            return;
        }
        if self.output.as_deref().is_some_and(|o| !o.ready()) {
            // A consume-transform-produce member waits for its producer
            // to be initialized before it takes records.
            self.ensure_fetches(layout, durable, cx);
            return;
        }
        let cfg = &layout.groups[self.group.index()].config;
        if cfg.commit == CommitMode::Auto
            && cx.now.since(self.last_auto_commit) >= cfg.auto_commit_interval
        {
            self.last_auto_commit = cx.now;
            let offsets = self.positions();
            if !offsets.is_empty() {
                self.send_commit(layout, durable, scratch, offsets, Purpose::Auto, 1, cx);
            }
        }
        if self.take_batch(cfg.max_poll_records) {
            self.poll_returned_at = cx.now;
            // The Java heartbeat thread notices a missed poll deadline
            // within retry.backoff.ms; check right after it passes. One
            // timer stands for every poll's deadline (they only move
            // later), instead of one per poll.
            self.poll_deadline.arm(
                cx.now + cfg.max_poll_interval + SimTime::from_us(1),
                Timer::PollDeadline,
                cx,
            );
            if cfg.commit == CommitMode::BeforeProcess {
                self.phase = Phase::CommitBefore;
                let offsets = self.batch_offsets();
                self.send_commit(
                    layout,
                    durable,
                    scratch,
                    offsets,
                    Purpose::BeforeProcess,
                    1,
                    cx,
                );
            } else {
                self.begin_handling(layout, durable, scratch, cx);
            }
            return;
        }
        // The application's loop commits after every poll, also an empty
        // one (`commitSync()` of all consumed positions), so a commit that
        // failed earlier is made good once it has nothing new to handle.
        // Positions it knows committed are re-sent only when it has sent
        // no commit for `auto_commit_interval` (Java re-sends them on every
        // poll): that repairs a committed offset that went backwards (a
        // stale commit accepted after a newer one) with few extra events.
        let commits = cfg.commit != CommitMode::Auto && self.commits_offsets(layout);
        if commits && cx.now < self.commit_backoff_until {
            cx.after(
                self.commit_backoff_until.since(cx.now),
                Timer::Resend { what: Resend::Poll },
            );
        } else if commits {
            let mut offsets = self.uncommitted();
            if offsets.is_empty() && cx.now.since(self.last_commit_sent) >= cfg.auto_commit_interval
            {
                offsets = self.positions();
            }
            if !offsets.is_empty() {
                self.batch.clear();
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
        } else if self.output.is_some() && !self.uncommitted().is_empty() {
            // A stage whose poll moved past transaction markers only
            // commits those positions in a transaction of their own, as
            // Kafka Streams commits `consumer.position()` (KAFKA-6607):
            // else its committed offset would stay on the marker.
            self.batch.clear();
            return self.output_batch_done(layout, durable, scratch, cx);
        }
        self.ensure_fetches(layout, durable, cx);
    }

    /// Moves up to `max` buffered records into the batch, a partition at a
    /// time starting from a rotating one. Advances positions.
    fn take_batch(&mut self, max: u32) -> bool {
        self.batch.clear();
        let max = max as usize;
        let n = self.parts.len();
        // `rr` may be stale if the assignment shrank since.
        let mut i = if n > 0 { self.rr % n } else { 0 };
        for _ in 0..n {
            let part = &mut self.parts[i];
            i = if i + 1 == n { 0 } else { i + 1 };
            let Some(mut offset) = part.position else {
                continue;
            };
            // Read in place, then dropped from the buffer at once.
            let mut taken = 0;
            let (front, back) = part.buffer.as_slices();
            for record in front.iter().chain(back) {
                if self.batch.len() >= max {
                    break;
                }
                taken += 1;
                // A transaction marker, or an aborted record a
                // read_committed fetch flagged, is skipped: the position
                // moves past it, the application never sees it.
                if record.is_data() {
                    self.batch.push(Item {
                        partition: part.partition,
                        offset,
                        record: *record,
                    });
                }
                offset += 1;
            }
            if taken > 0 {
                part.buffer.drain(..taken);
            }
            part.position = Some(offset);
        }
        if n > 0 {
            self.rr = (self.rr + 1) % n;
        }
        !self.batch.is_empty()
    }

    fn ensure_fetches(&mut self, layout: &Layout, durable: &Durable, cx: &mut Cx<'_, Msg, Timer>) {
        let cfg = &layout.groups[self.group.index()].config;
        for i in 0..self.parts.len() {
            let part = &self.parts[i];
            if part.position.is_none()
                || part.fetching.is_some()
                || !part.buffer.is_empty()
                || part.retry_at > cx.now
            {
                continue;
            }
            let (partition, offset) = (part.partition, part.fetch_at);
            let Some(to) = durable.leader_of(layout, partition) else {
                // Offline: look again after a backoff.
                self.parts[i].retry_at = cx.now + cfg.retry_backoff;
                cx.after(cfg.retry_backoff, Timer::Resend { what: Resend::Poll });
                continue;
            };
            let req = self.req();
            self.parts[i].fetching = Some(req);
            let msg = Msg::Fetch {
                req,
                partition,
                offset,
            };
            self.request(
                to,
                msg,
                Pending::Fetch(partition),
                cfg.request_timeout + cfg.fetch_max_wait,
                cx,
            );
        }
    }

    /// `(partition, last offset + 1)` for each partition in the batch.
    fn batch_offsets(&self) -> Vec<(PartitionId, u64)> {
        let mut out: Vec<(PartitionId, u64)> = Vec::new();
        for item in &self.batch {
            match out.iter_mut().find(|(p, _)| *p == item.partition) {
                Some(e) => e.1 = e.1.max(item.offset + 1),
                None => out.push((item.partition, item.offset + 1)),
            }
        }
        out
    }

    // ----- commits -----

    #[allow(clippy::too_many_arguments)]
    fn send_commit(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        offsets: Vec<(PartitionId, u64)>,
        purpose: Purpose,
        attempt: u32,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let Some(member) = self.member else {
            // The client knows it is no longer in the group: the commit
            // fails without being sent (CommitFailedException).
            cx.record(EventKind::CommitRejected {
                group: self.group,
                consumer: cx.me,
                generation: self.generation,
                reason: CommitError::UnknownMember,
            });
            self.commit_done(
                layout,
                durable,
                scratch,
                purpose,
                Err(CommitError::UnknownMember),
                cx,
            );
            return;
        };
        self.last_commit_sent = cx.now;
        let req = self.req();
        let msg = Msg::Commit {
            req,
            group: self.group,
            member,
            generation: self.generation,
            offsets: offsets.clone(),
        };
        let pending = Pending::Commit {
            purpose,
            attempt,
            offsets,
        };
        let timeout = layout.groups[self.group.index()].config.request_timeout;
        self.request(self.coordinator(layout), msg, pending, timeout, cx);
    }

    fn commit_done(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        purpose: Purpose,
        result: Result<(), CommitError>,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        match (purpose, result) {
            (Purpose::Auto, _) => {}
            (Purpose::Revoke, _) => self.after_revoke_commit(layout, durable, scratch, cx),
            (Purpose::BeforeProcess, Ok(())) => {
                if self.phase != Phase::CommitBefore
                    || cx.crash_point(CrashPoint::AfterCommit, None)
                {
                    return;
                }
                self.begin_handling(layout, durable, scratch, cx);
            }
            (Purpose::AfterBatch, Ok(())) => {
                if self.phase != Phase::CommitAfter || cx.crash_point(CrashPoint::AfterCommit, None)
                {
                    return;
                }
                self.poll(layout, durable, scratch, cx);
            }
            (Purpose::BeforeProcess | Purpose::AfterBatch, Err(_)) => {
                // CommitFailedException: the group moved on. The batch is
                // abandoned; rejoining restarts from the committed offsets.
                if matches!(self.phase, Phase::CommitBefore | Phase::CommitAfter) {
                    self.commit_backoff_until =
                        cx.now + layout.groups[self.group.index()].config.retry_backoff;
                    self.batch.clear();
                    self.rejoin = true;
                    self.poll(layout, durable, scratch, cx);
                }
            }
        }
    }

    fn commit_timed_out(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        purpose: Purpose,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        match purpose {
            Purpose::Auto => {}
            Purpose::Revoke => self.after_revoke_commit(layout, durable, scratch, cx),
            // commitSync threw a timeout: the application skips the batch
            // (commit-before-process) or moves on (process-then-commit);
            // later commits cover these offsets if they succeed.
            Purpose::BeforeProcess | Purpose::AfterBatch => {
                if matches!(self.phase, Phase::CommitBefore | Phase::CommitAfter) {
                    self.commit_backoff_until =
                        cx.now + layout.groups[self.group.index()].config.retry_backoff;
                    self.batch.clear();
                    self.poll(layout, durable, scratch, cx);
                }
            }
        }
    }

    // ----- handling -----

    fn begin_handling(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        self.phase = Phase::Handling;
        self.pos = 0;
        self.attempt = 1;
        self.waiting = false;
        if cx.crash_point(CrashPoint::BeforeHandle, None) {
            return;
        }
        self.process(layout, durable, scratch, cx);
    }

    /// Handles records of the batch until one needs time to pass.
    fn process(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let cfg = &layout.groups[self.group.index()].config;
        // Whether the node is slow changes only between steps: asked once.
        let slow = cx.env.as_ref().and_then(|e| e.slow_processing(cx.me));
        // The group's store, looked up once for the records handled here.
        let store = &mut durable.stores[self.group.index()];
        loop {
            let Some(&item) = self.batch.get(self.pos) else {
                return self.batch_done(layout, durable, scratch, cx);
            };
            if !self.waiting {
                if self.attempt == 1 {
                    // The record is handed to the handler now; its
                    // processing time runs from here.
                    cx.record(EventKind::Delivered {
                        consumer: cx.me,
                        partition: item.partition,
                        offset: item.offset,
                        msg: item.record.msg,
                        key: item.record.entity,
                        generation: self.generation,
                    });
                }
                let pt = match slow {
                    Some(t) => t,
                    None => {
                        let (lo, hi) = cfg.processing;
                        if hi.as_us() == 0 {
                            SimTime::ZERO
                        } else {
                            SimTime::from_us(cx.rngs.0.between(lo.as_us(), hi.as_us()))
                        }
                    }
                };
                if pt > SimTime::ZERO {
                    self.step += 1;
                    self.waiting = true;
                    cx.after(pt, Timer::Processed { step: self.step });
                    return;
                }
            }
            self.waiting = false;
            let settle = self.invoke(item, layout, cfg.handler_attempts_max, store, scratch, cx);
            if cx.crashed().is_some() {
                return;
            }
            match settle {
                Settle::Retry => {
                    self.attempt += 1;
                    self.step += 1;
                    cx.after(
                        cfg.handler_retry_backoff,
                        Timer::Backoff { step: self.step },
                    );
                    return;
                }
                Settle::Ok | Settle::DeadLettered | Settle::Panicked => {
                    self.pos += 1;
                    self.attempt = 1;
                    if self.pos < self.batch.len() && cx.crash_point(CrashPoint::MidBatch, None) {
                        return;
                    }
                }
            }
        }
    }

    /// Runs the handler on the current record, `item`, with the group's
    /// `store`, and records how it settled (`max_attempts`: the group's
    /// `handler_attempts_max`).
    fn invoke(
        &mut self,
        item: Item,
        layout: &Layout,
        max_attempts: u32,
        store: &mut Store,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) -> Settle {
        let r = item.record;
        let me = cx.me;
        let delivery = layout.delivery(item.partition, item.offset, &r, self.attempt);
        let now = cx.now;
        let env: Option<&mut dyn Env> = match &mut cx.env {
            Some(env) => Some(&mut **env),
            None => None,
        };
        let mut hcx = HandlerCx::new(
            now,
            me,
            r.msg,
            r.entity,
            store,
            scratch,
            cx.history,
            env,
            &mut cx.rngs.1,
        );
        let handler = &mut self.handler;
        let result = run_user_code(|| handler.handle(&delivery, &mut hcx));
        let crashed = hcx.crash();
        drop(hcx);
        if let Some(point) = crashed {
            cx.crashed_inside(point);
            return Settle::Ok;
        }
        let settle = match result {
            Ok(Outcome::Ok) => {
                if self.output.is_some() {
                    self.emit(layout, &item, me);
                }
                Settle::Ok
            }
            Ok(Outcome::Fail) => Settle::DeadLettered,
            Ok(Outcome::Retry) if self.attempt < max_attempts => Settle::Retry,
            Ok(Outcome::Retry) => Settle::DeadLettered,
            Err(message) => {
                cx.history.panics.push(message);
                let panic = (cx.history.panics.len() - 1) as u32;
                cx.record(EventKind::HandlerPanicked {
                    consumer: me,
                    msg: r.msg,
                    panic,
                });
                Settle::Panicked
            }
        };
        cx.record(EventKind::Handled {
            consumer: me,
            partition: item.partition,
            offset: item.offset,
            msg: r.msg,
            settle,
        });
        settle
    }

    fn batch_done(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        scratch: &mut TxBuffer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        if self.output.is_some() {
            // A transaction writes the outputs (and, unless they are
            // committed outside it, the offsets).
            return self.output_batch_done(layout, durable, scratch, cx);
        }
        if cx.crash_point(CrashPoint::AfterHandleBeforeCommit, None) {
            return;
        }
        let cfg = &layout.groups[self.group.index()].config;
        if cfg.commit == CommitMode::AfterBatch {
            self.phase = Phase::CommitAfter;
            let offsets = self.batch_offsets();
            self.send_commit(
                layout,
                durable,
                scratch,
                offsets,
                Purpose::AfterBatch,
                1,
                cx,
            );
        } else {
            self.poll(layout, durable, scratch, cx);
        }
    }
}
