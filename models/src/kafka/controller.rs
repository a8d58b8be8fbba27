//! The controller: broker liveness, leader election and ISR changes.
//!
//! One node stands for Kafka's controller quorum (KRaft; ZooKeeper and the
//! controller broker before it). It owns every partition's leader, leader
//! epoch and in-sync replica set, as KRaft's metadata log does:
//!
//! - brokers heartbeat every `broker.heartbeat.interval.ms`; one silent for
//!   `broker.session.timeout.ms` is *fenced*: it leaves every ISR it is in
//!   (unless it is the last member), and the partitions it led get a new
//!   leader;
//! - a heartbeat from a fenced broker, or from a new incarnation of one
//!   (it restarted), unfences it; a restart first fences it, so it comes
//!   back out of every ISR and must catch up;
//! - a *clean* election picks the first in-sync, unfenced replica in
//!   assignment order; with none, `unclean.leader.election.enable` lets the
//!   first unfenced replica lead with itself as the whole ISR, and without
//!   it the partition stays offline until an in-sync replica returns;
//! - leaders ask to change their ISR (`AlterPartition`); the request names
//!   the leader epoch, so a deposed leader cannot shrink an ISR.
//!
//! Every change bumps the metadata version and is pushed to every broker;
//! a broker whose heartbeat shows an older version is sent it again. The
//! controller never crashes (the quorum is assumed to survive), but
//! partitions can cut it off from brokers.

use std::sync::Arc;

use crate::event::EventKind;
use crate::ids::{NodeId, PartitionId};
use crate::model::{Cx, Deadlines};
use crate::time::SimTime;

use super::protocol::{Msg, PartitionState, Timer};
use super::world::{Durable, Layout};

/// What the controller knows of one broker.
#[derive(Clone, Copy, Debug)]
struct BrokerSession {
    last_heartbeat: SimTime,
    incarnation: Option<u32>,
    fenced: bool,
}

/// The controller's volatile state (its durable state is the metadata in
/// the world's [`Durable`]).
#[derive(Debug)]
pub(crate) struct Controller {
    sessions: Vec<BrokerSession>,
    version: u64,
    snapshot: Arc<[PartitionState]>,
    check: Deadlines,
}

/// The bit of broker `i` in an ISR.
#[inline]
pub(crate) fn bit(i: usize) -> u64 {
    1u64 << i
}

/// Finishes a change of partition `p` from `before`: a new partition
/// epoch, and the ISR change recorded. Whether anything changed.
fn settle(
    durable: &mut Durable,
    p: usize,
    before: PartitionState,
    cx: &mut Cx<'_, Msg, Timer>,
) -> bool {
    let st = &mut durable.metadata[p];
    if *st == before {
        return false;
    }
    st.partition_epoch = before.partition_epoch + 1;
    if st.isr != before.isr {
        let isr = st.isr;
        cx.record(EventKind::IsrChanged {
            partition: PartitionId(p as u16),
            isr,
        });
    }
    true
}

impl Controller {
    pub fn new(layout: &Layout) -> Controller {
        Controller {
            sessions: vec![
                BrokerSession {
                    last_heartbeat: SimTime::ZERO,
                    incarnation: None,
                    fenced: false,
                };
                layout.brokers.len()
            ],
            version: 1,
            snapshot: Arc::from(Vec::new()),
            check: Deadlines::default(),
        }
    }

    /// Every partition as topic creation leaves it: led by its first
    /// replica in epoch 1, every replica in sync.
    pub fn initial_metadata(layout: &Layout) -> Vec<PartitionState> {
        layout
            .partitions
            .iter()
            .map(|meta| PartitionState {
                leader: Some(meta.leader),
                leader_epoch: 1,
                isr: meta
                    .replicas
                    .iter()
                    .filter_map(|r| layout.broker_index(*r))
                    .fold(0, |isr, i| isr | bit(i)),
                partition_epoch: 1,
            })
            .collect()
    }

    pub fn start(&mut self, layout: &Layout, durable: &mut Durable, cx: &mut Cx<'_, Msg, Timer>) {
        for s in &mut self.sessions {
            s.last_heartbeat = cx.now;
        }
        self.snapshot = Arc::from(&durable.metadata[..]);
        self.arm(layout, cx);
    }

    pub fn on_message(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        from: NodeId,
        msg: Msg,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        match msg {
            Msg::BrokerHeartbeat {
                incarnation,
                version,
            } => {
                let Some(b) = layout.broker_index(from) else {
                    return;
                };
                let s = self.sessions[b];
                let mut changed = false;
                if s.incarnation.is_some_and(|i| i != incarnation) && !s.fenced {
                    // It restarted before its session ran out: what it
                    // led moves away, and it leaves every ISR.
                    changed |= self.fence(layout, durable, b, cx);
                }
                let s = &mut self.sessions[b];
                s.incarnation = Some(incarnation);
                s.last_heartbeat = cx.now;
                if s.fenced {
                    changed |= self.unfence(layout, durable, b, cx);
                }
                if changed {
                    self.publish(layout, durable, cx);
                } else if version < self.version {
                    cx.send(
                        from,
                        Msg::Metadata {
                            version: self.version,
                            partitions: self.snapshot.clone(),
                        },
                    );
                }
                self.arm(layout, cx);
            }
            Msg::AlterIsr {
                req,
                partition,
                leader_epoch,
                isr,
            } => {
                let p = partition.index();
                let st = durable.metadata[p];
                let meta = &layout.partitions[p];
                let replicas = meta
                    .replicas
                    .iter()
                    .filter_map(|r| layout.broker_index(*r))
                    .fold(0, |m, i| m | bit(i));
                // KIP-841: only unfenced brokers may join an ISR.
                let joining_fenced = (0..self.sessions.len())
                    .any(|i| isr & bit(i) != 0 && st.isr & bit(i) == 0 && self.sessions[i].fenced);
                let valid = st.leader == Some(from)
                    && st.leader_epoch == leader_epoch
                    && isr & !replicas == 0
                    && layout.broker_index(from).is_some_and(|i| isr & bit(i) != 0)
                    && !joining_fenced;
                if !valid {
                    cx.send(
                        from,
                        Msg::AlterIsrResponse {
                            req,
                            partition,
                            state: None,
                        },
                    );
                    return;
                }
                if isr != st.isr {
                    let st = &mut durable.metadata[p];
                    st.isr = isr;
                    st.partition_epoch += 1;
                    cx.record(EventKind::IsrChanged { partition, isr });
                    self.publish(layout, durable, cx);
                }
                cx.send(
                    from,
                    Msg::AlterIsrResponse {
                        req,
                        partition,
                        state: Some(durable.metadata[p]),
                    },
                );
            }
            _ => {}
        }
    }

