//! Unit tests of the Kafka model against documented Kafka semantics
//! (`/work/shared/reference/semantics.md` §1 and the Kafka documentation and
//! sources it cites).
//!
//! The model is driven through the [`Model`] trait by [`Sim`], a tiny
//! network written here (no engine): a queue of `(time, node, input)` on
//! virtual time, a fixed one-way latency for every message, timers, node
//! crashes and restarts, rules that drop chosen messages, and [`Sim::call`]
//! to hand one node a hand-made [`Msg`] and look at what it answers.

use std::collections::BTreeMap;

use crate::event::{
    CommitError, CrashPoint, DropCause, Event, EventKind, History, RemoveReason, Settle,
};
use crate::handlers::built_in;
use crate::ids::{GroupId, KeyId, MessageId, NodeId, PartitionId};
use crate::model::{Cx, Env, Message, Model, NoFaults, Outbox};
use crate::murmur2::partition_for_key;
use crate::rng::{SimRng, Stream};
use crate::time::SimTime;

use super::{
    Acks, Assignor, BrokerConfig, CommitMode, ConsumerConfig, GroupSpec, KafkaSpec, KafkaWorld,
    KeyDistribution, Msg, OffsetReset, ProduceResult, ProducerConfig, ProducerSpec, Record,
    ReplicationConfig, Timer, WorkloadSpec, WorldTemplate,
};

// ----- the driver -----

/// One-way latency of every message.
const LATENCY: SimTime = SimTime::from_ms(1);
const SEED: u64 = 7;

fn ms(ms: u64) -> SimTime {
    SimTime::from_ms(ms)
}

enum Input {
    Start,
    Message(NodeId, Msg),
    Timer(Timer),
    Disconnect(NodeId),
}

struct Queued {
    node: NodeId,
    /// The node's incarnation when this was queued: a crash voids it.
    incarnation: u32,
    /// For messages: the connection they were sent on.
    conn: Option<u32>,
    input: Input,
}

/// A message a node put on the network.
struct Sent {
    at: SimTime,
    from: NodeId,
    to: NodeId,
    msg: Msg,
    dropped: bool,
}

/// Which messages a [`DropRule`] applies to: `(from, to, msg)`.
type MsgFilter = Box<dyn Fn(NodeId, NodeId, &Msg) -> bool>;

/// Drops the next `left` messages that match.
struct DropRule {
    matches: MsgFilter,
    left: usize,
    /// A lost TCP segment: both ends see the connection break (as the
    /// engine's loss fault). Otherwise a black hole: only timeouts notice.
    reset: bool,
    /// Delivers the message this much later than usual instead of dropping
    /// it (the engine's delay fault).
    delay: Option<SimTime>,
}

/// What a node did with one input handed to it by [`Sim::call`].
struct Reply {
    sends: Vec<(NodeId, Msg)>,
    events: Vec<EventKind>,
}

struct Sim<E: Env = NoFaults> {
    world: KafkaWorld,
    env: E,
    now: SimTime,
    history: History,
    rngs: Vec<(SimRng, SimRng)>,
    queue: BTreeMap<(SimTime, u64), Queued>,
    seq: u64,
    up: Vec<bool>,
    incarnation: Vec<u32>,
    /// Connection number per node pair; bumped when a connection breaks,
    /// which voids what is in flight on it.
    conns: BTreeMap<(NodeId, NodeId), u32>,
    rules: Vec<DropRule>,
    sent: Vec<Sent>,
}

impl Sim<NoFaults> {
    fn new(spec: &KafkaSpec) -> Self {
        Sim::with_env(spec, NoFaults)
    }
}

