//! The fault injector: the engine's fault state and every fault decision.
//!
//! It answers the models' questions through [`Env`] (does this crash point
//! fire? is this consumer slow?) and the engine's question for every network
//! message (is the link cut? is the message lost, duplicated, delayed?).
//! Each fault kind draws from its own random stream, so switching one kind
//! off leaves the others' decisions unchanged.

use faultline_models::event::DropCause;
use faultline_models::rng::Stream;
use faultline_models::{CrashPoint, Env, NodeId, SimRng, SimTime};

use crate::faults::{Chaos, Latency, LinkEffect, PointSpec};

/// A crash armed to fire when its node passes a point.
#[derive(Clone, Debug)]
struct Armed {
    timeline: usize,
    node: NodeId,
    point: PointSpec,
    restart_after: Option<SimTime>,
}

/// A link fault waiting for messages.
#[derive(Clone, Debug)]
struct LinkFault {
    timeline: usize,
    effect: LinkEffect,
    from: NodeId,
    to: NodeId,
    kind: Option<&'static str>,
    remaining: u32,
}

/// What happens to one message on the network.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Fate {
    /// Dropped, and why.
    pub dropped: Option<DropCause>,
    /// Delivered twice.
    pub duplicate: bool,
    /// Extra delay, and whether later messages may overtake.
    pub delay: Option<(SimTime, bool)>,
}

/// Per-kind random streams.
struct Streams {
    network: SimRng,
    loss: SimRng,
    duplication: SimRng,
    delay: SimRng,
    reorder: SimRng,
    consumer_crash: SimRng,
    restart: SimRng,
    connection: SimRng,
}

/// Fault state of one run.
pub struct Injector {
    nodes: usize,
    chaos: Chaos,
    chaos_on: bool,
    /// The built-in points chaos crashes consumers at, one bit each (see
    /// [`point_bit`]), so the question asked at every point of every
    /// consumer's loop is answered without walking the list.
    crash_points: u8,
    latency: Latency,
    streams: Streams,
    armed: Vec<Armed>,
    links: Vec<LinkFault>,
    /// Active partition cuts per directed link (a count, as cuts overlap).
    blocked: Vec<u16>,
    /// Latest scheduled delivery per directed link (links are FIFO).
    last: Vec<SimTime>,
    /// Processing time override and its end, per node.
    slow: Vec<Option<(SimTime, u64)>>,
    /// Restart decision for a node that is crashing: `Some(None)` means
    /// "when the window closes".
    restart: Vec<Option<Option<SimTime>>>,
    consumers: Vec<bool>,
}

impl Injector {
    /// The injector for a run of `nodes` nodes; `consumers[i]` says whether
    /// node `i` is a consumer.
    pub fn new(
        seed: u64,
        nodes: usize,
        chaos: Chaos,
        latency: Latency,
        consumers: Vec<bool>,
    ) -> Injector {
        Injector {
            nodes,
            chaos_on: chaos.any(),
            crash_points: chaos.consumer_crash.as_ref().map_or(0, |c| {
                c.points
                    .iter()
                    .filter_map(|p| match p {
                        PointSpec::At(point) => point_bit(*point),
                        _ => None,
                    })
                    .fold(0, |bits, b| bits | b)
            }),
            chaos,
            latency,
            streams: Streams {
                network: SimRng::new(seed, Stream::Network),
                loss: SimRng::new(seed, Stream::Loss),
                duplication: SimRng::new(seed, Stream::Duplication),
                delay: SimRng::new(seed, Stream::Delay),
                reorder: SimRng::new(seed, Stream::Reorder),
                consumer_crash: SimRng::new(seed, Stream::ConsumerCrash),
                restart: SimRng::new(seed, Stream::Restart),
                connection: SimRng::new(seed, Stream::Connection),
            },
            armed: Vec::new(),
            links: Vec::new(),
            blocked: vec![0; nodes * nodes],
            last: vec![SimTime::ZERO; nodes * nodes],
            slow: vec![None; nodes],
            restart: vec![None; nodes],
            consumers,
        }
    }

    /// The chaos mix.
    pub fn chaos(&self) -> &Chaos {
        &self.chaos
    }

    /// Ends every fault: chaos off, armed crashes and link faults dropped,
    /// partitions and slowness healed. Returns the timeline entries that
    /// were still waiting to fire (or to use up their count).
    pub fn heal(&mut self) -> Vec<usize> {
        let mut unfired: Vec<usize> = self
            .armed
            .iter()
            .map(|a| a.timeline)
            .chain(self.links.iter().map(|l| l.timeline))
            .collect();
        unfired.sort_unstable();
        unfired.dedup();
        self.chaos_on = false;
        self.armed.clear();
        self.links.clear();
        self.blocked.iter_mut().for_each(|b| *b = 0);
        self.slow.iter_mut().for_each(|s| *s = None);
        unfired
    }