    pub fn on_timer(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        timer: Timer,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        if timer != Timer::SessionCheck {
            return;
        }
        self.check.fired();
        let timeout = layout.broker_config.session_timeout;
        let mut changed = false;
        for b in 0..self.sessions.len() {
            let s = self.sessions[b];
            if !s.fenced && s.last_heartbeat + timeout <= cx.now {
                changed |= self.fence(layout, durable, b, cx);
            }
        }
        if changed {
            self.publish(layout, durable, cx);
        }
        self.arm(layout, cx);
    }

    /// Sets the session check for the earliest unfenced broker's expiry.
    fn arm(&mut self, layout: &Layout, cx: &mut Cx<'_, Msg, Timer>) {
        let timeout = layout.broker_config.session_timeout;
        if let Some(next) = self
            .sessions
            .iter()
            .filter(|s| !s.fenced)
            .map(|s| s.last_heartbeat + timeout)
            .min()
        {
            self.check.arm(next.max(cx.now), Timer::SessionCheck, cx);
        }
    }

    /// Fences broker `b`: it leaves the ISRs it is in (not the last member
    /// of one), and the partitions it led elect again. Whether anything
    /// changed.
    fn fence(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        b: usize,
        cx: &mut Cx<'_, Msg, Timer>,
    ) -> bool {
        self.sessions[b].fenced = true;
        let node = layout.brokers[b];
        let mut changed = false;
        for p in 0..layout.partitions.len() {
            if !layout.partitions[p].replicas.contains(&node) {
                continue;
            }
            let st = &mut durable.metadata[p];
            let before = *st;
            if st.isr & bit(b) != 0 && st.isr != bit(b) {
                st.isr &= !bit(b);
            }
            if st.leader == Some(node) {
                self.elect(layout, durable, p, cx);
            }
            changed |= settle(durable, p, before, cx);
        }
        changed
    }

    /// Unfences broker `b`: offline partitions it can lead get it as
    /// leader. Whether anything changed.
    fn unfence(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        b: usize,
        cx: &mut Cx<'_, Msg, Timer>,
    ) -> bool {
        self.sessions[b].fenced = false;
        let node = layout.brokers[b];
        let mut changed = false;
        for p in 0..layout.partitions.len() {
            if durable.metadata[p].leader.is_none() && layout.partitions[p].replicas.contains(&node)
            {
                let before = durable.metadata[p];
                self.elect(layout, durable, p, cx);
                changed |= settle(durable, p, before, cx);
            }
        }
        changed
    }

    /// Chooses partition `p`'s leader among unfenced replicas: in-sync ones
    /// first (clean), then, if the topic allows it, any (unclean, which
    /// makes the leader the whole ISR).
    fn elect(
        &mut self,
        layout: &Layout,
        durable: &mut Durable,
        p: usize,
        cx: &mut Cx<'_, Msg, Timer>,
    ) {
        let meta = &layout.partitions[p];
        let st = durable.metadata[p];
        let live = |r: &NodeId| {
            layout
                .broker_index(*r)
                .is_some_and(|i| !self.sessions[i].fenced)
        };
        let in_sync = |r: &NodeId| {
            layout
                .broker_index(*r)
                .is_some_and(|i| st.isr & bit(i) != 0)
        };
        let clean = meta
            .replicas
            .iter()
            .find(|r| live(r) && in_sync(r))
            .copied();
        let (leader, unclean) = match clean {
            Some(l) => (Some(l), false),
            None if meta.replication.unclean_election => {
                (meta.replicas.iter().find(|r| live(r)).copied(), true)
            }
            None => (None, false),
        };
        let unclean = unclean && leader.is_some();
        if leader == st.leader {
            return;
        }
        let st = &mut durable.metadata[p];
        st.leader = leader;
        st.leader_epoch += 1;
        if unclean && let Some(i) = leader.and_then(|l| layout.broker_index(l)) {
            st.isr = bit(i);
        }
        let epoch = st.leader_epoch;
        cx.record(EventKind::LeaderElected {
            partition: PartitionId(p as u16),
            leader,
            epoch,
            unclean,
        });
    }

    /// A new metadata version: pushed to every broker.
    fn publish(&mut self, layout: &Layout, durable: &Durable, cx: &mut Cx<'_, Msg, Timer>) {
        self.version += 1;
        self.snapshot = Arc::from(&durable.metadata[..]);
        for (i, &b) in layout.brokers.iter().enumerate() {
            if self.sessions[i].fenced {
                continue;
            }
            cx.send(
                b,
                Msg::Metadata {
                    version: self.version,
                    partitions: self.snapshot.clone(),
                },
            );
        }
    }
}