impl<E: Env> Sim<E> {
    fn with_env(spec: &KafkaSpec, env: E) -> Self {
        let world = KafkaWorld::new(spec, &mut SimRng::new(SEED, Stream::Workload));
        let n = world.node_count();
        Sim {
            world,
            env,
            now: SimTime::ZERO,
            history: History::new(),
            rngs: (0..n)
                .map(|i| {
                    (
                        SimRng::new(SEED, Stream::Node(i as u16)),
                        SimRng::new(SEED, Stream::Handler(i as u16)),
                    )
                })
                .collect(),
            queue: BTreeMap::new(),
            seq: 0,
            up: vec![true; n],
            incarnation: vec![0; n],
            conns: BTreeMap::new(),
            rules: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn node(&self, name: &str) -> NodeId {
        self.world.layout().node_by_name(name).expect(name)
    }

    fn coordinator(&self) -> NodeId {
        self.world.layout().groups[0].coordinator
    }

    fn push(&mut self, at: SimTime, node: NodeId, conn: Option<u32>, input: Input) {
        let incarnation = self.incarnation[node.index()];
        self.queue.insert(
            (at, self.seq),
            Queued {
                node,
                incarnation,
                conn,
                input,
            },
        );
        self.seq += 1;
    }

    fn start_at(&mut self, node: NodeId, at: SimTime) {
        self.push(at, node, None, Input::Start);
    }

    /// Starts each named node at its time in milliseconds.
    fn start_named(&mut self, nodes: &[(&str, u64)]) {
        for &(name, at) in nodes {
            let node = self.node(name);
            self.start_at(node, ms(at));
        }
    }

    fn start_all(&mut self) {
        for i in 0..self.up.len() {
            self.start_at(NodeId(i as u16), self.now);
        }
    }

    /// Drops the next `times` messages matching `matches`.
    fn drop_next(
        &mut self,
        times: usize,
        reset: bool,
        matches: impl Fn(NodeId, NodeId, &Msg) -> bool + 'static,
    ) {
        self.rules.push(DropRule {
            matches: Box::new(matches),
            left: times,
            reset,
            delay: None,
        });
    }

    /// Delivers the next `times` messages matching `matches` `extra` later
    /// than the usual latency.
    fn delay_next(
        &mut self,
        times: usize,
        extra: SimTime,
        matches: impl Fn(NodeId, NodeId, &Msg) -> bool + 'static,
    ) {
        self.rules.push(DropRule {
            matches: Box::new(matches),
            left: times,
            reset: false,
            delay: Some(extra),
        });
    }

    fn conn(&self, a: NodeId, b: NodeId) -> u32 {
        self.conns.get(&(a.min(b), a.max(b))).copied().unwrap_or(0)
    }

    /// Handles the next queued input if it is due by `limit`.
    fn step_once(&mut self, limit: SimTime) -> bool {
        let Some(entry) = self.queue.first_entry() else {
            return false;
        };
        if entry.key().0 > limit {
            return false;
        }
        let ((at, _), q) = entry.remove_entry();
        self.now = at;
        let node = q.node;
        let live = self.up[node.index()] && self.incarnation[node.index()] == q.incarnation;
        match q.input {
            Input::Message(from, msg) => {
                if q.conn != Some(self.conn(from, node)) {
                    // Sent on a connection that broke since.
                } else if live {
                    self.step(node, Input::Message(from, msg));
                } else {
                    // Sent to a node that crashed: the sender's end breaks.
                    self.disconnect_later(from, node);
                }
            }
            input if live => self.step(node, input),
            _ => {}
        }
        true
    }

    fn run_until(&mut self, t: SimTime) {
        while self.step_once(t) {}
        self.now = self.now.max(t);
    }

    fn run_for(&mut self, d: SimTime) {
        self.run_until(self.now + d);
    }

    /// Runs until an event matching `pred` is recorded (by `limit` at the
    /// latest) and returns it.
    fn run_until_event(&mut self, limit: SimTime, pred: impl Fn(&EventKind) -> bool) -> Event {
        let mut seen = self.history.events.len();
        loop {
            if let Some(e) = self.history.events[seen..].iter().find(|e| pred(&e.kind)) {
                return *e;
            }
            seen = self.history.events.len();
            assert!(self.step_once(limit), "no such event by {limit}");
        }
    }

    /// Steps `node` with `input` and puts what it sends on the network.
    fn step(&mut self, node: NodeId, input: Input) {
        for (to, msg) in self.apply(node, input) {
            self.transmit(node, to, msg);
        }
    }

    /// Steps `node` once: keeps the timers it sets, returns its sends.
    fn apply(&mut self, node: NodeId, input: Input) -> Vec<(NodeId, Msg)> {
        let mut out = Outbox::default();
        let crashed = {
            let mut cx = Cx::new(
                self.now,
                node,
                &mut self.rngs[node.index()],
                &mut self.history,
                Some(&mut self.env),
                &mut out,
            );
            match input {
                Input::Start => self.world.start(node, &mut cx),
                Input::Message(from, msg) => self.world.on_message(node, from, msg, &mut cx),
                Input::Timer(t) => self.world.on_timer(node, t, &mut cx),
                Input::Disconnect(peer) => self.world.on_disconnect(node, peer, &mut cx),
            }
            cx.crashed()
        };
        for (at, timer) in out.timers {
            self.push(at, node, None, Input::Timer(timer));
        }
        if crashed.is_some() {
            self.down(node);
        }
        out.sends
    }

    fn transmit(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        let rule = self
            .rules
            .iter_mut()
            .find(|r| r.left > 0 && (r.matches)(from, to, &msg));
        let mut extra = SimTime::ZERO;
        let dropped = rule.and_then(|r| {
            r.left -= 1;
            match r.delay {
                Some(d) => {
                    extra = d;
                    None
                }
                None => Some(r.reset),
            }
        });
        self.sent.push(Sent {
            at: self.now,
            from,
            to,
            msg: msg.clone(),
            dropped: dropped.is_some(),
        });
        match dropped {
            None => {
                let conn = self.conn(from, to);
                self.push(
                    self.now + LATENCY + extra,
                    to,
                    Some(conn),
                    Input::Message(from, msg),
                );
            }
            Some(reset) => {
                let cause = if reset {
                    DropCause::Loss
                } else {
                    DropCause::Partition
                };
                let kind = msg.kind();
                self.history.record(
                    self.now,
                    EventKind::MessageDropped {
                        from,
                        to,
                        kind,
                        cause,
                        nth: 0,
                    },
                );
                if reset {
                    *self.conns.entry((from.min(to), from.max(to))).or_default() += 1;
                    self.disconnect_later(from, to);
                    self.disconnect_later(to, from);
                }
            }
        }
    }

    /// Tells `node`, after the latency, that its connection to `peer` broke.
    fn disconnect_later(&mut self, node: NodeId, peer: NodeId) {
        if self.up[node.index()] {
            self.push(self.now + LATENCY, node, None, Input::Disconnect(peer));
        }
    }

    /// Hands `msg` from `from` straight to `node` now, bypassing the
    /// network. What it sends is returned, not delivered; its timers are kept.
    fn call(&mut self, node: NodeId, from: NodeId, msg: Msg) -> Reply {
        let before = self.history.events.len();
        let sends = self.apply(node, Input::Message(from, msg));
        let events = self.history.events[before..]
            .iter()
            .map(|e| e.kind)
            .collect();
        Reply { sends, events }
    }

    /// Puts `msg` on the network as if `from` had sent it.
    fn inject(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        self.transmit(from, to, msg);
    }

    /// An external crash of `node`: its volatile state is gone.
    fn crash(&mut self, node: NodeId) {
        self.history.record(
            self.now,
            EventKind::Crashed {
                node,
                point: CrashPoint::Now,
                pass: 0,
            },
        );
        self.down(node);
    }

    fn down(&mut self, node: NodeId) {
        self.world.crash(node);
        self.up[node.index()] = false;
        self.incarnation[node.index()] += 1;
    }

    fn restart(&mut self, node: NodeId) {
        self.up[node.index()] = true;
        self.history.record(self.now, EventKind::Restarted { node });
        self.step(node, Input::Start);
    }

    // ----- what happened -----

    /// `f` applied to every event, keeping the `Some`s, with their times.
    fn events<T>(&self, f: impl Fn(&EventKind) -> Option<T>) -> Vec<(SimTime, T)> {
        let events = self.history.events.iter();
        events
            .filter_map(|e| f(&e.kind).map(|t| (e.time, t)))
            .collect()
    }

    /// `f` applied to every message sent (and not dropped).
    fn sends<T>(&self, f: impl Fn(&Sent) -> Option<T>) -> Vec<T> {
        self.sent
            .iter()
            .filter(|s| !s.dropped)
            .filter_map(f)
            .collect()
    }

    /// `(time, offset, message)` of every record handed to `consumer`.
    fn delivered(&self, consumer: NodeId) -> Vec<(SimTime, u64, MessageId)> {
        let d = self.events(|k| match *k {
            EventKind::Delivered {
                consumer: c,
                offset,
                msg,
                ..
            } if c == consumer => Some((offset, msg)),
            _ => None,
        });
        d.into_iter().map(|(t, (o, m))| (t, o, m)).collect()
    }

    /// Offsets handed to `consumer` at or after `since`.
    fn offsets_delivered(&self, consumer: NodeId, since: SimTime) -> Vec<u64> {
        let d = self.delivered(consumer).into_iter();
        d.filter(|d| d.0 >= since).map(|d| d.1).collect()
    }

    /// `(time, generation, members)` of every generation started.
    fn generations(&self) -> Vec<(SimTime, u32, u16)> {
        let g = self.events(|k| match *k {
            EventKind::GenerationStarted {
                generation,
                members,
                ..
            } => Some((generation, members)),
            _ => None,
        });
        g.into_iter().map(|(t, (g, m))| (t, g, m)).collect()
    }

    /// Partition numbers assigned to `consumer` in `generation`.
    fn assigned(&self, generation: u32, consumer: NodeId) -> Vec<u16> {
        let a = self.events(|k| match *k {
            EventKind::Assigned {
                generation: g,
                consumer: c,
                partition,
                ..
            } if g == generation && c == consumer => Some(partition.0),
            _ => None,
        });
        a.into_iter().map(|a| a.1).collect()
    }

    /// `(time, (consumer, reason))` of every member removal.
    fn removed(&self) -> Vec<(SimTime, (NodeId, RemoveReason))> {
        self.events(|k| match *k {
            EventKind::MemberRemoved {
                consumer, reason, ..
            } => Some((consumer, reason)),
            _ => None,
        })
    }

    /// `(time, (consumer, reason))` of every refused commit.
    fn rejected(&self) -> Vec<(SimTime, (NodeId, CommitError))> {
        self.events(|k| match *k {
            EventKind::CommitRejected {
                consumer, reason, ..
            } => Some((consumer, reason)),
            _ => None,
        })
    }

    /// `(message, offset)` of every acknowledgement a producer received.
    fn acked(&self) -> Vec<(u32, Option<u64>)> {
        let a = self.events(|k| match *k {
            EventKind::Acked { msg, offset, .. } => Some((msg.0, offset)),
            _ => None,
        });
        a.into_iter().map(|a| a.1).collect()
    }

    /// `(batch, result)` of every produce response sent.
    fn produce_results(&self) -> Vec<(u32, ProduceResult)> {
        self.sends(|s| match s.msg {
            Msg::ProduceResponse { batch, result, .. } => Some((batch, result)),
            _ => None,
        })
    }

    /// `(member, generation, assignment)` of every JoinResponse sent to `node`.
    fn joins(&self, node: NodeId) -> Vec<(u32, u32, Vec<PartitionId>)> {
        self.sends(|s| match &s.msg {
            Msg::JoinResponse {
                member,
                generation,
                assignment,
                ..
            } if s.to == node => Some((*member, *generation, assignment.clone())),
            _ => None,
        })
    }

    /// Message ids in `p`'s log, in offset order.
    fn log_msgs(&self, p: PartitionId) -> Vec<u32> {
        let log = self.world.log(p).read(0, u32::MAX);
        log.iter().map(|r| r.msg.0).collect()
    }

    /// `(offset, attempt)` of every append of message `m`.
    fn appends_of(&self, m: u32) -> Vec<(u64, u32)> {
        let a = self.events(|k| match *k {
            EventKind::Appended {
                msg,
                offset,
                attempt,
                ..
            } if msg == MessageId(m) => Some((offset, attempt)),
            _ => None,
        });
        a.into_iter().map(|a| a.1).collect()
    }
}

/// A consumer [`Env`] that crashes `node` the first time it reaches `point`.
struct CrashAt {
    node: NodeId,
    point: CrashPoint,
    fired: bool,
}

impl Env for CrashAt {
    fn crash_at(
        &mut self,
        _: SimTime,
        node: NodeId,
        point: CrashPoint,
        _: Option<&str>,
    ) -> Option<u32> {
        let hit = !self.fired && node == self.node && point == self.point;
        self.fired |= hit;
        hit.then_some(0)
    }
    fn slow_processing(&self, _: NodeId) -> Option<SimTime> {
        None
    }
}

/// One broker, one producer (`p1`, node 0), one topic `orders` with
/// `partitions` partitions (`b1` leads them all), an empty workload, and one
/// group `g` of one process-then-commit consumer (`c1`) starting at the
/// earliest offset.
fn spec(partitions: u32) -> KafkaSpec {
    let handler = built_in("process-then-commit").expect("built-in handler");
    KafkaSpec {
        brokers: 1,
        topics: vec![("orders".to_string(), partitions)],
        workload_topic: 0,
        workload: WorkloadSpec {
            records: 0,
            keys: 1,
            producers: 1,
            start: SimTime::ZERO,
            interval: ms(1),
            keyless: false,
            distribution: KeyDistribution::Uniform,
            values: (1, 10),
        },
        producer: ProducerSpec {
            config: ProducerConfig::default(),
        },
        groups: vec![GroupSpec {
            name: "g".to_string(),
            topic: 0,
            members: 1,
            config: ConsumerConfig {
                commit: handler.commit,
                offset_reset: OffsetReset::Earliest,
                ..ConsumerConfig::default()
            },
            handler_name: handler.name.to_string(),
            handler: handler.factory,
        }],
        broker: BrokerConfig::default(),
        replication: Vec::new(),
    }
}

/// A hand-made produce request of messages `msgs` (batch 900, which the
/// real producer does not know, so it ignores the response).
fn produce(partition: PartitionId, pid: u32, base_seq: u32, acks: Acks, msgs: &[u32]) -> Msg {
    let records: Vec<Record> = msgs
        .iter()
        .map(|&m| Record {
            msg: MessageId(m),
            entity: KeyId(0),
            seq: m + 1,
            value: 1,
            keyed: true,
            producer: NodeId(0),
            batch: 900,
            txn_pid: 0,
            control: super::protocol::Control::Data,
        })
        .collect();
    Msg::Produce {
        req: 900 + base_seq,
        partition,
        batch: 900,
        attempt: 1,
        pid,
        epoch: 0,
        base_seq,
        acks,
        records: records.into(),
    }
}

fn produce_result(r: &Reply) -> ProduceResult {
    match r.sends.as_slice() {
        [(_, Msg::ProduceResponse { result, .. })] => *result,
        other => panic!("expected one produce response, got {other:?}"),
    }
}

fn commit_result(r: &Reply) -> Result<(), CommitError> {
    match r.sends.as_slice() {
        [(_, Msg::CommitResponse { result, .. })] => *result,
        other => panic!("expected one commit response, got {other:?}"),
    }
}

fn commit_msg(member: u32, generation: u32, offsets: Vec<(PartitionId, u64)>) -> Msg {
    Msg::Commit {
        req: 4242,
        group: G,
        member,
        generation,
        offsets,
    }
}

fn fetch_msg(req: u32, offset: u64) -> Msg {
    Msg::Fetch {
        req,
        partition: P0,
        offset,
    }
}

/// `(to, req, offset, records, out_of_range)` of a fetch response.
fn fetch_answer(to: NodeId, m: &Msg) -> Option<(NodeId, u32, u64, usize, bool)> {
    match m {
        Msg::FetchResponse {
            req,
            offset,
            records,
            out_of_range,
            ..
        } => Some((to, *req, *offset, records.len(), *out_of_range)),
        _ => None,
    }
}

const G: GroupId = GroupId(0);
const P0: PartitionId = PartitionId(0);

// ----- offsets and commits -----

/// "The committed offset is the **next** offset to read" (semantics.md §1,
/// Offsets). A process-then-commit consumer that handled offsets 0..5
/// commits 5, the coordinator stores 5, and a restarted consumer resumes at
/// 5: it neither skips nor re-reads.
#[test]
fn committed_offset_is_the_next_offset_to_read() {
    let mut s = spec(1);
    s.workload.records = 5;
    s.groups[0].config.session_timeout = ms(10_000);
    let mut sim = Sim::new(&s);
    let (p1, b1, c1) = (sim.node("p1"), sim.node("b1"), sim.node("c1"));
    sim.start_all();
    sim.run_until(ms(8_000));

    assert_eq!(
        sim.offsets_delivered(c1, SimTime::ZERO),
        vec![0, 1, 2, 3, 4]
    );
    let commits = sim.events(|k| match *k {
        EventKind::CommitAccepted {
            consumer, offset, ..
        } if consumer == c1 => Some(offset),
        _ => None,
    });
    assert_eq!(commits.last().map(|c| c.1), Some(5), "{commits:?}");
    assert_eq!(sim.world.committed(G, P0), Some(5));

    // Restart the consumer; two more records arrive.
    sim.crash(c1);
    sim.run_for(ms(1_000));
    let restarted = sim.now;
    sim.restart(c1);
    sim.inject(p1, b1, produce(P0, 0, 0, Acks::All, &[100, 101]));
    sim.run_for(ms(60_000));

    let offset_fetched = sim.sends(|s| match &s.msg {
        Msg::OffsetFetchResponse { offsets, .. } if s.to == c1 && s.at >= restarted => {
            Some(offsets.clone())
        }
        _ => None,
    });
    assert_eq!(offset_fetched.first(), Some(&vec![(P0, Some(5))]));
    let fetched_at = sim.sends(|s| match s.msg {
        Msg::Fetch { offset, .. } if s.from == c1 && s.at >= restarted => Some(offset),
        _ => None,
    });
    assert_eq!(fetched_at.first(), Some(&5));
    let after: Vec<(u64, MessageId)> = sim
        .delivered(c1)
        .into_iter()
        .filter(|d| d.0 >= restarted)
        .map(|d| (d.1, d.2))
        .collect();
    assert_eq!(after, vec![(5, MessageId(100)), (6, MessageId(101))]);
    assert_eq!(sim.world.committed(G, P0), Some(7));
}

/// "Crash before commit → redelivery" (semantics.md §1, Offsets): a
/// consumer that crashes after handling a batch but before committing it
/// gets the whole batch again from the last committed offset.
#[test]
fn crash_between_handling_and_commit_redelivers_the_batch() {
    let mut s = spec(1);
    s.workload.records = 3;
    s.groups[0].config.session_timeout = ms(10_000);
    let c1 = NodeId(2);
    let point = CrashPoint::AfterHandleBeforeCommit;
    let mut sim = Sim::with_env(
        &s,
        CrashAt {
            node: c1,
            point,
            fired: false,
        },
    );
    assert_eq!(sim.node("c1"), c1);
    sim.start_all();
    let crash = sim.run_until_event(ms(10_000), |k| matches!(k, EventKind::Crashed { .. }));
    assert_eq!(sim.world.committed(G, P0), None);
    sim.run_until(crash.time + ms(1_000));
    sim.restart(c1);
    sim.run_for(ms(60_000));

    assert_eq!(
        sim.offsets_delivered(c1, SimTime::ZERO),
        vec![0, 1, 2, 0, 1, 2]
    );
    assert_eq!(sim.world.committed(G, P0), Some(3));
}

/// "Each rebalance increments the generation, and commits from a stale
/// generation ... fail" (semantics.md §1, Consumer groups; Kafka's
/// `ILLEGAL_GENERATION`). After a second member joined (generation 2), a
/// commit naming generation 1 is refused and nothing is stored.
#[test]
fn commit_from_a_stale_generation_is_rejected() {
    let mut s = spec(2);
    s.groups[0].members = 2;
    let mut sim = Sim::new(&s);
    let (c1, c2) = (sim.node("c1"), sim.node("c2"));
    sim.start_named(&[("p1", 0), ("b1", 0), ("c1", 0), ("c2", 10_000)]);
    let is_gen2 = |k: &EventKind| matches!(k, EventKind::GenerationStarted { generation: 2, .. });
    sim.run_until_event(ms(60_000), is_gen2);
    sim.run_for(ms(100));
    let joins = sim.joins(c1);
    let (member, generation, _) = joins[0].clone();
    assert_eq!(generation, 1);
    assert_eq!(joins.last().map(|j| (j.0, j.1)), Some((member, 2)));
    assert_eq!(sim.joins(c2).last().map(|j| j.1), Some(2));

    let committed = sim.world.committed(G, P0);
    let reply = sim.call(sim.coordinator(), c1, commit_msg(member, 1, vec![(P0, 3)]));
    assert_eq!(commit_result(&reply), Err(CommitError::IllegalGeneration));
    assert_eq!(reply.sends[0].0, c1);
    let rejected = EventKind::CommitRejected {
        group: G,
        consumer: c1,
        generation: 1,
        reason: CommitError::IllegalGeneration,
    };
    assert_eq!(reply.events, vec![rejected]);
    assert_eq!(sim.world.committed(G, P0), committed);
}

/// Commits "from a ... unknown member fail" (semantics.md §1, Consumer
/// groups; Kafka's `UNKNOWN_MEMBER_ID`): a member id the coordinator does
/// not know cannot commit, even naming the current generation.
#[test]
fn commit_from_an_unknown_member_is_rejected() {
    let mut sim = Sim::new(&spec(1));
    let c1 = sim.node("c1");
    sim.start_all();
    sim.run_until(ms(5_000));
    let (member, generation, _) = sim.joins(c1)[0].clone();
    assert_ne!(member, 999);

    let reply = sim.call(
        sim.coordinator(),
        c1,
        commit_msg(999, generation, vec![(P0, 1)]),
    );
    assert_eq!(commit_result(&reply), Err(CommitError::UnknownMember));
    let rejected = EventKind::CommitRejected {
        group: G,
        consumer: c1,
        generation,
        reason: CommitError::UnknownMember,
    };
    assert_eq!(reply.events, vec![rejected]);
    assert_eq!(sim.world.committed(G, P0), None);
}

/// Kafka's classic group coordinator (`GroupCoordinator.doCommitOffsets`)
/// accepts an offset commit from a known member naming the current
/// generation while the group is `PreparingRebalance` ("During
/// PreparingRebalance phase, we still allow a commit request since we rely
/// on heartbeat response to eventually notify the rebalance in progress
/// signal to the consumer"); `REBALANCE_IN_PROGRESS` is only for
/// `CompletingRebalance`, a state this model (join and sync in one step)
/// does not have. This is how the Java consumer's commit before revoking
/// (auto-commit in `onJoinPrepare`, or a `commitSync` after a batch that
/// ends while others rejoin) succeeds.
#[test]
fn commit_while_preparing_a_rebalance_is_accepted_from_the_current_generation() {
    let mut s = spec(2);
    s.groups[0].members = 2;
    let mut sim = Sim::new(&s);
    let (b1, c1, c2) = (sim.node("b1"), sim.node("c1"), sim.node("c2"));
    sim.start_named(&[("p1", 0), ("b1", 0), ("c1", 0)]);
    sim.run_until(ms(5_000));
    let (member, generation, _) = sim.joins(c1)[0].clone();
    assert_eq!(generation, 1);

    // A new member asks to join: the group starts preparing a rebalance,
    // which the current member learns from its next heartbeat.
    let join = sim.call(
        b1,
        c2,
        Msg::Join {
            req: 1,
            group: G,
            member: None,
            instance: None,
            owned: Vec::new(),
        },
    );
    assert!(join.sends.is_empty(), "the join waits for the rebalance");
    let heartbeat = sim.call(
        b1,
        c1,
        Msg::Heartbeat {
            group: G,
            member,
            generation,
        },
    );
    let rebalancing = Some(super::GroupError::RebalanceInProgress);
    assert!(
        matches!(heartbeat.sends.as_slice(), [(_, Msg::HeartbeatResponse { error, .. })] if *error == rebalancing),
        "{:?}",
        heartbeat.sends
    );

    // The current member commits before rejoining.
    let reply = sim.call(b1, c1, commit_msg(member, generation, vec![(P0, 0)]));
    assert_eq!(commit_result(&reply), Ok(()));
    assert_eq!(sim.world.committed(G, P0), Some(0));
}

/// The same rule seen end to end: with `enable.auto.commit`, the Java
/// consumer commits its positions before revoking partitions for a
/// rebalance (`ConsumerCoordinator.onJoinPrepare`; this model's
/// `CommitMode::Auto` says "synchronously before a rebalance"), and the
/// coordinator, still `PreparingRebalance`, accepts that commit. So records
/// consumed before another member joined are not delivered again.
#[test]
fn auto_commit_before_revocation_survives_a_member_joining() {
    let mut s = spec(1);
    s.workload.records = 3;
    s.workload.start = ms(4_000);
    s.groups[0].members = 2;
    s.groups[0].config.commit = CommitMode::Auto;
    s.groups[0].config.auto_commit_interval = ms(60_000);
    let mut sim = Sim::new(&s);
    let (c1, c2) = (sim.node("c1"), sim.node("c2"));
    sim.start_named(&[("p1", 0), ("b1", 0), ("c1", 0), ("c2", 5_000)]);
    sim.run_until(ms(30_000));

    assert_eq!(sim.generations().len(), 2, "c2 joined");
    assert!(
        sim.rejected().is_empty(),
        "commits refused: {:?}",
        sim.rejected()
    );
    let mut offsets = sim.offsets_delivered(c1, SimTime::ZERO);
    offsets.extend(sim.offsets_delivered(c2, SimTime::ZERO));
    offsets.sort();
    assert_eq!(offsets, vec![0, 1, 2], "each record delivered once");
    assert_eq!(sim.world.committed(G, P0), Some(3));
}

// ----- membership -----

/// KIP-429 end to end: c2 joins c1's group under `cooperative-sticky`.
/// The first round leaves c1 the two partitions it keeps and holds back the
/// two that move; c1 revokes them at its next poll (committing their
/// positions under auto-commit), rejoins, and the second round hands them
/// to c2. c1 goes on consuming its partitions between the rounds, and no
/// record is handed out twice.
#[test]
fn cooperative_rebalance_moves_only_what_it_must_over_two_rounds() {
    let mut s = spec(4);
    s.workload.records = 200;
    s.workload.keys = 20;
    s.workload.interval = ms(50);
    s.groups[0].members = 2;
    s.groups[0].config.commit = CommitMode::Auto;
    s.groups[0].config.assignor = Assignor::CooperativeSticky;
    let mut sim = Sim::new(&s);
    let (c1, c2) = (sim.node("c1"), sim.node("c2"));
    sim.start_named(&[("p1", 0), ("b1", 0), ("c1", 0), ("c2", 6_000)]);
    sim.run_until(ms(30_000));

    let gens = sim.generations();
    assert_eq!(gens.len(), 3, "{gens:?}");
    assert_eq!(sim.assigned(1, c1), vec![0, 1, 2, 3]);
    assert_eq!(sim.assigned(2, c1), vec![0, 1], "c1 keeps two");
    assert!(
        sim.assigned(2, c2).is_empty(),
        "the moving two are held back"
    );
    assert_eq!(sim.assigned(3, c1), vec![0, 1]);
    assert_eq!(sim.assigned(3, c2), vec![2, 3]);
    let revoked = sim.events(|k| match *k {
        EventKind::IncrementalRevoke {
            consumer,
            partition,
            generation,
            ..
        } => Some((consumer, partition.0, generation)),
        _ => None,
    });
    let revoked: Vec<_> = revoked.into_iter().map(|r| r.1).collect();
    assert_eq!(revoked, vec![(c1, 2, 2), (c1, 3, 2)]);
    // Between the rounds c1 keeps handling records of its own partitions.
    let (round1, round2) = (gens[1].0, gens[2].0);
    let between = sim.events(|k| match *k {
        EventKind::Delivered {
            consumer,
            partition,
            ..
        } if consumer == c1 => Some(partition.0),
        _ => None,
    });
    let between: Vec<u16> = between
        .into_iter()
        .filter(|(t, _)| *t > round1 && *t < round2)
        .map(|d| d.1)
        .collect();
    assert!(!between.is_empty(), "c1 stopped between the rounds");
    assert!(between.iter().all(|&p| p < 2), "{between:?}");
    // Every record once.
    let mut msgs: Vec<u32> = sim.delivered(c1).iter().map(|d| d.2.0).collect();
    msgs.extend(sim.delivered(c2).iter().map(|d| d.2.0));
    msgs.sort_unstable();
    let n = msgs.len();
    msgs.dedup();
    assert_eq!((n, msgs.len()), (200, 200));
}

/// A cooperative member's join says which partitions it owns: the same
/// list as in its last join (a lost response re-sent) gets the current
/// generation back, a changed one (it revoked some) starts a rebalance.
#[test]
fn a_cooperative_join_with_changed_owned_partitions_starts_a_rebalance() {
    let mut s = spec(2);
    s.groups[0].config.assignor = Assignor::CooperativeSticky;
    let mut sim = Sim::new(&s);
    let (b1, c1) = (sim.node("b1"), sim.node("c1"));
    sim.start_named(&[("p1", 0), ("b1", 0), ("c1", 0)]);
    sim.run_until(ms(5_000));
    let (member, generation, assignment) = sim.joins(c1)[0].clone();
    assert_eq!((generation, assignment.len()), (1, 2));
    let mut join = |req, owned: Vec<PartitionId>| {
        let reply = sim.call(
            b1,
            c1,
            Msg::Join {
                req,
                group: G,
                member: Some(member),
                instance: None,
                owned,
            },
        );
        match reply.sends.as_slice() {
            [(_, Msg::JoinResponse { generation, .. })] => *generation,
            other => panic!("{other:?}"),
        }
    };
    let p1 = PartitionId(1);
    // Its first join owned nothing; now it owns both: a rebalance (of one
    // member, complete at once).
    assert_eq!(join(90, vec![P0, p1]), 2);
    assert_eq!(join(91, vec![P0, p1]), 2, "the same list: no rebalance");
    assert_eq!(join(92, vec![P0]), 3, "it gave one up: a rebalance");
}

/// Range assignment: "members in order, each gets a contiguous range ...
/// and the first `partitions % members` members get one more" (Kafka's
/// `RangeAssignor` javadoc: 7 partitions over 3 consumers give 3, 2, 2), and
/// "each rebalance increments the generation" (semantics.md §1, Consumer
/// groups). Members join one at a time; the generations are 1, 2, 3.
#[test]
fn range_assignment_and_generations_as_members_join() {
    let mut s = spec(7);
    s.groups[0].members = 3;
    let mut sim = Sim::new(&s);
    let c = [sim.node("c1"), sim.node("c2"), sim.node("c3")];
    sim.start_named(&[
        ("p1", 0),
        ("b1", 0),
        ("c1", 0),
        ("c2", 10_000),
        ("c3", 20_000),
    ]);
    sim.run_until(ms(40_000));

    let gens: Vec<(u32, u16)> = sim.generations().iter().map(|g| (g.1, g.2)).collect();
    assert_eq!(gens, vec![(1, 1), (2, 2), (3, 3)]);
    assert_eq!(sim.assigned(1, c[0]), vec![0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(sim.assigned(2, c[0]), vec![0, 1, 2, 3]);
    assert_eq!(sim.assigned(2, c[1]), vec![4, 5, 6]);
    assert_eq!(sim.assigned(3, c[0]), vec![0, 1, 2]);
    assert_eq!(sim.assigned(3, c[1]), vec![3, 4]);
    assert_eq!(sim.assigned(3, c[2]), vec![5, 6]);
    // Each member is told its own range in its join response.
    for (i, want) in [vec![0u16, 1, 2], vec![3, 4], vec![5, 6]]
        .iter()
        .enumerate()
    {
        let (_, generation, assignment) = sim.joins(c[i]).last().cloned().expect("joined");
        assert_eq!(generation, 3);
        assert_eq!(assignment.iter().map(|p| p.0).collect::<Vec<_>>(), *want);
    }
}

/// `session.timeout.ms`: a member that sends no heartbeat within the
/// session timeout is removed and the group rebalances (semantics.md §1,
/// Consumer groups; Kafka consumer config docs). `c2` dies silently; the
/// coordinator removes it exactly one session timeout after it last heard
/// from it, and `c1` gets every partition in the next generation.
#[test]
fn session_timeout_removes_a_silent_member_and_rebalances() {
    let session = ms(10_000);
    let mut s = spec(2);
    s.groups[0].members = 2;
    s.groups[0].config.session_timeout = session;
    let mut sim = Sim::new(&s);
    let (b1, c1, c2) = (sim.node("b1"), sim.node("c1"), sim.node("c2"));
    sim.start_all();
    sim.run_until(ms(5_000));
    let gen1 = sim.generations()[0];
    assert_eq!((gen1.1, gen1.2), (1, 2));
    sim.crash(c2);
    sim.run_until(ms(40_000));

    let removed = sim.removed();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0].1, (c2, RemoveReason::SessionTimeout));
    // The coordinator last heard from c2 when generation 1 started, or
    // later by a heartbeat or join that arrived.
    let heard = sim.sends(|s| match s.msg {
        Msg::Heartbeat { .. } | Msg::Join { .. } if s.from == c2 && s.to == b1 => {
            Some(s.at + LATENCY)
        }
        _ => None,
    });
    let last_heard = heard.into_iter().fold(gen1.0, SimTime::max);
    assert_eq!(removed[0].0, last_heard + session);

    let gens = sim.generations();
    assert_eq!(gens.len(), 2);
    assert_eq!((gens[1].1, gens[1].2), (2, 1));
    assert!(gens[1].0 > removed[0].0);
    let (_, generation, assignment) = sim.joins(c1).last().cloned().expect("joined");
    assert_eq!((generation, assignment), (2, vec![P0, PartitionId(1)]));
}

/// Static membership (`group.instance.id`, KIP-345; semantics.md §1:
/// "static members can restart within the session timeout without causing
/// a rebalance"). `c2` crashes and comes back 2 s later, well within the
/// session timeout: the coordinator recognises its instance, gives it a
/// new member id and its old partitions in generation 1, and starts no
/// rebalance. The member id of the old incarnation is fenced.
#[test]
fn a_static_member_restarting_within_the_session_timeout_keeps_its_assignment() {
    let mut s = spec(2);
    s.groups[0].members = 2;
    s.groups[0].config.session_timeout = ms(10_000);
    s.groups[0].config.static_membership = true;
    let mut sim = Sim::new(&s);
    let (b1, c2) = (sim.node("b1"), sim.node("c2"));
    sim.start_all();
    sim.run_until(ms(5_000));
    let (old, generation, before) = sim.joins(c2)[0].clone();
    assert_eq!(generation, 1);
    sim.crash(c2);
    sim.run_until(ms(6_000));
    sim.restart(c2);
    sim.run_until(ms(30_000));

    let gens = sim.generations();
    assert_eq!(gens.len(), 1, "no rebalance: {gens:?}");
    assert!(sim.removed().is_empty(), "{:?}", sim.removed());
    let (member, generation, after) = sim.joins(c2).last().cloned().expect("rejoined");
    assert_eq!((generation, after), (1, before));
    assert_ne!(member, old, "a new member id fences the old incarnation");
    let rejoined = sim.events(|k| match *k {
        EventKind::StaticMemberRejoined {
            consumer,
            generation,
            ..
        } => Some((consumer, generation)),
        _ => None,
    });
    assert_eq!(rejoined.len(), 1, "{rejoined:?}");
    assert_eq!(rejoined[0].1, (c2, 1));
    let stale = sim.call(
        b1,
        c2,
        Msg::Heartbeat {
            group: G,
            member: old,
            generation: 1,
        },
    );
    assert!(
        matches!(
            stale.sends.as_slice(),
            [(
                _,
                Msg::HeartbeatResponse {
                    error: Some(super::GroupError::UnknownMember),
                    ..
                }
            )]
        ),
        "{:?}",
        stale.sends
    );
}

/// The same restart with dynamic membership: the consumer joins as a new
/// member, which starts a rebalance, and the rebalance waits for the old
/// member until its session expires (semantics.md §1; KIP-345's
/// motivation). Only then does generation 2 start.
#[test]
fn a_dynamic_member_restarting_waits_for_its_old_session_to_expire() {
    let session = ms(10_000);
    let mut s = spec(2);
    s.groups[0].members = 2;
    s.groups[0].config.session_timeout = session;
    let mut sim = Sim::new(&s);
    let c2 = sim.node("c2");
    sim.start_all();
    sim.run_until(ms(5_000));
    sim.crash(c2);
    let crashed = ms(5_000);
    sim.run_until(ms(6_000));
    sim.restart(c2);
    sim.run_until(ms(30_000));

    let removed = sim.removed();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0].1, (c2, RemoveReason::SessionTimeout));
    let gens = sim.generations();
    assert_eq!(gens.len(), 2, "{gens:?}");
    assert_eq!((gens[1].1, gens[1].2), (2, 2));
    assert!(gens[1].0 >= removed[0].0 && removed[0].0 > crashed + session - ms(3_000));
}

