//! The discrete-event engine.
//!
//! One queue of items ordered by `(virtual time, insertion order)`; time
//! jumps to the next item. Items are network deliveries, node timers and
//! fault actions. The engine owns the network (latency, FIFO links, the
//! injector's faults), all randomness (per-concern streams of the run seed),
//! node lifecycles (crash, restart) and the two phases of a run: the fault
//! window, then the liveness phase in which every fault is healed and the
//! system must drain within a bound.
//!
//! Nothing here reads a clock, spawns a thread or iterates a hash map: a run
//! is a pure function of the model, the fault plan and the seed.

mod injector;
mod odds;
mod queue;
mod slab;

pub use injector::{Fate, Injector};
pub use queue::Queue;
use slab::Slab;

use faultline_models::event::{DropCause, EventKind};
use faultline_models::model::{Message, Outbox};
use faultline_models::rng::Stream;
use faultline_models::{Cx, History, Model, NodeId, SimRng, SimTime};

use crate::faults::{EpisodeChaos, FaultAction, FaultPlan, Latency, PartitionShape, PointSpec};

/// Index of each kind of chaos episode's stream in `Engine::episodes`.
const BROKER_CRASH: usize = 0;
const PARTITION: usize = 1;
const SLOW: usize = 2;

/// Hard bounds on one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Virtual time at which a run is stopped, whatever its state.
    pub sim_time_max: SimTime,
    /// Events after which a run is stopped.
    pub events_max: u64,
    /// How long the liveness phase may take to drain.
    pub liveness_max: SimTime,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sim_time_max: SimTime::from_ms(3_600_000),
            events_max: 20_000_000,
            liveness_max: SimTime::from_ms(600_000),
        }
    }
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Faults healed and everything drained.
    Drained,
    /// The liveness phase ran out before the system drained.
    LivenessTimeout,
    /// `sim_time_max` was reached.
    SimTimeLimit,
    /// `events_max` was reached.
    EventLimit,
    /// Nothing was left to do, without draining.
    Stalled,
}

impl Stop {
    /// Kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Drained => "drained",
            Stop::LivenessTimeout => "liveness-timeout",
            Stop::SimTimeLimit => "sim-time-limit",
            Stop::EventLimit => "event-limit",
            Stop::Stalled => "stalled",
        }
    }
}

/// Summary of how a run went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunStats {
    /// Why it stopped.
    pub stop: Stop,
    /// Items processed.
    pub events: u64,
    /// Virtual time at the end.
    pub end: SimTime,
    /// When the fault window closed (`None` if the run stopped before).
    pub healed_at: Option<SimTime>,
    /// Network messages sent.
    pub messages: u64,
    /// Timeline entries that never fired.
    pub unfired: Unfired,
}

/// Timeline entries that never fired (or did not use up their count)
/// before the fault window closed: the run could not have caught what
/// they were meant to provoke.
pub type Unfired = Vec<usize>;

/// The sides of each network partition fault, by partition id.
pub type PartitionSides = Vec<(Vec<NodeId>, Vec<NodeId>, bool)>;

enum Item<Timer> {
    Deliver {
        from: NodeId,
        from_incarnation: u32,
        to: NodeId,
        incarnation: u32,
        /// The connection the message travels on.
        connection: u32,
        /// Where the message waits in `Engine::mail`.
        msg: u32,
    },
    Disconnect {
        node: NodeId,
        incarnation: u32,
        peer: NodeId,
    },
    Timer {
        node: NodeId,
        incarnation: u32,
        timer: Timer,
    },
    Fault(usize),
    /// A node's first start.
    Start(NodeId),
    Restart {
        node: NodeId,
        incarnation: u32,
    },
    Heal(u32),
    EndSlow {
        node: NodeId,
        token: u64,
    },
    BrokerCrashEpisode,
    PartitionEpisode,
    SlowEpisode,
    CloseWindow,
    LivenessDeadline,
}

/// Which nodes play which part, as far as fault injection cares.
#[derive(Clone, Debug, Default)]
pub struct Roles {
    /// Consumer nodes.
    pub consumers: Vec<NodeId>,
    /// Broker nodes.
    pub brokers: Vec<NodeId>,
}

