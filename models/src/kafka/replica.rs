//! The partition replicas a broker hosts, as leader or follower.
//!
//! Kafka's replication protocol, as its documentation and
//! `kafka.cluster.Partition` describe it:
//!
//! - a **leader** appends produced batches, tagged with its leader epoch;
//!   followers fetch from it. Its high watermark (HW) is the smallest log
//!   end offset over the ISR (while an ISR change is pending, over the
//!   larger of the two sets); consumers read only below it.
//! - `acks=all` is answered when the HW passes the batch, or with
//!   `REQUEST_TIMED_OUT` when the producer's request timeout runs out first;
//!   `min.insync.replicas` is checked when the batch arrives
//!   (`NOT_ENOUGH_REPLICAS`, nothing appended) and again when it is
//!   committed (`NOT_ENOUGH_REPLICAS_AFTER_APPEND`).
//! - a follower that has not caught up with the leader's log end for
//!   `replica.lag.time.max.ms` is dropped from the ISR, and one that
//!   reaches the HW again is added back: the leader asks the controller
//!   (`AlterPartition`), naming its epoch, and applies the change only
//!   once the controller accepts it.
//! - a **follower** fetches with the epoch of its last batch; when its log
//!   diverged from the leader's (records a deposed leader appended that no
//!   one replicated), the leader answers with where that epoch ends on its
//!   log, and the follower truncates there (KIP-101/KIP-279, done within
//!   the fetch as since Kafka 2.7).
//!
//! Roles come from the controller's metadata: a broker leads a partition
//! from the epoch in which the controller chose it, and follows otherwise.
//! A broker cut off from the controller goes on believing it leads; it
//! cannot change its ISR then, so `acks=all` writes to it wait and time
//! out, while `acks=1` writes are acknowledged and later truncated.

use crate::event::EventKind;
use crate::ids::{NodeId, PartitionId};
use crate::model::{Cx, Deadlines};
use crate::time::SimTime;

use super::broker::{ProducerSeqs, apply_seq};
use super::config::Acks;
use super::controller::{Controller, bit};
use super::log::LogBatch;
use super::protocol::{Msg, PartitionState, ProduceResult, Record, ReplicaFetchResult, Timer};
use super::request_ids::RequestIds;
use super::world::{Durable, Layout, Role};

/// What a leader knows of one follower (Kafka's `Replica` state).
#[derive(Clone, Copy, Debug)]
struct Follower {
    /// The follower's broker index.
    broker: usize,
    /// Its log end offset, as its last fetch showed.
    leo: u64,
    /// When it was last caught up with the leader's log end.
    last_caught_up: SimTime,
    /// The leader's log end at the follower's previous fetch, and when.
    last_fetch_leo: u64,
    last_fetch_time: SimTime,
}

#[derive(Clone, Copy, Debug)]
struct PendingIsr {
    req: u32,
    isr: u64,
    deadline: SimTime,
}

#[derive(Clone, Debug)]
enum Role2 {
    /// Not leading, and no leader to follow.
    Idle,
    Leader {
        followers: Vec<Follower>,
        pending: Option<PendingIsr>,
        /// The log end when this epoch began.
        epoch_start: u64,
    },
    Follower {
        /// The fetch in flight: request id and when it times out.
        fetching: Option<(u32, SimTime)>,
        /// No fetch before this (backoff after a failed one).
        retry_at: SimTime,
    },
}

#[derive(Clone, Debug)]
struct Part {
    /// Index of this broker's log of the partition.
    log: usize,
    state: PartitionState,
    role: Role2,
}

/// An `acks=all` produce waiting for the HW.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    from: NodeId,
    req: u32,
    batch: u32,
    partition: PartitionId,
    /// The HW must reach this.
    end: u64,
    result: ProduceResult,
    deadline: SimTime,
}

/// A follower's fetch held until data arrives.
#[derive(Clone, Copy, Debug)]
struct ParkedFetch {
    from: NodeId,
    req: u32,
    partition: PartitionId,
    offset: u64,
    deadline: SimTime,
}

/// A produce request as the leader takes it.
pub(crate) struct Produce<'a> {
    pub from: NodeId,
    pub req: u32,
    pub partition: PartitionId,
    pub batch: u32,
    pub attempt: u32,
    pub pid: u32,
    pub epoch: u16,
    pub base_seq: u32,
    pub acks: Acks,
    pub records: &'a [Record],
}