/// A static member whose application misses `max.poll.interval.ms` sends
/// no LeaveGroup (only dynamic members do, `AbstractCoordinator.
/// maybeLeaveGroup`): it forgets its member id and rejoins at its next
/// poll, and the coordinator hands its partitions back without a
/// rebalance.
#[test]
fn a_static_member_missing_the_poll_deadline_does_not_leave() {
    let mut s = spec(1);
    s.workload.records = 1;
    s.groups[0].config.static_membership = true;
    s.groups[0].config.max_poll_interval = ms(10_000);
    s.groups[0].config.heartbeat_interval = ms(3_000);
    s.groups[0].config.processing = (ms(20_000), ms(20_000));
    let mut sim = Sim::new(&s);
    let c1 = sim.node("c1");
    sim.start_all();
    // Past the first missed deadline (about 13 s) and the rejoin when the
    // record is done (about 21 s); the record is then handled again from
    // the committed offset, and would miss the deadline again.
    sim.run_until(ms(25_000));

    let left = sim.events(|k| match *k {
        EventKind::PollIntervalExceeded { consumer, .. } => Some(consumer),
        _ => None,
    });
    assert_eq!(left.len(), 1, "{left:?}");
    let leaves = sim.sends(|s| matches!(s.msg, Msg::Leave { .. }).then_some(()));
    assert!(leaves.is_empty(), "a static member sent LeaveGroup");
    assert!(sim.removed().is_empty());
    assert_eq!(sim.generations().len(), 1);
    let (_, generation, assignment) = sim.joins(c1).last().cloned().expect("rejoined");
    assert_eq!((generation, assignment), (1, vec![P0]));
}