/// One run of a model under a fault plan.
pub struct Engine<M: Model> {
    model: M,
    queue: Queue<Item<M::Timer>>,
    /// The messages of the deliveries in the queue, kept out of it so that
    /// its items stay small whatever the size of a message: a delivery
    /// names its message's slot.
    mail: Slab<M::Msg>,
    history: History,
    /// Per node, its own random stream and the one its handler gets (kept
    /// together: a step takes both).
    rngs: Vec<(SimRng, SimRng)>,
    /// One stream per kind of chaos episode: broker crashes, partitions,
    /// slow consumers.
    episodes: [SimRng; 3],
    injector: Injector,
    plan: FaultPlan,
    roles: Roles,
    /// Per node, its life: its incarnation (how many times it crashed)
    /// times two, plus one while it is down. Whether an item is for the
    /// node as it is now, up, is one comparison (see [`Engine::live`]).
    lives: Vec<u32>,
    partition_open: Vec<bool>,
    unfired: Unfired,
    /// Connection number per pair of nodes, in both orders (index `from *
    /// n + to`; the two entries of a pair are always equal, so a sender
    /// looks its connection up without ordering the pair): a lost message
    /// breaks the connection, and what was in flight on it is gone.
    connections: Vec<u32>,
    outbox: Outbox<M::Msg, M::Timer>,
    partitions: PartitionSides,
    slow_token: u64,
    now: SimTime,
    events: u64,
    messages: u64,
    healed_at: Option<SimTime>,
    limits: Limits,
}

/// Reverses a step's buffer of sends or timers, so popping it keeps their
/// order: nothing to do for the usual single entry, one swap for two.
#[inline(always)]
fn reverse<T>(buffer: &mut [T]) {
    match buffer.len() {
        0 | 1 => {}
        2 => buffer.swap(0, 1),
        _ => buffer.reverse(),
    }
}

impl<M: Model> Engine<M> {
    /// Sets up a run of `model` with `seed`.
    pub fn new(
        model: M,
        seed: u64,
        plan: FaultPlan,
        latency: Latency,
        limits: Limits,
        roles: Roles,
    ) -> Self {
        let n = model.node_count();
        let mut consumers = vec![false; n];
        for c in &roles.consumers {
            consumers[c.index()] = true;
        }
        let mut history = History::new();
        history.events.reserve(model.history_hint());
        Engine {
            queue: Queue::default(),
            // Room for the messages in flight at once in most runs, so the
            // slab does not grow step by step from empty.
            mail: Slab::with_capacity(64),
            history,
            rngs: (0..n)
                .map(|i| {
                    (
                        SimRng::new(seed, Stream::Node(i as u16)),
                        SimRng::new(seed, Stream::Handler(i as u16)),
                    )
                })
                .collect(),
            episodes: [
                SimRng::new(seed, Stream::BrokerCrash),
                SimRng::new(seed, Stream::Partition),
                SimRng::new(seed, Stream::Slow),
            ],
            injector: Injector::new(seed, n, plan.chaos.clone(), latency, consumers),
            plan,
            roles,
            lives: vec![0; n],
            partition_open: Vec::new(),
            unfired: Vec::new(),
            connections: vec![0; n * n],
            outbox: Outbox {
                sends: Vec::with_capacity(8),
                timers: Vec::with_capacity(8),
            },
            partitions: Vec::new(),
            slow_token: 0,
            now: SimTime::ZERO,
            events: 0,
            messages: 0,
            healed_at: None,
            limits,
            model,
        }
    }

    /// The model (its final state after [`Engine::run`]).
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The recorded history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The sides of each partition fault that happened.
    pub fn partitions(&self) -> &PartitionSides {
        &self.partitions
    }

    /// Takes the model and the history out of a finished engine.
    pub fn into_parts(self) -> (M, History, PartitionSides) {
        (self.model, self.history, self.partitions)
    }