/// A broker's replicas (volatile: a restart learns its roles again from the
/// controller; the logs are durable).
#[derive(Debug)]
pub(crate) struct Replicas {
    node: NodeId,
    incarnation: u32,
    version: u64,
    parts: Vec<Option<Part>>,
    waiting: Vec<Waiting>,
    parked: Vec<ParkedFetch>,
    deadlines: Deadlines,
    next_req: RequestIds,
    fetch_timeout: SimTime,
    /// Partitions whose HW moved or whose leadership ended since the
    /// broker last looked: its parked consumer fetches there are due.
    pub woken: Vec<PartitionId>,
}

impl Replicas {
    pub fn new(layout: &Layout, node: NodeId, incarnation: u32) -> Replicas {
        Replicas {
            node,
            incarnation,
            version: 0,
            parts: vec![None; layout.partitions.len()],
            waiting: Vec::new(),
            parked: Vec::new(),
            deadlines: Deadlines::default(),
            // Apart per incarnation: see [`RequestIds`].
            next_req: RequestIds::new(incarnation),
            fetch_timeout: layout.broker_config.replica_fetch_timeout,
            woken: Vec::new(),
        }
    }

    pub fn start(&mut self, layout: &Layout, durable: &mut Durable, cx: &mut Cx<'_, Msg, Timer>) {
        if self.incarnation == 0 {
            // The topics were created before the run: a first start knows
            // the initial assignment.
            let initial = Controller::initial_metadata(layout);
            self.apply_metadata(layout, durable, 1, &initial, cx);
        }
        self.heartbeat(layout, cx);
        cx.after(
            SimTime::from_us(layout.broker_config.replica_lag_time_max.as_us() / 2),
            Timer::IsrCheck,
        );
    }

    fn heartbeat(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        if let Some(controller) = layout.controller {
            cx.send(
                controller,
                Msg::BrokerHeartbeat {
                    incarnation: self.incarnation,
                    version: self.version,
                },
            );
        }
        cx.after(
            layout.broker_config.heartbeat_interval,
            Timer::BrokerHeartbeat,
        );
    }

    /// Whether this broker leads `p` (as far as it knows).
    pub fn leads(&self, p: PartitionId) -> bool {
        matches!(
            self.parts[p.index()],
            Some(Part {
                role: Role2::Leader { .. },
                ..
            })
        )
    }

    /// This broker's log of `p`, if it holds a replica.
    pub fn log_of(&self, layout: &Layout, p: PartitionId) -> Option<usize> {
        layout.log_index(p, self.node)
    }

    // ----- metadata -----

    pub fn apply_metadata(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        version: u64,
        states: &[PartitionState],
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        if version <= self.version {
            return;
        }
        self.version = version;
        for (p, &new) in states.iter().enumerate() {
            let partition = PartitionId(p as u16);
            let Some(log) = layout.log_index(partition, self.node) else {
                continue;
            };
            let known = self.parts[p].as_ref().map(|x| x.state);
            match known {
                Some(cur) if new.leader_epoch < cur.leader_epoch => {}
                Some(cur) if new.leader_epoch == cur.leader_epoch => {
                    if new.partition_epoch > cur.partition_epoch {
                        let part = self.parts[p].as_mut().expect("known");
                        part.state = new;
                        if let Role2::Leader { pending, .. } = &mut part.role
                            && pending.is_some_and(|q| q.isr == new.isr)
                        {
                            *pending = None;
                        }
                        self.advance_hw(layout, durable, partition, cx);
                    }
                }
                _ => self.take_role(layout, durable, partition, log, new, cx),
            }
        }
        self.arm(cx);
    }