/// `max.poll.interval.ms`: "if poll() is not called before expiration of
/// this timeout, then the consumer is considered failed and the group will
/// rebalance" (Kafka consumer config docs; semantics.md §1: "miss it →
/// removed"); the Java client's heartbeat thread then leaves the group, and
/// a later `commitSync` fails with `CommitFailedException`. A record that
/// takes 20 s to process under a 10 s interval: the consumer leaves (within
/// one heartbeat interval of the deadline here) and its commit is refused.
#[test]
fn exceeding_max_poll_interval_leaves_the_group_and_the_commit_fails() {
    let max_poll = ms(10_000);
    let heartbeat = ms(3_000);
    let mut s = spec(1);
    s.workload.records = 1;
    s.groups[0].config.max_poll_interval = max_poll;
    s.groups[0].config.heartbeat_interval = heartbeat;
    s.groups[0].config.processing = (ms(20_000), ms(20_000));
    let mut sim = Sim::new(&s);
    let (b1, c1) = (sim.node("b1"), sim.node("c1"));
    sim.start_all();
    sim.run_until(ms(24_000));

    // poll() returned the record when its fetch response arrived.
    let polled = sim.sends(|s| match &s.msg {
        Msg::FetchResponse { records, .. } if s.to == c1 && !records.is_empty() => {
            Some(s.at + LATENCY)
        }
        _ => None,
    })[0];
    let left = sim.events(|k| match *k {
        EventKind::PollIntervalExceeded {
            consumer,
            generation,
        } => Some((consumer, generation)),
        _ => None,
    });
    assert_eq!(left.len(), 1, "{left:?}");
    let (left_at, who) = left[0];
    assert_eq!(who, (c1, 1));
    let late = left_at.since(polled);
    assert!(
        late > max_poll && late <= max_poll + heartbeat,
        "left {late} after poll"
    );
    assert_eq!(
        sim.removed(),
        vec![(left_at + LATENCY, (c1, RemoveReason::PollInterval))]
    );

    // The handler finishes after the consumer left; its commit is refused
    // (by the client, which knows it is out of the group).
    let handled = sim.events(|k| match *k {
        EventKind::Handled {
            consumer, offset, ..
        } if consumer == c1 => Some(offset),
        _ => None,
    });
    assert_eq!(handled.len(), 1);
    assert!(handled[0].0 > left_at);
    let rejected = sim.rejected();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].1, (c1, CommitError::UnknownMember));
    assert!(rejected[0].0 >= handled[0].0);
    let commits_sent =
        sim.sends(|s| matches!(s.msg, Msg::Commit { .. } if s.to == b1).then_some(s.at));
    assert!(commits_sent.is_empty(), "{commits_sent:?}");
    assert_eq!(sim.world.committed(G, P0), None);
}