    /// Runs to the end: drained after the fault window, or a limit.
    pub fn run(&mut self) -> RunStats {
        // Faults first: at equal times the queue keeps insertion order, so a
        // fault at 0 is in place before any node starts.
        for (i, f) in self.plan.timeline.iter().enumerate() {
            self.queue.push(f.at, Item::Fault(i));
        }
        for i in 0..self.model.node_count() {
            self.queue
                .push(SimTime::ZERO, Item::Start(NodeId(i as u16)));
        }
        let chaos = self.plan.chaos.clone();
        if let Some(e) = &chaos.broker_crash {
            self.schedule_episode(BROKER_CRASH, e, Item::BrokerCrashEpisode);
        }
        if let Some(e) = &chaos.partition {
            self.schedule_episode(PARTITION, e, Item::PartitionEpisode);
        }
        if let Some(e) = &chaos.slow {
            self.schedule_episode(SLOW, e, Item::SlowEpisode);
        }
        self.queue.push(self.plan.window_end, Item::CloseWindow);

        let stop = loop {
            let Some((time, item)) = self.queue.pop() else {
                break if self.healed_at.is_some() && self.model.drained() {
                    Stop::Drained
                } else {
                    Stop::Stalled
                };
            };
            if time > self.limits.sim_time_max {
                break Stop::SimTimeLimit;
            }
            self.events += 1;
            if self.events > self.limits.events_max {
                break Stop::EventLimit;
            }
            self.now = time;
            if let Some(stop) = self.dispatch(item) {
                break stop;
            }
            if self.healed_at.is_some() && self.model.drained() {
                break Stop::Drained;
            }
        };
        RunStats {
            stop,
            events: self.events,
            end: self.now,
            healed_at: self.healed_at,
            messages: self.messages,
            unfired: self.unfired.clone(),
        }
    }

    fn dispatch(&mut self, item: Item<M::Timer>) -> Option<Stop> {
        match item {
            Item::Deliver {
                from,
                from_incarnation,
                to,
                incarnation,
                connection,
                msg,
            } => {
                if self.connections[self.pair(from, to)] != connection {
                    // Sent on a connection that broke since.
                    drop(self.mail.take(msg));
                    return None;
                }
                // A crash closes the node's connections: what was in flight
                // to the old incarnation is gone, and the sender's end of
                // the connection breaks.
                if self.live(to, incarnation) {
                    // Taken out of its slot right into the call, which
                    // spares moving it through the dispatch.
                    self.step(to, |m, cx, mail| {
                        m.on_message(to, from, mail.take(msg), cx);
                    });
                } else {
                    drop(self.mail.take(msg));
                    self.disconnect(from, from_incarnation, to);
                }
            }
            Item::Disconnect {
                node,
                incarnation,
                peer,
            } => {
                if self.live(node, incarnation) {
                    self.step(node, |m, cx, _| m.on_disconnect(node, peer, cx));
                }
            }
            Item::Timer {
                node,
                incarnation,
                timer,
            } => {
                if self.live(node, incarnation) {
                    self.step(node, |m, cx, _| m.on_timer(node, timer, cx));
                }
            }
            Item::Fault(i) => self.fault(i),
            Item::Start(node) => {
                // A node crashed before it started starts when it restarts.
                if self.live(node, 0) {
                    self.step(node, |m, cx, _| m.start(node, cx));
                }
            }
            Item::Restart { node, incarnation } => {
                if self.lives[node.index()] == (incarnation << 1 | 1) {
                    self.restart(node);
                }
            }
            Item::Heal(id) => self.heal_partition(id),
            Item::EndSlow { node, token } => {
                if self.injector.slow_end(node, token) {
                    self.history.record(self.now, EventKind::SlowEnded { node });
                }
            }
            Item::BrokerCrashEpisode => self.broker_crash_episode(),
            Item::PartitionEpisode => self.partition_episode(),
            Item::SlowEpisode => self.slow_episode(),
            Item::CloseWindow => self.close_window(),
            Item::LivenessDeadline => return Some(Stop::LivenessTimeout),
        }
        None
    }