    /// Takes up the role `state` gives this broker in a new leader epoch.
    fn take_role(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        p: PartitionId,
        log: usize,
        state: PartitionState,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let was_leader = self.leads(p);
        let role = if state.leader == Some(self.node) {
            let end = durable.logs[log].end();
            let followers = layout.partitions[p.index()]
                .replicas
                .iter()
                .filter(|r| **r != self.node)
                .filter_map(|r| layout.broker_index(*r))
                .map(|broker| Follower {
                    broker,
                    leo: 0,
                    last_caught_up: if state.isr & bit(broker) != 0 {
                        cx.now
                    } else {
                        SimTime::ZERO
                    },
                    last_fetch_leo: end,
                    last_fetch_time: cx.now,
                })
                .collect();
            Role2::Leader {
                followers,
                pending: None,
                epoch_start: end,
            }
        } else if state.leader.is_some() {
            Role2::Follower {
                fetching: None,
                retry_at: cx.now,
            }
        } else {
            Role2::Idle
        };
        self.parts[p.index()] = Some(Part { log, state, role });
        if was_leader && !self.leads(p) {
            // Deposed: what waited on this leadership is answered.
            let mut i = 0;
            while i < self.waiting.len() {
                if self.waiting[i].partition == p {
                    let w = self.waiting.remove(i);
                    respond(
                        w.from,
                        w.req,
                        w.batch,
                        ProduceResult::NotLeaderOrFollower,
                        cx,
                    );
                } else {
                    i += 1;
                }
            }
            self.answer_parked(layout, durable, |f| f.partition == p, cx);
            self.woken.push(p);
        }
        if self.leads(p) {
            self.advance_hw(layout, durable, p, cx);
        } else {
            self.send_fetch(durable, p, cx);
        }
    }

    // ----- leading -----

    /// A produce request on a replicated partition.
    pub fn produce(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        r: Produce<'_>,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let p = r.partition;
        let reply = r.acks != Acks::Zero;
        let Some(part) = self.parts[p.index()].as_ref().filter(|_| self.leads(p)) else {
            if reply {
                respond(
                    r.from,
                    r.req,
                    r.batch,
                    ProduceResult::NotLeaderOrFollower,
                    cx,
                );
            }
            return;
        };
        let min_isr = u32::from(layout.partitions[p.index()].replication.min_insync);
        if r.acks == Acks::All && part.state.isr.count_ones() < min_isr {
            respond(r.from, r.req, r.batch, ProduceResult::NotEnoughReplicas, cx);
            return;
        }
        let log = part.log;
        let leader_epoch = part.state.leader_epoch;
        let result = super::broker::append_produce(
            durable,
            log,
            Some(leader_epoch),
            self.node,
            r.from,
            p,
            r.batch,
            r.attempt,
            (r.pid, r.epoch),
            r.base_seq,
            r.records,
            cx,
        );
        if matches!(result, ProduceResult::Appended { .. }) {
            self.answer_parked(layout, durable, |f| f.partition == p, cx);
        }
        let end = match result {
            ProduceResult::Appended { base_offset } | ProduceResult::Duplicate { base_offset } => {
                base_offset + r.records.len() as u64
            }
            _ => {
                if reply {
                    respond(r.from, r.req, r.batch, result, cx);
                }
                return;
            }
        };
        if r.acks == Acks::All {
            let timeout = match layout.roles.get(r.from.index()) {
                Some(Role::Producer(i)) => layout.producers[usize::from(*i)].config.request_timeout,
                _ => SimTime::from_ms(30_000),
            };
            self.waiting.push(Waiting {
                from: r.from,
                req: r.req,
                batch: r.batch,
                partition: p,
                end,
                result,
                deadline: cx.now + timeout,
            });
            self.advance_hw(layout, durable, p, cx);
            self.arm(cx);
        } else {
            self.advance_hw(layout, durable, p, cx);
            if reply {
                respond(r.from, r.req, r.batch, result, cx);
            }
        }
    }

    /// Moves the leader's HW to the smallest log end over the (maximal)
    /// ISR, answering the `acks=all` produces it commits.
    fn advance_hw(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        p: PartitionId,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let Some(Part {
            log,
            state,
            role: Role2::Leader {
                followers, pending, ..
            },
        }) = self.parts[p.index()].as_ref()
        else {
            return;
        };
        let members = state.isr | pending.map_or(0, |q| q.isr);
        let mut hw = durable.logs[*log].end();
        for f in followers {
            if members & bit(f.broker) != 0 {
                hw = hw.min(f.leo);
            }
        }
        let isr_size = state.isr.count_ones();
        let log = *log;
        if hw > durable.logs[log].hw() {
            durable.logs[log].set_hw(hw);
            self.woken.push(p);
        }
        // Also what waits on a batch already committed (a duplicate).
        let hw = durable.logs[log].hw();
        let min_isr = u32::from(layout.partitions[p.index()].replication.min_insync);
        let mut i = 0;
        while i < self.waiting.len() {
            let w = self.waiting[i];
            if w.partition == p && w.end <= hw {
                self.waiting.remove(i);
                let result = if isr_size < min_isr {
                    ProduceResult::NotEnoughReplicasAfterAppend
                } else {
                    w.result
                };
                respond(w.from, w.req, w.batch, result, cx);
            } else {
                i += 1;
            }
        }
    }