    /// Arms a crash of `node` at `point` (timeline entry `timeline`).
    pub fn arm(
        &mut self,
        timeline: usize,
        node: NodeId,
        point: PointSpec,
        restart_after: Option<SimTime>,
    ) {
        self.armed.push(Armed {
            timeline,
            node,
            point,
            restart_after,
        });
    }

    /// Adds a link fault for the next `count` matching messages (timeline
    /// entry `timeline`).
    pub fn add_link_fault(
        &mut self,
        timeline: usize,
        effect: LinkEffect,
        from: NodeId,
        to: NodeId,
        kind: Option<&'static str>,
        count: u32,
    ) {
        self.links.push(LinkFault {
            timeline,
            effect,
            from,
            to,
            kind,
            remaining: count,
        });
    }

    /// Cuts `a → b` (and `b → a` unless `oneway`).
    pub fn cut(&mut self, a: &[NodeId], b: &[NodeId], oneway: bool, on: bool) {
        for &x in a {
            for &y in b {
                if x == y {
                    continue;
                }
                self.adjust(x, y, on);
                if !oneway {
                    self.adjust(y, x, on);
                }
            }
        }
    }

    fn adjust(&mut self, from: NodeId, to: NodeId, on: bool) {
        let c = &mut self.blocked[from.index() * self.nodes + to.index()];
        *c = if on {
            c.saturating_add(1)
        } else {
            c.saturating_sub(1)
        };
    }

    /// Makes `node` slow until the episode with `token` ends.
    pub fn slow_start(&mut self, node: NodeId, processing: SimTime, token: u64) {
        self.slow[node.index()] = Some((processing, token));
    }

    /// Ends the slow episode `token` of `node` (if it is still the current one).
    pub fn slow_end(&mut self, node: NodeId, token: u64) -> bool {
        if self.slow[node.index()].is_some_and(|(_, t)| t == token) {
            self.slow[node.index()] = None;
            true
        } else {
            false
        }
    }

    /// Nodes that are slow right now.
    pub fn slow_nodes(&self) -> Vec<NodeId> {
        (0..self.nodes)
            .filter(|i| self.slow[*i].is_some())
            .map(|i| NodeId(i as u16))
            .collect()
    }

    /// Records how a node that is about to crash restarts.
    pub fn set_restart(&mut self, node: NodeId, after: Option<SimTime>) {
        self.restart[node.index()] = Some(after);
    }

    /// Takes the restart decision for a crashed node (`None`: when the
    /// window closes).
    pub fn take_restart(&mut self, node: NodeId) -> Option<SimTime> {
        self.restart[node.index()].take().flatten()
    }

    /// A sample from the restart-delay stream in `range`.
    pub fn restart_delay(&mut self, range: (SimTime, SimTime)) -> SimTime {
        SimTime(
            self.streams
                .restart
                .between(range.0.as_us(), range.1.as_us()),
        )
    }

    /// Decides the fate of one message and its base delivery time, keeping
    /// links FIFO unless a reordering fault lets it be overtaken. Returns
    /// the fate and the delivery times (one, or two when duplicated).
    pub fn route(
        &mut self,
        now: SimTime,
        from: NodeId,
        to: NodeId,
        kind: &'static str,
    ) -> (Fate, [Option<SimTime>; 2]) {
        let link = from.index() * self.nodes + to.index();
        let mut fate = Fate::default();
        if self.blocked[link] > 0 {
            fate.dropped = Some(DropCause::Partition);
            return (fate, [None, None]);
        }
        self.apply_link_faults(from, to, kind, &mut fate);
        if self.chaos_on && fate.dropped.is_none() {
            self.apply_chaos(kind, &mut fate);
        }
        if fate.dropped.is_some() {
            return (fate, [None, None]);
        }
        let mut at = now + self.sample_latency();
        let last = &mut self.last[link];
        match fate.delay {
            Some((extra, true)) => {
                // Held back without holding the link: later messages pass it.
                at = at.max(*last) + extra;
            }
            Some((extra, false)) => {
                at = at.max(*last) + extra;
                *last = at;
            }
            None => {
                at = at.max(*last);
                *last = at;
            }
        }
        // The copy's own latency comes from the duplication stream, so a
        // duplicate does not shift anyone else's latencies.
        let second = if fate.duplicate {
            let extra = Self::sample(self.latency, &mut self.streams.duplication);
            Some((now + extra).max(at))
        } else {
            None
        };
        (fate, [Some(at), second])
    }