    /// Steps one node (`input` hands it its input, taking a delivered
    /// message out of the mail) and applies what it asked for.
    #[inline(always)]
    fn step(
        &mut self,
        node: NodeId,
        input: impl FnOnce(&mut M, &mut Cx<'_, M::Msg, M::Timer>, &mut Slab<M::Msg>),
    ) {
        let crashed = {
            let mut cx = Cx::new(
                self.now,
                node,
                &mut self.rngs[node.index()],
                &mut self.history,
                self.injector.env(),
                &mut self.outbox,
            );
            input(&mut self.model, &mut cx, &mut self.mail);
            cx.crashed()
        };
        // Many steps send nothing and set no timer. Sending and setting
        // timers are kept apart: a step most often does one of the two, and
        // the timers alone need none of the sending's registers.
        if !self.outbox.sends.is_empty() {
            self.send_all(node);
        }
        if !self.outbox.timers.is_empty() {
            self.set_timers(node);
        }
        if crashed.is_some() {
            self.crash(node, true);
        }
    }

    /// Sends what a node's step sent.
    #[inline(never)]
    fn send_all(&mut self, node: NodeId) {
        // The buffer stays in the outbox, so stepping a node does not
        // allocate. It is reversed and popped, which keeps its order and,
        // for the usual one or two entries, costs less than draining it;
        // sending does not touch the outbox, so the buffer is popped in
        // place.
        // A single entry, the most common case, needs no reversing.
        reverse(&mut self.outbox.sends);
        while let Some((to, msg)) = self.outbox.sends.pop() {
            self.transmit(node, to, msg);
        }
    }

    /// Sets the timers a node's step set (popped in order, as
    /// [`Engine::send_all`] sends). Only the queue is touched meanwhile, so
    /// the buffer is emptied in place.
    #[inline(never)]
    fn set_timers(&mut self, node: NodeId) {
        let incarnation = self.incarnation(node);
        let timers = &mut self.outbox.timers;
        let queue = &mut self.queue;
        reverse(timers);
        while let Some((at, timer)) = timers.pop() {
            queue.push(
                at,
                Item::Timer {
                    node,
                    incarnation,
                    timer,
                },
            );
        }
    }

    /// Puts a message on the network.
    fn transmit(&mut self, from: NodeId, to: NodeId, msg: M::Msg) {
        self.messages += 1;
        let kind = msg.kind();
        let (fate, times) = self.injector.route(self.now, from, to, kind);
        if let Some(cause) = fate.dropped {
            // A partition black-holes messages before any is counted.
            let nth = match cause {
                DropCause::Loss => self.injector.message_number(),
                DropCause::Partition => 0,
            };
            self.history.record(
                self.now,
                EventKind::MessageDropped {
                    from,
                    to,
                    kind,
                    cause,
                    nth,
                },
            );
            // A lost message on a TCP connection is a broken connection:
            // both ends see it close. A partition black-holes instead, and
            // the ends notice only by their timeouts.
            if cause == DropCause::Loss {
                let (there, back) = (self.pair(from, to), self.pair(to, from));
                self.connections[there] = self.connections[there].wrapping_add(1);
                self.connections[back] = self.connections[there];
                let (fi, ti) = (self.incarnation(from), self.incarnation(to));
                self.disconnect(from, fi, to);
                self.disconnect(to, ti, from);
            }
            return;
        }
        if let Some((extra, reorder)) = fate.delay {
            self.history.record(
                self.now,
                EventKind::MessageDelayed {
                    from,
                    to,
                    kind,
                    extra_us: extra.as_us(),
                    reorder,
                    nth: self.injector.message_number(),
                },
            );
        }
        let incarnation = self.incarnation(to);
        let from_incarnation = self.incarnation(from);
        let connection = self.connections[self.pair(from, to)];
        if let Some(t2) = times[1] {
            self.history.record(
                self.now,
                EventKind::MessageDuplicated {
                    from,
                    to,
                    kind,
                    nth: self.injector.message_number(),
                },
            );
            self.queue.push(
                t2,
                Item::Deliver {
                    from,
                    from_incarnation,
                    to,
                    incarnation,
                    connection,
                    msg: self.mail.put(msg.clone()),
                },
            );
        }
        if let Some(t) = times[0] {
            self.queue.push(
                t,
                Item::Deliver {
                    from,
                    from_incarnation,
                    to,
                    incarnation,
                    connection,
                    msg: self.mail.put(msg),
                },
            );
        }
    }

    /// The index of the connection from `a` to `b` (the one from `b` to
    /// `a` holds the same number).
    fn pair(&self, a: NodeId, b: NodeId) -> usize {
        a.index() * self.lives.len() + b.index()
    }

    /// Whether `node` is up and in its `incarnation`.
    #[inline(always)]
    fn live(&self, node: NodeId, incarnation: u32) -> bool {
        self.lives[node.index()] == incarnation << 1
    }

    /// Whether `node` is up.
    fn up(&self, node: NodeId) -> bool {
        self.lives[node.index()] & 1 == 0
    }

    /// How many times `node` crashed.
    #[inline(always)]
    fn incarnation(&self, node: NodeId) -> u32 {
        self.lives[node.index()] >> 1
    }

    /// Tells `node` (if it is still the same incarnation) that its
    /// connection to `peer` broke, one network latency from now.
    fn disconnect(&mut self, node: NodeId, incarnation: u32, peer: NodeId) {
        if !self.live(node, incarnation) {
            return;
        }
        let at = self.now + self.injector.detection_delay();
        self.queue.push(
            at,
            Item::Disconnect {
                node,
                incarnation,
                peer,
            },
        );
    }

    /// Crashes a node. `recorded`: the crash event is already in the
    /// history (the node crashed at one of its points).
    fn crash(&mut self, node: NodeId, recorded: bool) {
        if !self.up(node) {
            return;
        }
        if !recorded {
            self.history.record(
                self.now,
                EventKind::Crashed {
                    node,
                    point: faultline_models::CrashPoint::Now,
                    pass: 0,
                },
            );
        }
        self.model.crash(node);
        // Down, in the next incarnation.
        self.lives[node.index()] += 3;
        let incarnation = self.incarnation(node);
        // The operating system closes a crashed process's connections:
        // every peer sees its connection to the node reset.
        for i in 0..self.lives.len() {
            if i != node.index() {
                let peer = NodeId(i as u16);
                self.disconnect(peer, self.incarnation(peer), node);
            }
        }
        match self.injector.take_restart(node) {
            Some(after) if self.healed_at.is_none() => {
                self.queue
                    .push(self.now + after, Item::Restart { node, incarnation });
            }
            _ if self.healed_at.is_some() => {
                // Already in the liveness phase: come back at once.
                self.queue
                    .push(self.now, Item::Restart { node, incarnation });
            }
            // Otherwise it stays down until the window closes.
            _ => {}
        }
    }

    fn restart(&mut self, node: NodeId) {
        self.lives[node.index()] &= !1;
        self.history.record(self.now, EventKind::Restarted { node });
        self.step(node, |m, cx, _| m.start(node, cx));
    }

    fn fault(&mut self, i: usize) {
        if self.healed_at.is_some() {
            return;
        }
        let action = self.plan.timeline[i].action.clone();
        match action {
            FaultAction::Crash {
                node,
                point: PointSpec::Now,
                restart_after,
                ..
            } => {
                if self.up(node) && self.model.crashable(node) {
                    self.injector.set_restart(node, restart_after);
                    self.crash(node, false);
                }
            }
            FaultAction::Crash {
                node,
                point,
                restart_after,
                skip,
            } => self.injector.arm(i, node, point, restart_after, skip),
            FaultAction::Partition {
                a,
                b,
                oneway,
                heal_after,
            } => self.start_partition(a, b, oneway, heal_after),
            FaultAction::Link(spec) => self.injector.add_link_fault(i, spec),
            FaultAction::Slow {
                node,
                processing,
                duration,
            } => self.start_slow(node, processing, duration),
        }
    }

    fn start_partition(
        &mut self,
        a: Vec<NodeId>,
        b: Vec<NodeId>,
        oneway: bool,
        heal_after: Option<SimTime>,
    ) {
        let id = self.partitions.len() as u32;
        self.injector.cut(&a, &b, oneway, true);
        self.partitions.push((a, b, oneway));
        self.partition_open.push(true);
        self.history
            .record(self.now, EventKind::PartitionStarted { id });
        if let Some(d) = heal_after {
            self.queue.push(self.now + d, Item::Heal(id));
        }
    }

    fn heal_partition(&mut self, id: u32) {
        if self.healed_at.is_some() || !self.partition_open[id as usize] {
            return;
        }
        self.partition_open[id as usize] = false;
        let (a, b, oneway) = self.partitions[id as usize].clone();
        self.injector.cut(&a, &b, oneway, false);
        self.history
            .record(self.now, EventKind::PartitionHealed { id });
    }

    fn start_slow(&mut self, node: NodeId, processing: SimTime, duration: Option<SimTime>) {
        self.slow_token += 1;
        let token = self.slow_token;
        self.injector.slow_start(node, processing, token);
        self.history.record(
            self.now,
            EventKind::SlowStarted {
                node,
                processing_us: processing.as_us(),
            },
        );
        if let Some(d) = duration {
            self.queue.push(self.now + d, Item::EndSlow { node, token });
        }
    }

    fn schedule_episode(&mut self, kind: usize, e: &EpisodeChaos, item: Item<M::Timer>) {
        let gap = self.episodes[kind].exponential(e.mean_interval.as_us() as f64) as u64;
        let at = self.now + SimTime(gap.max(1));
        if at < self.plan.window_end {
            self.queue.push(at, item);
        }
    }

    fn episode_length(&mut self, kind: usize, e: &EpisodeChaos) -> SimTime {
        SimTime(self.episodes[kind].between(e.duration.0.as_us(), e.duration.1.as_us()))
    }

    fn broker_crash_episode(&mut self) {
        let Some(e) = self.plan.chaos.broker_crash.clone() else {
            return;
        };
        if self.healed_at.is_some() {
            return;
        }
        let up: Vec<NodeId> = self
            .roles
            .brokers
            .iter()
            .copied()
            .filter(|b| self.up(*b))
            .collect();
        if !up.is_empty() {
            let node = up[self.episodes[BROKER_CRASH].below(up.len() as u64) as usize];
            let down = self.episode_length(BROKER_CRASH, &e);
            self.injector.set_restart(node, Some(down));
            self.crash(node, false);
        }
        self.schedule_episode(BROKER_CRASH, &e, Item::BrokerCrashEpisode);
    }

    fn partition_episode(&mut self) {
        let Some(e) = self.plan.chaos.partition.clone() else {
            return;
        };
        if self.healed_at.is_some() {
            return;
        }
        let n = self.model.node_count() as u16;
        let rng = &mut self.episodes[PARTITION];
        let shape = e.shapes[rng.below(e.shapes.len() as u64) as usize];
        let (mut a, mut b): (Vec<NodeId>, Vec<NodeId>) = match shape {
            PartitionShape::Isolate => {
                let victim = NodeId(rng.below(u64::from(n)) as u16);
                (
                    vec![victim],
                    (0..n).map(NodeId).filter(|x| *x != victim).collect(),
                )
            }
            PartitionShape::Halves => {
                let mut sides = (Vec::new(), Vec::new());
                for x in (0..n).map(NodeId) {
                    if rng.chance(0.5) {
                        sides.0.push(x);
                    } else {
                        sides.1.push(x);
                    }
                }
                sides
            }
            PartitionShape::Brokers => (0..n)
                .map(NodeId)
                .partition(|x| self.roles.brokers.contains(x)),
        };
        if a.is_empty() || b.is_empty() {
            // A degenerate split cuts nothing: isolate the first node instead.
            let all: Vec<NodeId> = a.into_iter().chain(b).collect();
            a = vec![all[0]];
            b = all[1..].to_vec();
        }
        let rng = &mut self.episodes[PARTITION];
        let oneway = rng.chance(e.oneway_probability);
        // A one-way cut stops either side's messages to the other.
        if oneway && rng.chance(0.5) {
            std::mem::swap(&mut a, &mut b);
        }
        let len = self.episode_length(PARTITION, &e);
        self.start_partition(a, b, oneway, Some(len));
        self.schedule_episode(PARTITION, &e, Item::PartitionEpisode);
    }

    fn slow_episode(&mut self) {
        let Some(e) = self.plan.chaos.slow.clone() else {
            return;
        };
        if self.healed_at.is_some() || self.roles.consumers.is_empty() {
            return;
        }
        let pick = self.episodes[SLOW].below(self.roles.consumers.len() as u64) as usize;
        let c = self.roles.consumers[pick];
        let len = self.episode_length(SLOW, &e);
        self.start_slow(c, e.processing, Some(len));
        self.schedule_episode(SLOW, &e, Item::SlowEpisode);
    }

    fn close_window(&mut self) {
        if self.healed_at.is_some() {
            return;
        }
        self.healed_at = Some(self.now);
        self.history.record(self.now, EventKind::FaultsHealed);
        for node in self.injector.slow_nodes() {
            self.history.record(self.now, EventKind::SlowEnded { node });
        }
        self.unfired = self.injector.heal();
        for id in 0..self.partition_open.len() {
            if self.partition_open[id] {
                self.partition_open[id] = false;
                self.history
                    .record(self.now, EventKind::PartitionHealed { id: id as u32 });
            }
        }
        for i in 0..self.lives.len() {
            if !self.up(NodeId(i as u16)) {
                self.restart(NodeId(i as u16));
            }
        }
        self.queue
            .push(self.now + self.limits.liveness_max, Item::LivenessDeadline);
    }
}