// ----- producing -----

/// A producer of one partition with `records` records all due at time 0,
/// one record per batch, and its config tweaked by `f`; no consumers.
fn producer_spec(records: u32, f: impl FnOnce(&mut ProducerConfig)) -> KafkaSpec {
    let mut s = spec(1);
    s.groups.clear();
    s.workload.records = records;
    s.workload.interval = SimTime::ZERO;
    s.producer.config.batch_records = 1;
    f(&mut s.producer.config);
    s
}

fn is_produce_response(_: NodeId, _: NodeId, m: &Msg) -> bool {
    matches!(m, Msg::ProduceResponse { .. })
}

fn is_first_send_of_batch_0(_: NodeId, _: NodeId, m: &Msg) -> bool {
    matches!(
        m,
        Msg::Produce {
            batch: 0,
            attempt: 1,
            ..
        }
    )
}

/// "Retry duplication" (semantics.md §1, Sim checklist; Kafka docs on
/// `enable.idempotence`: without it, a retry after a lost acknowledgement
/// can write the batch twice). With idempotence off, the ProduceResponse of
/// the first attempt is lost; the retry appends the record again.
#[test]
fn retry_after_lost_ack_duplicates_without_idempotence() {
    let s = producer_spec(1, |c| c.idempotence = false);
    let mut sim = Sim::new(&s);
    sim.drop_next(1, true, is_produce_response);
    sim.start_all();
    sim.run_until(ms(2_000));

    assert_eq!(sim.appends_of(0), vec![(0, 1), (1, 2)]);
    assert_eq!(sim.log_msgs(P0), vec![0, 0]);
    assert_eq!(sim.acked(), vec![(0, Some(1))]);
}

/// Idempotence: "The broker keeps the last 5 batches per producer/partition,
/// drops retried duplicates" (semantics.md §1, Idempotence). Same lost
/// acknowledgement as above with idempotence on: the retry is recognised as
/// a duplicate, appended once, and acknowledged with its original offset.
#[test]
fn retry_after_lost_ack_is_deduplicated_with_idempotence() {
    let s = producer_spec(1, |c| c.idempotence = true);
    let mut sim = Sim::new(&s);
    sim.drop_next(1, true, is_produce_response);
    sim.start_all();
    sim.run_until(ms(2_000));

    assert_eq!(sim.appends_of(0), vec![(0, 1)]);
    assert_eq!(sim.log_msgs(P0), vec![0]);
    let dups = sim.events(|k| match *k {
        EventKind::DuplicateBatch { batch, attempt, .. } => Some((batch, attempt)),
        _ => None,
    });
    assert_eq!(dups.iter().map(|d| d.1).collect::<Vec<_>>(), vec![(0, 2)]);
    let duplicate = ProduceResult::Duplicate { base_offset: 0 };
    assert_eq!(sim.produce_results(), vec![(0, duplicate)]);
    assert_eq!(sim.acked(), vec![(0, Some(0))]);
}

/// The producer ids of every produce request sent, in order.
fn produce_pids(sim: &Sim) -> Vec<u32> {
    sim.sends(|s| match s.msg {
        Msg::Produce { pid, .. } => Some(pid),
        _ => None,
    })
}

/// "A restarted producer without a `transactional.id` gets a new producer
/// id, so resends after a crash duplicate" (semantics.md §1, Idempotence).
/// The acknowledgement of the appended batch is lost and the producer
/// crashes waiting for it; restarted, it resends the unanswered record under
/// a new producer id, and the broker appends it again.
#[test]
fn restarted_idempotent_producer_resends_under_a_new_producer_id() {
    let s = producer_spec(1, |c| c.idempotence = true);
    let mut sim = Sim::new(&s);
    let p1 = sim.node("p1");
    sim.drop_next(1, false, is_produce_response);
    sim.start_all();
    sim.run_until(ms(100));
    assert_eq!(sim.appends_of(0), vec![(0, 1)]);
    assert!(sim.acked().is_empty());

    sim.crash(p1);
    sim.run_until(ms(200));
    sim.restart(p1);
    sim.run_until(ms(2_000));

    assert_eq!(sim.appends_of(0), vec![(0, 1), (1, 1)]);
    assert_eq!(sim.log_msgs(P0), vec![0, 0]);
    let pids = produce_pids(&sim);
    assert_eq!(pids.len(), 2);
    assert_ne!(pids[0], pids[1], "the restart took a new producer id");
    assert_eq!(sim.acked(), vec![(0, Some(1))]);
}

/// The application hands a restarted producer only the records it got no
/// answer for: an acknowledged record is not sent again.
#[test]
fn restarted_producer_does_not_resend_acknowledged_records() {
    let s = producer_spec(2, |c| c.idempotence = true);
    let mut sim = Sim::new(&s);
    let p1 = sim.node("p1");
    // The second record's acknowledgement is lost (the first goes by).
    sim.drop_next(1, false, |_, _, m| {
        matches!(m, Msg::ProduceResponse { batch: 1, .. })
    });
    sim.start_all();
    sim.run_until(ms(100));
    assert_eq!(sim.acked(), vec![(0, Some(0))]);

    sim.crash(p1);
    sim.restart(p1);
    sim.run_until(ms(2_000));

    assert_eq!(sim.log_msgs(P0), vec![0, 1, 1]);
    assert_eq!(sim.acked(), vec![(0, Some(0)), (1, Some(2))]);
}