    /// Applies the first link fault waiting for a message like this one
    /// (one fault per message, so faults armed together catch successive
    /// messages).
    fn apply_link_faults(&mut self, from: NodeId, to: NodeId, kind: &'static str, fate: &mut Fate) {
        let Some(i) = self
            .links
            .iter()
            .position(|f| f.from == from && f.to == to && f.kind.is_none_or(|k| k == kind))
        else {
            return;
        };
        let f = &mut self.links[i];
        match f.effect {
            LinkEffect::Drop => fate.dropped = Some(DropCause::Loss),
            LinkEffect::Duplicate => fate.duplicate = true,
            LinkEffect::Delay { extra, reorder } => fate.delay = Some((extra, reorder)),
        }
        f.remaining -= 1;
        if f.remaining == 0 {
            self.links.remove(i);
        }
    }

    fn apply_chaos(&mut self, kind: &'static str, fate: &mut Fate) {
        let c = &self.chaos;
        if let Some(l) = &c.loss
            && l.applies(kind)
            && self.streams.loss.chance(l.probability)
        {
            fate.dropped = Some(DropCause::Loss);
            return;
        }
        if let Some(d) = &c.duplicate
            && d.applies(kind)
            && self.streams.duplication.chance(d.probability)
        {
            fate.duplicate = true;
        }
        if fate.delay.is_none()
            && let Some(r) = &c.reorder
            && r.applies(kind)
            && self.streams.reorder.chance(r.probability)
        {
            let extra = self
                .streams
                .reorder
                .between(r.extra.0.as_us(), r.extra.1.as_us());
            fate.delay = Some((SimTime(extra), true));
        }
        if fate.delay.is_none()
            && let Some(d) = &c.delay
            && d.applies(kind)
            && self.streams.delay.chance(d.probability)
        {
            let extra = self
                .streams
                .delay
                .between(d.extra.0.as_us(), d.extra.1.as_us());
            fate.delay = Some((SimTime(extra), false));
        }
    }

    /// How long a broken connection takes to notice: one network latency,
    /// from its own stream.
    pub fn detection_delay(&mut self) -> SimTime {
        Self::sample(self.latency, &mut self.streams.connection)
    }

    fn sample_latency(&mut self) -> SimTime {
        Self::sample(self.latency, &mut self.streams.network)
    }

    fn sample(latency: Latency, rng: &mut SimRng) -> SimTime {
        match latency {
            Latency::Constant(t) => t,
            Latency::Uniform(lo, hi) => SimTime(rng.between(lo.as_us(), hi.as_us())),
            Latency::Exponential { mean, max } => {
                let x = rng.exponential(mean.as_us() as f64);
                SimTime((x as u64).min(max.as_us()))
            }
        }
    }
}

/// The bit of a built-in crash point in [`Injector`]'s point set (`None`
/// for points a handler names, which are matched by name).
fn point_bit(point: CrashPoint) -> Option<u8> {
    let i = match point {
        CrashPoint::Now => 0,
        CrashPoint::BeforeHandle => 1,
        CrashPoint::MidBatch => 2,
        CrashPoint::MidHandle => 3,
        CrashPoint::AfterHandleBeforeCommit => 4,
        CrashPoint::AfterCommit => 5,
        CrashPoint::Named(_) => return None,
    };
    Some(1 << i)
}

impl Env for Injector {
    fn crash_at(
        &mut self,
        _now: SimTime,
        node: NodeId,
        point: CrashPoint,
        label: Option<&'static str>,
    ) -> bool {
        if let Some(i) = self
            .armed
            .iter()
            .position(|a| a.node == node && a.point.matches(point, label))
        {
            let a = self.armed.remove(i);
            self.restart[node.index()] = Some(a.restart_after);
            return true;
        }
        if !self.chaos_on || !self.consumers[node.index()] {
            return false;
        }
        let Some(c) = &self.chaos.consumer_crash else {
            return false;
        };
        let chosen = match point_bit(point) {
            Some(bit) => self.crash_points & bit != 0,
            None => c.points.iter().any(|p| p.matches(point, label)),
        };
        if !chosen {
            return false;
        }
        if self.streams.consumer_crash.chance(c.probability) {
            let range = c.restart_after;
            let d = self.restart_delay(range);
            self.restart[node.index()] = Some(Some(d));
            return true;
        }
        false
    }

    fn slow_processing(&self, node: NodeId) -> Option<SimTime> {
        self.slow[node.index()].map(|(t, _)| t)
    }
}