    /// A follower's fetch.
    #[allow(clippy::too_many_arguments)]
    pub fn on_fetch(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        from: NodeId,
        req: u32,
        p: PartitionId,
        offset: u64,
        last_epoch: u32,
        leader_epoch: u32,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let now = cx.now;
        let Some(Part {
            log,
            state,
            role:
                Role2::Leader {
                    followers,
                    pending,
                    epoch_start,
                },
        }) = self.parts[p.index()].as_mut()
        else {
            return reply_fetch(from, req, p, ReplicaFetchResult::NotLeader, cx);
        };
        if state.leader_epoch != leader_epoch {
            return reply_fetch(from, req, p, ReplicaFetchResult::NotLeader, cx);
        }
        let leader_log = &durable.logs[*log];
        if offset > 0 {
            let (epoch, end) = leader_log.epoch_end(last_epoch);
            if epoch < last_epoch || end < offset {
                let result = ReplicaFetchResult::Diverging {
                    epoch,
                    end_offset: end,
                };
                return reply_fetch(from, req, p, result, cx);
            }
        }
        let Some(f) = layout
            .broker_index(from)
            .and_then(|b| followers.iter_mut().find(|f| f.broker == b))
        else {
            return reply_fetch(from, req, p, ReplicaFetchResult::NotLeader, cx);
        };
        // Kafka's Replica.updateFetchState: caught up if it reached the log
        // end as of now, or as of its previous fetch.
        let leo = leader_log.end();
        if offset >= leo {
            f.last_caught_up = now;
        } else if offset >= f.last_fetch_leo {
            f.last_caught_up = f.last_caught_up.max(f.last_fetch_time);
        }
        f.last_fetch_leo = leo;
        f.last_fetch_time = now;
        f.leo = offset;
        // Back in sync: ask the controller to add it to the ISR.
        let broker = f.broker;
        if state.isr & bit(broker) == 0
            && pending.is_none()
            && offset >= leader_log.hw()
            && offset >= *epoch_start
        {
            let isr = state.isr | bit(broker);
            let epoch = state.leader_epoch;
            self.alter_isr(layout, p, epoch, isr, cx);
        }
        self.advance_hw(layout, durable, p, cx);
        let parked = ParkedFetch {
            from,
            req,
            partition: p,
            offset,
            deadline: now + layout.broker_config.replica_fetch_wait_max,
        };
        if offset < durable.logs[self.parts[p.index()].as_ref().expect("leads").log].end() {
            self.answer_fetch(layout, durable, &parked, cx);
        } else {
            self.parked.push(parked);
            self.arm(cx);
        }
    }

    fn answer_fetch(
        &self,
        layout: &Layout,
        durable: &Durable,
        f: &ParkedFetch,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let result = match self.parts[f.partition.index()].as_ref() {
            Some(part) if self.leads(f.partition) => {
                let log = &durable.logs[part.log];
                let (records, batches) =
                    log.read_batches(f.offset, layout.broker_config.fetch_records_max);
                ReplicaFetchResult::Records {
                    records: records.to_vec(),
                    batches: batches.to_vec(),
                    hw: log.hw(),
                }
            }
            _ => ReplicaFetchResult::NotLeader,
        };
        reply_fetch(f.from, f.req, f.partition, result, cx);
    }

    fn answer_parked(
        &mut self,
        layout: &Layout,
        durable: &Durable,
        due: impl Fn(&ParkedFetch) -> bool,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let mut parked = std::mem::take(&mut self.parked);
        parked.retain(|f| {
            if due(f) {
                self.answer_fetch(layout, durable, f, cx);
                false
            } else {
                true
            }
        });
        self.parked = parked;
    }

    fn alter_isr(
        &mut self,
        layout: &Layout,
        p: PartitionId,
        leader_epoch: u32,
        isr: u64,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let Some(controller) = layout.controller else {
            return;
        };
        let req = self.next_req.next();
        if let Some(Part {
            role: Role2::Leader { pending, .. },
            ..
        }) = self.parts[p.index()].as_mut()
        {
            *pending = Some(PendingIsr {
                req,
                isr,
                deadline: cx.now + layout.broker_config.replica_fetch_timeout,
            });
        }
        cx.send(
            controller,
            Msg::AlterIsr {
                req,
                partition: p,
                leader_epoch,
                isr,
            },
        );
    }