/// The broker "rejects gaps (OutOfOrderSequence)" in an idempotent
/// producer's sequence numbers (semantics.md §1, Idempotence): a batch whose
/// first sequence is not the next expected one is refused and not appended.
#[test]
fn idempotent_batch_with_a_sequence_gap_is_out_of_order() {
    let mut sim = Sim::new(&producer_spec(0, |_| {}));
    let (p1, b1) = (sim.node("p1"), sim.node("b1"));
    sim.start_all();
    sim.run_until(ms(1));

    let r = sim.call(b1, p1, produce(P0, 7, 0, Acks::All, &[0, 1]));
    assert_eq!(
        produce_result(&r),
        ProduceResult::Appended { base_offset: 0 }
    );
    // The next batch must start at sequence 2; 5 leaves a gap.
    let r = sim.call(b1, p1, produce(P0, 7, 5, Acks::All, &[2]));
    assert_eq!(produce_result(&r), ProduceResult::OutOfOrderSequence);
    assert!(r.events.is_empty(), "nothing appended: {:?}", r.events);
    assert_eq!(sim.world.log(P0).end(), 2);
    // Sequence 2 is still accepted afterwards.
    let r = sim.call(b1, p1, produce(P0, 7, 2, Acks::All, &[2]));
    assert_eq!(
        produce_result(&r),
        ProduceResult::Appended { base_offset: 2 }
    );
}

/// "The broker keeps the last **5 batches** per producer/partition"
/// (semantics.md §1, Idempotence): a retry of one of the last five batches
/// is a duplicate; a retry of an older one is no longer recognised (and,
/// being out of sequence, is refused rather than appended).
#[test]
fn idempotent_dedup_window_is_the_last_five_batches() {
    let mut sim = Sim::new(&producer_spec(0, |_| {}));
    let (p1, b1) = (sim.node("p1"), sim.node("b1"));
    sim.start_all();
    sim.run_until(ms(1));
    for seq in 0..6 {
        let r = sim.call(b1, p1, produce(P0, 9, seq, Acks::All, &[seq]));
        let base_offset = u64::from(seq);
        assert_eq!(produce_result(&r), ProduceResult::Appended { base_offset });
    }
    let r = sim.call(b1, p1, produce(P0, 9, 1, Acks::All, &[1]));
    assert_eq!(
        produce_result(&r),
        ProduceResult::Duplicate { base_offset: 1 }
    );
    assert!(matches!(
        r.events.as_slice(),
        [EventKind::DuplicateBatch { .. }]
    ));
    let r = sim.call(b1, p1, produce(P0, 9, 0, Acks::All, &[0]));
    assert_eq!(produce_result(&r), ProduceResult::OutOfOrderSequence);
    assert_eq!(sim.world.log(P0).end(), 6);
}

/// "`max.in.flight.requests.per.connection` defaults to 5. If it is >1 with
/// idempotence off, retries can reorder batches" (semantics.md §1, Producer
/// durability). Two one-record batches of one partition go out together; the
/// first is lost, the second lands, and the retried first lands after it.
#[test]
fn lost_first_batch_lands_after_the_second_with_several_in_flight() {
    let s = producer_spec(2, |c| {
        c.idempotence = false;
        c.max_in_flight = 5;
    });
    let mut sim = Sim::new(&s);
    sim.drop_next(1, true, is_first_send_of_batch_0);
    sim.start_all();
    sim.run_until(ms(2_000));

    let log = sim.log_msgs(P0);
    let first = |m: u32| log.iter().position(|&x| x == m).expect("appended");
    assert!(first(1) < first(0), "log {log:?}");
    // The second batch's acknowledgement was lost with the connection, so
    // it was sent again too.
    assert_eq!(log, vec![1, 0, 1]);
}

/// The same loss with `max.in.flight.requests.per.connection = 1`: the
/// second batch waits for the first, so the log keeps produce order
/// (semantics.md §1: reordering needs more than one request in flight).
#[test]
fn lost_first_batch_cannot_be_overtaken_with_one_in_flight() {
    let s = producer_spec(2, |c| {
        c.idempotence = false;
        c.max_in_flight = 1;
    });
    let mut sim = Sim::new(&s);
    sim.drop_next(1, true, is_first_send_of_batch_0);
    sim.start_all();
    sim.run_until(ms(2_000));
    assert_eq!(sim.log_msgs(P0), vec![0, 1]);
    assert_eq!(sim.appends_of(0), vec![(0, 2)]);
}

/// With idempotence on (up to 5 in flight), the broker refuses the second
/// batch while the first is missing (OutOfOrderSequence) and the log keeps
/// produce order (semantics.md §1, Idempotence; Kafka's producer docs:
/// idempotence preserves ordering with up to 5 requests in flight).
#[test]
fn idempotent_producer_keeps_order_when_the_first_batch_is_lost() {
    let s = producer_spec(2, |c| {
        c.idempotence = true;
        c.max_in_flight = 5;
    });
    let mut sim = Sim::new(&s);
    sim.drop_next(1, true, is_first_send_of_batch_0);
    sim.start_all();
    sim.run_until(ms(2_000));
    assert_eq!(sim.log_msgs(P0), vec![0, 1]);
    assert_eq!(
        sim.produce_results()[0],
        (1, ProduceResult::OutOfOrderSequence)
    );
}

/// Retried batches of an idempotent producer go back into their queue in
/// sequence order (the Java client's `insertInSequenceOrder`): when the
/// first of four in-flight batches arrives late, the broker refuses the
/// three that overtook it (OutOfOrderSequence); they are resent in order
/// and appended once each, with no second round of refusals.
#[test]
fn idempotent_retries_are_resent_in_sequence_order() {
    let s = producer_spec(4, |c| {
        c.idempotence = true;
        c.max_in_flight = 5;
    });
    let mut sim = Sim::new(&s);
    sim.delay_next(1, ms(5), is_first_send_of_batch_0);
    sim.start_all();
    sim.run_until(ms(60_000));
    assert_eq!(sim.log_msgs(P0), vec![0, 1, 2, 3]);
    let refused = |sim: &Sim| {
        sim.produce_results()
            .iter()
            .filter(|r| r.1 == ProduceResult::OutOfOrderSequence)
            .count()
    };
    assert_eq!(refused(&sim), 3, "{:?}", sim.produce_results());
    let retried = sim.sends(|s| match s.msg {
        Msg::Produce { batch, attempt, .. } if attempt > 1 => Some(batch),
        _ => None,
    });
    let mut sorted = retried.clone();
    sorted.sort_unstable();
    assert_eq!(retried, sorted, "retries leave in sequence order");
    for m in 0..4 {
        assert_eq!(sim.appends_of(m).len(), 1, "message {m} appended once");
    }
}

/// `acks=0`: "no wait, no retries, offset -1" (semantics.md §1, Producer
/// durability): the broker sends no response, the send completes at once
/// with no offset, and a lost request is not retried.
#[test]
fn acks_zero_gets_no_response_and_no_offset() {
    let s = producer_spec(3, |c| {
        c.acks = Acks::Zero;
        c.idempotence = false;
    });
    let mut sim = Sim::new(&s);
    let (p1, b1) = (sim.node("p1"), sim.node("b1"));
    sim.drop_next(1, true, is_first_send_of_batch_0);
    sim.start_all();
    sim.run_until(ms(2_000));

    assert_eq!(sim.produce_results(), vec![]);
    assert_eq!(sim.acked(), vec![(0, None), (1, None), (2, None)]);
    // Message 0 was lost and never retried.
    let sent = sim.events(|k| match *k {
        EventKind::ProduceSent { attempt, .. } => Some(attempt),
        _ => None,
    });
    assert!(sent.iter().all(|s| s.1 == 1), "{sent:?}");
    assert_eq!(sim.log_msgs(P0), vec![1, 2]);

    // A hand-made acks=0 request: appended, nothing sent back.
    let r = sim.call(b1, p1, produce(P0, 0, 0, Acks::Zero, &[50]));
    assert!(r.sends.is_empty());
    assert!(matches!(
        r.events.as_slice(),
        [EventKind::Appended { offset: 2, .. }]
    ));
}

// ----- partitioning -----

/// "A keyed record goes to `murmur2(key) mod partitions` ... Order holds
/// per partition" (semantics.md §1, Partitioning). Every record sits in its
/// key's murmur2 partition, and each key's records are in produce order.
#[test]
fn keyed_records_go_to_the_murmur2_partition_in_key_order() {
    let mut s = spec(6);
    s.brokers = 2;
    s.groups.clear();
    s.workload.records = 120;
    s.workload.keys = 12;
    let mut sim = Sim::new(&s);
    sim.start_all();
    sim.run_until(ms(5_000));

    let layout = sim.world.layout();
    for (k, name) in layout.keys.iter().enumerate() {
        let want = PartitionId(partition_for_key(name.as_bytes(), 6) as u16);
        assert_eq!(layout.key_partitions[k], want, "key {name}");
    }
    let (mut total, mut used) = (0, 0);
    for p in (0..6).map(PartitionId) {
        let records = sim.world.log(p).read(0, u32::MAX);
        total += records.len();
        used += usize::from(!records.is_empty());
        let mut next_seq = [1u32; 12];
        for r in records {
            assert!(r.keyed);
            assert_eq!(layout.key_partitions[r.entity.index()], p);
            assert_eq!(r.seq, next_seq[r.entity.index()], "key order in {p}");
            next_seq[r.entity.index()] += 1;
        }
    }
    assert_eq!(total, 120);
    assert!(used > 1);
}

/// "A null key uses the sticky partitioner. It switches partition after
/// about `batch.size`" (semantics.md §1, Partitioning): every batch of
/// keyless records sits in one partition, and over many batches more than
/// one partition is used.
#[test]
fn keyless_records_stick_per_batch_and_spread_over_partitions() {
    let mut s = spec(6);
    s.groups.clear();
    s.workload.records = 200;
    s.workload.keys = 5;
    s.workload.keyless = true;
    let mut sim = Sim::new(&s);
    sim.start_all();
    sim.run_until(ms(5_000));

    let mut batch_partition: BTreeMap<u32, PartitionId> = BTreeMap::new();
    let mut total = 0;
    for p in (0..6).map(PartitionId) {
        for r in sim.world.log(p).read(0, u32::MAX) {
            total += 1;
            assert!(!r.keyed);
            let at = *batch_partition.entry(r.batch).or_insert(p);
            assert_eq!(at, p, "batch {} split over partitions", r.batch);
        }
    }
    assert_eq!(total, 200);
    let mut used: Vec<PartitionId> = batch_partition.values().copied().collect();
    used.sort();
    used.dedup();
    assert!(used.len() > 1, "{batch_partition:?}");
}

// ----- auto.offset.reset -----

/// A group joining at 7 s, while ten records are produced 2 s apart.
fn late_group_spec(reset: OffsetReset) -> KafkaSpec {
    let mut s = spec(1);
    s.workload.records = 10;
    s.workload.interval = ms(2_000);
    s.groups[0].config.offset_reset = reset;
    s
}

/// `auto.offset.reset=earliest` (semantics.md §1, Offsets: the policy
/// applies when no offset exists): a new group reads the records produced
/// before it joined, from offset 0.
#[test]
fn offset_reset_earliest_starts_at_zero() {
    let mut sim = Sim::new(&late_group_spec(OffsetReset::Earliest));
    let c1 = sim.node("c1");
    sim.start_named(&[("p1", 0), ("b1", 0), ("c1", 7_000)]);
    sim.run_until(ms(30_000));
    assert_eq!(
        sim.offsets_delivered(c1, SimTime::ZERO),
        (0..10).collect::<Vec<_>>()
    );
}

/// `auto.offset.reset=latest` (Kafka's default; semantics.md §1, Offsets):
/// a new group starts at the log end offset, so records produced before it
/// joined are never delivered, and every later record is.
#[test]
fn offset_reset_latest_starts_at_the_log_end() {
    let mut sim = Sim::new(&late_group_spec(OffsetReset::Latest));
    let c1 = sim.node("c1");
    sim.start_named(&[("p1", 0), ("b1", 0), ("c1", 7_000)]);
    sim.run_until(ms(30_000));

    let ends = sim.sends(|s| match s.msg {
        Msg::ListOffsetsResponse { end, .. } if s.to == c1 => Some((s.at, end.expect("b1 leads"))),
        _ => None,
    });
    assert_eq!(ends.len(), 1);
    let (asked_at, end) = ends[0];
    assert!(end > 0, "records were produced before the group joined");
    let appended = sim.events(|k| match *k {
        EventKind::Appended { offset, .. } => Some(offset),
        _ => None,
    });
    let before: Vec<u64> = appended
        .iter()
        .filter(|a| a.0 <= asked_at)
        .map(|a| a.1)
        .collect();
    assert_eq!(before, (0..end).collect::<Vec<_>>());
    assert_eq!(
        sim.offsets_delivered(c1, SimTime::ZERO),
        (end..10).collect::<Vec<_>>()
    );
}

/// `auto.offset.reset` also applies when the consumer's offset "does not
/// exist any more on the server" (Kafka consumer config docs; semantics.md
/// §1, Offsets): a committed offset past the log end draws `out_of_range`
/// and the consumer restarts from the earliest offset.
#[test]
fn committed_offset_past_the_end_is_reset_by_policy() {
    let mut s = spec(1);
    s.workload.records = 3;
    s.groups[0].config.session_timeout = ms(10_000);
    let mut sim = Sim::new(&s);
    let c1 = sim.node("c1");
    sim.start_all();
    sim.run_until(ms(8_000));
    assert_eq!(sim.world.committed(G, P0), Some(3));
    let (member, generation, _) = sim.joins(c1)[0].clone();
    let r = sim.call(
        sim.coordinator(),
        c1,
        commit_msg(member, generation, vec![(P0, 100)]),
    );
    assert_eq!(commit_result(&r), Ok(()));

    sim.crash(c1);
    sim.run_for(ms(1_000));
    let restarted = sim.now;
    sim.restart(c1);
    sim.run_for(ms(60_000));

    let answers = sim.sends(|s| fetch_answer(s.to, &s.msg).filter(|_| s.at >= restarted));
    let out_of_range: Vec<_> = answers.iter().filter(|a| a.4).collect();
    assert_eq!(out_of_range, vec![&(c1, out_of_range[0].1, 100, 0, true)]);
    assert_eq!(sim.offsets_delivered(c1, restarted), vec![0, 1, 2]);
}

// ----- fetching -----

/// Fetch long-poll: the broker holds a fetch with nothing to return until
/// data arrives or `fetch.max.wait.ms` passes (Kafka consumer config docs,
/// `fetch.max.wait.ms` / `fetch.min.bytes`). A fetch at the log end is
/// answered the moment a record is appended, not before.
#[test]
fn fetch_at_the_end_is_answered_when_a_record_arrives() {
    let mut s = spec(1);
    s.groups[0].config.fetch_max_wait = ms(500);
    let mut sim = Sim::new(&s);
    let (p1, b1, c1) = (sim.node("p1"), sim.node("b1"), sim.node("c1"));
    sim.start_named(&[("b1", 0)]);
    sim.run_until(SimTime::ZERO);

    let r = sim.call(b1, c1, fetch_msg(1, 0));
    assert!(r.sends.is_empty(), "held: {:?}", r.sends);
    sim.run_until(ms(200));
    assert!(sim.sent.is_empty(), "nothing answered yet");

    let r = sim.call(b1, p1, produce(P0, 0, 0, Acks::All, &[0]));
    let answers: Vec<_> = r
        .sends
        .iter()
        .filter_map(|(to, m)| fetch_answer(*to, m))
        .collect();
    assert_eq!(answers, vec![(c1, 1, 0, 1, false)]);
    // Answered once: the wait timer finds nothing left to answer.
    sim.run_until(ms(2_000));
    assert!(sim.sent.is_empty());
}

/// Fetch long-poll, the other way out: with no new data the held fetch is
/// answered, empty, exactly `fetch.max.wait.ms` after it arrived (Kafka
/// consumer config docs, `fetch.max.wait.ms`).
#[test]
fn fetch_at_the_end_is_answered_empty_after_fetch_max_wait() {
    let mut s = spec(1);
    s.groups[0].config.fetch_max_wait = ms(500);
    let mut sim = Sim::new(&s);
    let (p1, b1, c1) = (sim.node("p1"), sim.node("b1"), sim.node("c1"));
    sim.start_named(&[("b1", 0)]);
    sim.run_until(ms(1_000));
    let r = sim.call(b1, p1, produce(P0, 0, 0, Acks::All, &[0]));
    assert_eq!(
        produce_result(&r),
        ProduceResult::Appended { base_offset: 0 }
    );

    let asked = sim.now;
    let r = sim.call(b1, c1, fetch_msg(2, 1));
    assert!(r.sends.is_empty());
    sim.run_until(asked + ms(499));
    assert!(sim.sent.is_empty());
    sim.run_until(asked + ms(600));
    let answers = sim.sends(|s| fetch_answer(s.to, &s.msg).map(|a| (s.at, a)));
    assert_eq!(answers, vec![(asked + ms(500), (c1, 2, 1, 0, false))]);
}

/// A fetch past the log end gets `OFFSET_OUT_OF_RANGE` at once (Kafka
/// protocol; the consumer then applies `auto.offset.reset`), while a fetch
/// inside the log gets its records at once.
#[test]
fn fetch_past_the_end_is_out_of_range() {
    let mut sim = Sim::new(&spec(1));
    let (p1, b1, c1) = (sim.node("p1"), sim.node("b1"), sim.node("c1"));
    sim.start_named(&[("b1", 0)]);
    sim.run_until(SimTime::ZERO);
    sim.call(b1, p1, produce(P0, 0, 0, Acks::All, &[0, 1]));

    let mut fetch = |offset: u64| {
        let r = sim.call(b1, c1, fetch_msg(3, offset));
        r.sends
            .iter()
            .map(|(to, m)| fetch_answer(*to, m).expect("fetch response"))
            .collect::<Vec<_>>()
    };
    assert_eq!(fetch(5), vec![(c1, 3, 5, 0, true)]);
    assert_eq!(fetch(1), vec![(c1, 3, 1, 1, false)]);
    assert_eq!(fetch(0), vec![(c1, 3, 0, 2, false)]);
}

/// Sanity of the driver itself: a plain run with two consumers handles
/// every record once and ends drained.
#[test]
fn driver_runs_a_plain_workload_to_drained() {
    let mut s = spec(3);
    s.workload.records = 30;
    s.workload.keys = 6;
    s.groups[0].members = 2;
    let mut sim = Sim::new(&s);
    sim.start_all();
    sim.run_until(ms(20_000));
    let settles = sim.events(|k| match *k {
        EventKind::Handled { settle, .. } => Some(settle),
        _ => None,
    });
    assert_eq!(settles.len(), 30);
    assert!(settles.iter().all(|s| s.1 == Settle::Ok));
    assert!(sim.world.drained());
}

// ----- replication -----

/// Three brokers, `orders-0` replicated on all of them (b1 leads, b2 and b3
/// follow), `records` records in one-record batches from time zero, one
/// consumer from the earliest offset, `replica.lag.time.max.ms` of 2 s;
/// `repl` and `f` adjust it.
fn replicated_spec(
    records: u32,
    repl: ReplicationConfig,
    f: impl FnOnce(&mut KafkaSpec),
) -> KafkaSpec {
    let mut s = spec(1);
    s.brokers = 3;
    s.replication = vec![repl];
    s.workload.records = records;
    s.producer.config.batch_records = 1;
    s.broker.replica_lag_time_max = ms(2_000);
    f(&mut s);
    s
}

fn rf3(min_insync: u16, unclean_election: bool) -> ReplicationConfig {
    ReplicationConfig {
        factor: 3,
        min_insync,
        unclean_election,
    }
}

/// ISR bits: b1 is bit 0, b2 bit 1, b3 bit 2.
const B1: u64 = 1;
const B2: u64 = 2;
const B3: u64 = 4;

/// Black-holes every replica fetch that `followers` send to `leader`.
fn block_fetches(sim: &mut Sim, followers: &[NodeId], leader: NodeId) {
    let followers = followers.to_vec();
    sim.drop_next(usize::MAX, false, move |from, to, m| {
        to == leader && followers.contains(&from) && matches!(m, Msg::ReplicaFetch { .. })
    });
}