    pub fn on_alter_isr_response(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        req: u32,
        p: PartitionId,
        state: Option<PartitionState>,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let Some(part) = self.parts[p.index()].as_mut() else {
            return;
        };
        let Role2::Leader { pending, .. } = &mut part.role else {
            return;
        };
        if pending.is_none_or(|q| q.req != req) {
            return;
        }
        *pending = None;
        if let Some(st) = state
            && st.leader_epoch == part.state.leader_epoch
            && st.partition_epoch >= part.state.partition_epoch
        {
            part.state = st;
        }
        self.advance_hw(layout, durable, p, cx);
    }

    /// The periodic ISR check: followers that have not caught up for
    /// `replica.lag.time.max.ms` are proposed out of the ISR.
    pub fn isr_check(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        let lag_max = layout.broker_config.replica_lag_time_max;
        for p in 0..self.parts.len() {
            let Some(Part {
                state,
                role: Role2::Leader {
                    followers, pending, ..
                },
                ..
            }) = self.parts[p].as_mut()
            else {
                continue;
            };
            if pending.is_some_and(|q| q.deadline <= cx.now) {
                // No answer from the controller: ask again below.
                *pending = None;
            }
            if pending.is_some() {
                continue;
            }
            let mut isr = state.isr;
            for f in followers.iter() {
                if isr & bit(f.broker) != 0 && cx.now.since(f.last_caught_up) > lag_max {
                    isr &= !bit(f.broker);
                }
            }
            if isr != state.isr {
                let epoch = state.leader_epoch;
                self.alter_isr(layout, PartitionId(p as u16), epoch, isr, cx);
            }
        }
        cx.after(SimTime::from_us(lag_max.as_us() / 2), Timer::IsrCheck);
    }

    // ----- following -----

    /// Sends the fetch of a followed partition, if none is in flight and
    /// no backoff holds it back.
    fn send_fetch(&mut self, durable: &Durable, p: PartitionId, cx: &mut Cx<'_, Msg, Timer>) {
        let Some(Part { log, state, role }) = self.parts[p.index()].as_mut() else {
            return;
        };
        let Role2::Follower { fetching, retry_at } = role else {
            return;
        };
        let Some(leader) = state.leader else {
            return;
        };
        if fetching.is_some() || *retry_at > cx.now {
            return;
        }
        let req = self.next_req.next();
        let log = &durable.logs[*log];
        // The leader may hold it for replica.fetch.wait.max.ms before the
        // socket timeout starts to matter.
        *fetching = Some((req, cx.now + self.fetch_timeout));
        cx.send(
            leader,
            Msg::ReplicaFetch {
                req,
                partition: p,
                offset: log.end(),
                last_epoch: log.last_epoch(),
                leader_epoch: state.leader_epoch,
            },
        );
    }

    /// The leader's answer to a follower's fetch.
    pub fn on_fetch_response(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        req: u32,
        p: PartitionId,
        result: ReplicaFetchResult,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let Some(Part { log, role, .. }) = self.parts[p.index()].as_mut() else {
            return;
        };
        let Role2::Follower { fetching, retry_at } = role else {
            return;
        };
        if fetching.is_none_or(|(r, _)| r != req) {
            return; // a late or duplicated response
        }
        *fetching = None;
        let log = *log;
        match result {
            ReplicaFetchResult::Records {
                records,
                batches,
                hw,
            } => {
                let replica = &mut durable.logs[log];
                // Only a response that continues this log (a duplicated or
                // delayed one may not).
                if batches
                    .first()
                    .is_none_or(|b| b.base_offset == replica.end())
                {
                    for b in &batches {
                        let start = (b.base_offset - batches[0].base_offset) as usize;
                        let slice = &records[start..start + b.records as usize];
                        let base = replica.append_batch(slice, *b);
                        if b.pid != 0 {
                            let st = durable.seqs[log].entry(b.pid);
                            apply_seq(st, b.producer_epoch, b.base_seq, b.records, base);
                        }
                    }
                    let replica = &mut durable.logs[log];
                    let hw = hw.min(replica.end()).max(replica.hw());
                    replica.set_hw(hw);
                }
            }
            ReplicaFetchResult::Diverging { epoch, end_offset } => {
                let replica = &mut durable.logs[log];
                let (_, own_end) = replica.epoch_end(epoch);
                let to = end_offset.min(own_end).min(replica.end());
                let removed = replica.truncate(to);
                if removed > 0 {
                    cx.record(EventKind::Truncated {
                        broker: self.node,
                        partition: p,
                        offset: to,
                        removed,
                    });
                    rebuild_seqs(&mut durable.seqs[log], durable.logs[log].batches());
                }
            }
            ReplicaFetchResult::NotLeader => {
                *retry_at = cx.now + layout.broker_config.replica_fetch_backoff;
                self.arm(cx);
                return;
            }
        }
        self.send_fetch(durable, p, cx);
    }