fn isr_changes(sim: &Sim) -> Vec<u64> {
    sim.events(|k| match *k {
        EventKind::IsrChanged { isr, .. } => Some(isr),
        _ => None,
    })
    .into_iter()
    .map(|(_, isr)| isr)
    .collect()
}

fn elections(sim: &Sim) -> Vec<(Option<NodeId>, bool)> {
    sim.events(|k| match *k {
        EventKind::LeaderElected {
            leader, unclean, ..
        } => Some((leader, unclean)),
        _ => None,
    })
    .into_iter()
    .map(|(_, e)| e)
    .collect()
}

/// "A record is committed once all of the ISR has it, and consumers read
/// only committed data, up to the high watermark" (semantics.md §1,
/// Producer durability; "a follower lagging more than
/// replica.lag.time.max.ms leaves the ISR"). b3 cannot fetch: the HW stays
/// at 0 and the consumer sees nothing, though b1 and b2 have every record;
/// once b3 has lagged for 2 s the ISR shrinks to b1, b2 and the HW jumps
/// to the log end.
#[test]
fn high_watermark_is_the_smallest_log_end_over_the_isr_and_bounds_consumers() {
    let s = replicated_spec(20, rf3(1, false), |s| s.producer.config.acks = Acks::One);
    let mut sim = Sim::new(&s);
    let (b1, b2, b3, c1) = (
        sim.node("b1"),
        sim.node("b2"),
        sim.node("b3"),
        sim.node("c1"),
    );
    block_fetches(&mut sim, &[b3], b1);
    sim.start_all();
    sim.run_until(ms(1_500));
    assert_eq!(sim.world.replica_log(P0, b1).map(|l| l.end()), Some(20));
    assert_eq!(sim.world.replica_log(P0, b2).map(|l| l.end()), Some(20));
    assert_eq!(sim.world.replica_log(P0, b3).map(|l| l.end()), Some(0));
    assert_eq!(
        sim.world.visible_end(P0),
        0,
        "b3 is in the ISR and has nothing"
    );
    assert!(
        sim.delivered(c1).is_empty(),
        "nothing committed, nothing read"
    );
    assert_eq!(
        sim.acked().len(),
        20,
        "acks=1: the leader's append is enough"
    );

    sim.run_until(ms(8_000));
    assert_eq!(isr_changes(&sim), vec![B1 | B2]);
    assert_eq!(sim.world.visible_end(P0), 20);
    assert_eq!(sim.delivered(c1).len(), 20);
}

/// A follower that catches up rejoins the ISR: b3's fetches are lost from
/// 100 ms to 3.5 s, it falls out of the ISR, then (once its fetch has timed
/// out and it sends the next) reaches the HW and is added back.
#[test]
fn isr_shrinks_and_expands_as_a_follower_falls_behind_and_catches_up() {
    let s = replicated_spec(10, rf3(1, false), |_| {});
    let mut sim = Sim::new(&s);
    let (b1, b3) = (sim.node("b1"), sim.node("b3"));
    sim.start_all();
    sim.run_until(ms(100));
    // From 100 ms to 3.5 s every fetch b3 sends is lost.
    sim.drop_next(usize::MAX, false, move |from, to, m| {
        from == b3 && to == b1 && matches!(m, Msg::ReplicaFetch { .. })
    });
    sim.run_until(ms(3_500));
    assert_eq!(isr_changes(&sim), vec![B1 | B2]);
    sim.rules.clear();
    sim.run_until(ms(40_000));
    assert_eq!(isr_changes(&sim), vec![B1 | B2, B1 | B2 | B3]);
    assert_eq!(sim.world.replica_log(P0, b3).map(|l| l.end()), Some(10));
}

/// `min.insync.replicas`: "with acks=all, a smaller ISR fails the write
/// with NotEnoughReplicas" (semantics.md §1). Neither follower can fetch:
/// the batches b1 appended wait for the HW until the ISR shrinks to b1
/// alone, below 2, and are then answered NOT_ENOUGH_REPLICAS_AFTER_APPEND;
/// later batches are refused with NOT_ENOUGH_REPLICAS. Nothing is
/// acknowledged.
#[test]
fn acks_all_waits_for_the_isr_and_min_isr_refuses_a_small_one() {
    let s = replicated_spec(3, rf3(2, false), |s| s.producer.config.retries = 3);
    let mut sim = Sim::new(&s);
    let (b1, b2, b3) = (sim.node("b1"), sim.node("b2"), sim.node("b3"));
    block_fetches(&mut sim, &[b2, b3], b1);
    sim.start_all();
    sim.run_until(ms(1_000));
    assert!(
        sim.produce_results().is_empty(),
        "acks=all waits for the ISR"
    );
    sim.run_until(ms(6_000));
    let results: Vec<ProduceResult> = sim.produce_results().into_iter().map(|r| r.1).collect();
    assert!(results.contains(&ProduceResult::NotEnoughReplicasAfterAppend));
    assert!(results.contains(&ProduceResult::NotEnoughReplicas));
    assert!(results.iter().all(|r| !r.is_success()));
    assert!(sim.acked().is_empty());
}

/// `acks=1`: "lost if the leader dies before replication" (semantics.md
/// §1). The followers cannot fetch; b1 acknowledges ten records alone and
/// crashes. The controller fences it after the session timeout and elects
/// b2, still in the ISR (a clean election). b1 restarts, follows b2 and
/// truncates the ten acknowledged records away: the final log has none.
#[test]
fn clean_election_after_acks_one_loses_what_only_the_leader_had() {
    let s = replicated_spec(10, rf3(1, false), |s| s.producer.config.acks = Acks::One);
    let mut sim = Sim::new(&s);
    let (b1, b2, b3) = (sim.node("b1"), sim.node("b2"), sim.node("b3"));
    block_fetches(&mut sim, &[b2, b3], b1);
    sim.start_all();
    sim.run_until(ms(500));
    assert_eq!(sim.acked().len(), 10);
    sim.crash(b1);
    sim.run_until(ms(12_000));
    assert_eq!(elections(&sim), vec![(Some(b2), false)]);
    sim.restart(b1);
    sim.run_until(ms(20_000));
    let truncated = sim.events(|k| match *k {
        EventKind::Truncated {
            broker,
            removed,
            offset,
            ..
        } => Some((broker, offset, removed)),
        _ => None,
    });
    assert_eq!(truncated.len(), 1);
    assert_eq!(truncated[0].1, (b1, 0, 10));
    assert_eq!(sim.world.replica_log(P0, b1).map(|l| l.end()), Some(0));
    assert!(sim.log_msgs(P0).is_empty(), "acknowledged records are lost");
}

/// `unclean.leader.election.enable` "allows acked-data loss" (semantics.md
/// §1). The ISR shrinks to b1, which acknowledges acks=all writes alone
/// (min ISR 1), then crashes. With unclean election the out-of-sync b2
/// leads at once and b1's records are truncated on its return; without it
/// the partition has no leader until b1 comes back, and nothing is lost.
#[test]
fn unclean_election_loses_what_the_isr_of_one_acknowledged() {
    for unclean in [true, false] {
        let s = replicated_spec(10, rf3(1, unclean), |s| {
            s.workload.start = ms(2_500);
        });
        let mut sim = Sim::new(&s);
        let (b1, b2, b3) = (sim.node("b1"), sim.node("b2"), sim.node("b3"));
        block_fetches(&mut sim, &[b2, b3], b1);
        sim.start_all();
        sim.run_until(ms(4_000));
        assert_eq!(isr_changes(&sim), vec![B1]);
        assert_eq!(sim.acked().len(), 10, "the ISR of one acknowledges");
        sim.crash(b1);
        sim.run_until(ms(15_000));
        sim.restart(b1);
        sim.run_until(ms(25_000));
        let removed: u64 = sim
            .events(|k| match *k {
                EventKind::Truncated { removed, .. } => Some(removed),
                _ => None,
            })
            .iter()
            .map(|e| e.1)
            .sum();
        if unclean {
            assert_eq!(elections(&sim)[0], (Some(b2), true));
            assert_eq!(removed, 10);
            assert!(sim.log_msgs(P0).is_empty());
        } else {
            assert_eq!(elections(&sim), vec![(None, false), (Some(b1), false)]);
            assert_eq!(removed, 0);
            assert_eq!(sim.log_msgs(P0).len(), 10);
        }
    }
}

/// A world built from a template is the world `KafkaWorld::new` builds for
/// the same seed, whatever seeds the template served before, with a standby
/// producer and transactional ids in the layout.
#[test]
fn a_template_builds_the_world_new_builds() {
    let mut s = spec(4);
    s.workload.records = 40;
    s.workload.keys = 7;
    s.workload.producers = 2;
    s.producer.config.transactional_id = Some("tx".to_string());
    let template = WorldTemplate::new(s.clone());
    for seed in [3, 1, 3] {
        let from_template = template.world(&mut SimRng::new(seed, Stream::Workload));
        let fresh = KafkaWorld::new(&s, &mut SimRng::new(seed, Stream::Workload));
        let (a, b) = (from_template.layout(), fresh.layout());
        assert_eq!(a.node_names, b.node_names);
        assert_eq!(a.keys, b.keys);
        assert_eq!(a.key_partitions, b.key_partitions);
        assert_eq!(a.txn_ids, vec!["tx-1".to_string(), "tx-2".to_string()]);
        assert_eq!(a.txn_ids, b.txn_ids);
        assert_eq!(a.planned_per_partition(), b.planned_per_partition());
        assert_eq!(a.producers.len(), 2);
        for (pa, pb) in a.producers.iter().zip(&b.producers) {
            assert_eq!(pa.plan, pb.plan);
            assert_eq!(pa.txn, pb.txn);
        }
        let total: usize = a.producers.iter().map(|p| p.plan.len()).sum();
        assert_eq!(total, 40);
    }
    // A standby instance sends what the producer it stands in for sends.
    let mut s = spec(2);
    s.workload.records = 12;
    s.producer.config.takeover = Some(ms(100));
    let world = WorldTemplate::new(s).world(&mut SimRng::new(9, Stream::Workload));
    let producers = &world.layout().producers;
    assert_eq!(producers.len(), 2);
    assert_eq!(producers[1].standby_of, Some(0));
    assert_eq!(producers[1].plan, producers[0].plan);
    assert_eq!(producers[0].plan.len(), 12);
}