    // ----- timers and connections -----

    /// Replication deadlines: follower fetches to time out or send after a
    /// backoff, `acks=all` produces and parked follower fetches whose wait
    /// is over.
    pub fn on_deadline(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        self.deadlines.fired();
        let now = cx.now;
        for p in 0..self.parts.len() {
            if let Some(Part {
                role: Role2::Follower { fetching, .. },
                ..
            }) = self.parts[p].as_mut()
                && fetching.is_some_and(|(_, d)| d <= now)
            {
                *fetching = None;
            }
            self.send_fetch(durable, PartitionId(p as u16), cx);
        }
        let mut i = 0;
        while i < self.waiting.len() {
            if self.waiting[i].deadline <= now {
                let w = self.waiting.remove(i);
                respond(w.from, w.req, w.batch, ProduceResult::RequestTimedOut, cx);
            } else {
                i += 1;
            }
        }
        self.answer_parked(layout, durable, |f| f.deadline <= now, cx);
        self.arm(cx);
    }

    /// Arms the replication timer for the earliest deadline.
    fn arm(&mut self, cx: &mut Cx<'_, Msg, Timer>) {
        let mut next = SimTime::NEVER;
        for part in self.parts.iter().flatten() {
            if let Role2::Follower { fetching, retry_at } = part.role {
                next = next.min(match fetching {
                    Some((_, d)) => d,
                    None => retry_at,
                });
            }
        }
        for w in &self.waiting {
            next = next.min(w.deadline);
        }
        for f in &self.parked {
            next = next.min(f.deadline);
        }
        if next != SimTime::NEVER {
            self.deadlines.arm(next.max(cx.now), Timer::Replication, cx);
        }
    }

    pub fn on_heartbeat_timer(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        self.heartbeat(layout, cx);
    }

    /// The connection to `peer` broke.
    pub fn on_disconnect(&mut self, layout: &Layout, peer: NodeId, cx: &mut Cx<'_, Msg, Timer>) {
        let backoff = layout.broker_config.replica_fetch_backoff;
        for part in self.parts.iter_mut().flatten() {
            match &mut part.role {
                Role2::Follower { fetching, retry_at }
                    if part.state.leader == Some(peer) && fetching.is_some() =>
                {
                    *fetching = None;
                    *retry_at = cx.now + backoff;
                }
                Role2::Leader { pending, .. } if layout.controller == Some(peer) => {
                    *pending = None;
                }
                _ => {}
            }
        }
        self.waiting.retain(|w| w.from != peer);
        self.parked.retain(|f| f.from != peer);
        self.arm(cx);
    }
}

/// Applies one appended batch to a producer's sequence state.
fn rebuild_seqs(seqs: &mut ProducerSeqs, batches: &[LogBatch]) {
    seqs.clear();
    for b in batches.iter().filter(|b| b.pid != 0) {
        let st = seqs.entry(b.pid);
        apply_seq(st, b.producer_epoch, b.base_seq, b.records, b.base_offset);
    }
}

/// Sends a produce response.
fn respond(to: NodeId, req: u32, batch: u32, result: ProduceResult, cx: &mut Cx<'_, Msg, Timer>) {
    cx.send(to, Msg::ProduceResponse { req, batch, result });
}

fn reply_fetch(
    to: NodeId,
    req: u32,
    partition: PartitionId,
    result: ReplicaFetchResult,
    cx: &mut Cx<'_, Msg, Timer>,
) {
    cx.send(
        to,
        Msg::ReplicaFetchResponse {
            req,
            partition,
            result: Box::new(result),
        },
    );
}
