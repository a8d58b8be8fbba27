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

use super::odds::Odds;
use crate::faults::{Chaos, Latency, LinkEffect, LinkSpec, PointSpec};

/// A crash armed to fire when its node passes a point.
#[derive(Clone, Debug)]
struct Armed {
    timeline: usize,
    node: NodeId,
    point: PointSpec,
    restart_after: Option<SimTime>,
    /// Matching passes still to let go by.
    skip: u32,
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
    /// Matching messages still to let go by.
    skip: u32,
}

/// What happened at the current instant, so a fault can say which of
/// several same-instant messages or passes it hit (and a replay of the
/// run's faults as a timeline can hit the same one).
#[derive(Default)]
struct Instant {
    at: SimTime,
    /// Every message sent so far, as its `(directed link, kind)`, in
    /// order. A message's number (how many of its kind went on its link
    /// before it) is needed only when a fault hits it, which is rare, so
    /// recording a message is a push and the counting waits for a fault.
    sent: Vec<SentKey>,
    /// Every crash point passed so far, in order. A pass's number (how
    /// many passes of the same point the node made before it) is needed
    /// only when a crash fires there, which is rare, so recording a pass is
    /// a push and the counting waits for a crash.
    passed: Vec<Passed>,
}

/// A directed link and a kind of message.
#[derive(Clone, Copy)]
struct SentKey(usize, &'static str);

impl PartialEq for SentKey {
    /// Kinds are equal as strings; a message's kind is most often the very
    /// string an earlier message of its kind gave, which is checked first
    /// and spares comparing the bytes.
    #[inline(always)]
    fn eq(&self, other: &SentKey) -> bool {
        self.0 == other.0 && (std::ptr::eq(self.1, other.1) || self.1 == other.1)
    }
}

/// A crash point a node passed: `(node, point, label)`.
type Passed = (NodeId, CrashPoint, Option<&'static str>);

impl Instant {
    fn at(&mut self, now: SimTime) -> &mut Instant {
        if self.at != now {
            self.at = now;
            self.sent.clear();
            self.passed.clear();
        }
        self
    }

    /// Records a message; [`Instant::last_send_number`] numbers it.
    #[inline(always)]
    fn send(&mut self, now: SimTime, link: usize, kind: &'static str) {
        self.at(now).sent.push(SentKey(link, kind));
    }

    /// How many messages of its kind went on its link earlier in this
    /// instant than the one recorded last.
    fn last_send_number(&self) -> u32 {
        match self.sent.split_last() {
            Some((last, earlier)) => earlier.iter().filter(|k| *k == last).count() as u32,
            None => 0,
        }
    }

    /// Records a pass; [`Instant::last_pass_number`] numbers it.
    #[inline]
    fn pass(&mut self, now: SimTime, node: NodeId, point: CrashPoint, label: Option<&'static str>) {
        self.at(now).passed.push((node, point, label));
    }

    /// How many passes of the same point the node made earlier in this
    /// instant than the one recorded last.
    #[cold]
    fn last_pass_number(&self) -> u32 {
        match self.passed.split_last() {
            Some((last, earlier)) => earlier.iter().filter(|p| *p == last).count() as u32,
            None => 0,
        }
    }
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

/// The chaos mix's probabilities, as [`Odds`] (`Never` for a kind the mix
/// leaves out).
struct ChaosOdds {
    loss: Odds,
    duplicate: Odds,
    reorder: Odds,
    delay: Odds,
    consumer_crash: Odds,
    /// Per message fault, in the order [`LOSS`], [`DUPLICATE`],
    /// [`REORDER`], [`DELAY`]: it lists no kinds of message, so it applies
    /// to every message without looking at its kind. True as well for a
    /// fault the mix leaves out: its odds are `Never`, which decide
    /// without a draw.
    every_kind: [bool; 4],
}

/// The message faults' places in [`ChaosOdds::every_kind`].
const LOSS: usize = 0;
const DUPLICATE: usize = 1;
const REORDER: usize = 2;
const DELAY: usize = 3;

impl ChaosOdds {
    fn new(chaos: &Chaos) -> ChaosOdds {
        fn odds(p: Option<f64>) -> Odds {
            p.map_or(Odds::Never, Odds::new)
        }
        ChaosOdds {
            loss: odds(chaos.loss.as_ref().map(|c| c.probability)),
            duplicate: odds(chaos.duplicate.as_ref().map(|c| c.probability)),
            reorder: odds(chaos.reorder.as_ref().map(|c| c.probability)),
            delay: odds(chaos.delay.as_ref().map(|c| c.probability)),
            consumer_crash: odds(chaos.consumer_crash.as_ref().map(|c| c.probability)),
            every_kind: [&chaos.loss, &chaos.duplicate, &chaos.reorder, &chaos.delay]
                .map(|c| c.as_ref().is_none_or(|c| c.kinds.is_empty())),
        }
    }
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
    duplicate_copy: SimRng,
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
    odds: ChaosOdds,
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
    instant: Instant,
    /// No model needs asking: no crash point can fire (chaos does not
    /// crash consumers, nothing is armed) and no node is slow. Turns false
    /// when that may have changed and true again when every fault heals.
    quiet: bool,
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
            quiet: chaos.consumer_crash.is_none(),
            crash_points: chaos.consumer_crash.as_ref().map_or(0, |c| {
                c.points
                    .iter()
                    .filter_map(|p| match p {
                        PointSpec::At(point) => point_bit(*point),
                        _ => None,
                    })
                    .fold(0, |bits, b| bits | b)
            }),
            odds: ChaosOdds::new(&chaos),
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
                duplicate_copy: SimRng::new(seed, Stream::DuplicateCopy),
            },
            armed: Vec::new(),
            links: Vec::new(),
            blocked: vec![0; nodes * nodes],
            last: vec![SimTime::ZERO; nodes * nodes],
            slow: vec![None; nodes],
            restart: vec![None; nodes],
            consumers,
            // Room for the messages and passes of a busy instant, so the
            // lists do not grow step by step from empty.
            instant: Instant {
                at: SimTime::ZERO,
                sent: Vec::with_capacity(16),
                passed: Vec::with_capacity(16),
            },
        }
    }

    /// The injector as the models' [`Env`], or `None` when asking it could
    /// not make a difference: no crash point can fire and no node is slow.
    #[inline(always)]
    pub fn env(&mut self) -> Option<&mut dyn Env> {
        if self.quiet { None } else { Some(self) }
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
        self.quiet = true;
        unfired
    }

    /// Arms a crash of `node` at `point` (timeline entry `timeline`) that
    /// lets `skip` matching passes go by first.
    pub fn arm(
        &mut self,
        timeline: usize,
        node: NodeId,
        point: PointSpec,
        restart_after: Option<SimTime>,
        skip: u32,
    ) {
        self.quiet = false;
        self.armed.push(Armed {
            timeline,
            node,
            point,
            restart_after,
            skip,
        });
    }

    /// Adds a link fault for the next `count` matching messages after
    /// `skip` of them (timeline entry `timeline`).
    pub fn add_link_fault(&mut self, timeline: usize, fault: LinkSpec) {
        self.links.push(LinkFault {
            timeline,
            effect: fault.effect,
            from: fault.from,
            to: fault.to,
            kind: fault.kind,
            remaining: fault.count,
            skip: fault.skip,
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
        self.quiet = false;
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
    #[inline(always)]
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
        // Only faults need the number (see [`Injector::message_number`]);
        // timeline faults of an instant are in place before its first
        // message, so counting can start with them.
        if self.chaos_on || !self.links.is_empty() {
            self.instant.send(now, link, kind);
        }
        if !self.links.is_empty() {
            self.apply_link_faults(from, to, kind, &mut fate);
        }
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
        // The copy's own latency comes from a stream of its own, so a
        // duplicate does not shift anyone else's latencies, and a timeline
        // duplicate gives its copy the latency a chaos one would.
        let second = if fate.duplicate {
            let extra = Self::sample(self.latency, &mut self.streams.duplicate_copy);
            Some((now + extra).max(at))
        } else {
            None
        };
        (fate, [Some(at), second])
    }

    /// Applies the link faults waiting for a message like this one: the
    /// first waiting drop, else the first waiting duplicate and the first
    /// waiting delay (a message can be both, as under chaos). Faults of one
    /// effect armed together catch successive messages; faults still
    /// letting matching messages go by count this one.
    fn apply_link_faults(&mut self, from: NodeId, to: NodeId, kind: &'static str, fate: &mut Fate) {
        // The first waiting fault of each effect: drop, duplicate, delay.
        let mut hits: [Option<usize>; 3] = [None; 3];
        for (i, f) in self.links.iter_mut().enumerate() {
            if f.from == from && f.to == to && f.kind.is_none_or(|k| k == kind) {
                if f.skip > 0 {
                    f.skip -= 1;
                    continue;
                }
                let slot = match f.effect {
                    LinkEffect::Drop => 0,
                    LinkEffect::Duplicate => 1,
                    LinkEffect::Delay { .. } => 2,
                };
                hits[slot].get_or_insert(i);
            }
        }
        let mut applied = match hits {
            [Some(drop), ..] => [Some(drop), None],
            [None, dup, delay] => [dup, delay],
        };
        // Highest index first, so removing one leaves the other in place.
        applied.sort_unstable_by(|a, b| b.cmp(a));
        for &i in applied.iter().flatten() {
            match self.links[i].effect {
                LinkEffect::Drop => fate.dropped = Some(DropCause::Loss),
                LinkEffect::Duplicate => fate.duplicate = true,
                LinkEffect::Delay { extra, reorder } => fate.delay = Some((extra, reorder)),
            }
            self.links[i].remaining -= 1;
        }
        for &i in applied.iter().flatten() {
            if self.links[i].remaining == 0 {
                self.links.remove(i);
            }
        }
    }

    /// Whether chaos fault `f` (of [`ChaosOdds::every_kind`]) applies to
    /// messages of `kind`.
    #[inline(always)]
    fn chaos_applies(&self, f: usize, kind: &'static str) -> bool {
        self.odds.every_kind[f] || {
            let c = &self.chaos;
            [&c.loss, &c.duplicate, &c.reorder, &c.delay][f]
                .as_ref()
                .is_some_and(|c| c.applies(kind))
        }
    }

    /// The chaos mix's draws for one message, each fault from its own
    /// stream. A fault the mix leaves out has `Never` odds, which decide
    /// without a draw.
    #[inline(always)]
    fn apply_chaos(&mut self, kind: &'static str, fate: &mut Fate) {
        if self.chaos_applies(LOSS, kind) && self.odds.loss.decide(&mut self.streams.loss) {
            fate.dropped = Some(DropCause::Loss);
            return;
        }
        if self.chaos_applies(DUPLICATE, kind)
            && self.odds.duplicate.decide(&mut self.streams.duplication)
        {
            fate.duplicate = true;
        }
        if fate.delay.is_none()
            && self.chaos_applies(REORDER, kind)
            && self.odds.reorder.decide(&mut self.streams.reorder)
            && let Some(r) = &self.chaos.reorder
        {
            let extra = self
                .streams
                .reorder
                .between(r.extra.0.as_us(), r.extra.1.as_us());
            fate.delay = Some((SimTime(extra), true));
        }
        if fate.delay.is_none()
            && self.chaos_applies(DELAY, kind)
            && self.odds.delay.decide(&mut self.streams.delay)
            && let Some(d) = &self.chaos.delay
        {
            let extra = self
                .streams
                .delay
                .between(d.extra.0.as_us(), d.extra.1.as_us());
            fate.delay = Some((SimTime(extra), false));
        }
    }

    /// How many messages of its kind went on its link earlier in this
    /// instant than the one [`Injector::route`] routed last, which a fault
    /// (a loss, a duplicate or a delay, not a partition) hit. Asked only
    /// then, before the next message is routed.
    #[cold]
    pub fn message_number(&self) -> u32 {
        self.instant.last_send_number()
    }

    /// How long a broken connection takes to notice: one network latency,
    /// from its own stream.
    pub fn detection_delay(&mut self) -> SimTime {
        Self::sample(self.latency, &mut self.streams.connection)
    }

    /// One message's network latency. Inlined: it is asked for every
    /// message, and a call costs more than the draw's arithmetic.
    #[inline(always)]
    fn sample_latency(&mut self) -> SimTime {
        Self::sample(self.latency, &mut self.streams.network)
    }

    #[inline(always)]
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
        now: SimTime,
        node: NodeId,
        point: CrashPoint,
        label: Option<&'static str>,
    ) -> Option<u32> {
        // Most passes are of points nothing can hit: answered here without
        // any setup.
        let chaos = self.chaos_may_crash(node, point);
        if !self.armed.is_empty() {
            return self.crash_here(now, node, point, label, chaos);
        }
        if !chaos {
            return None;
        }
        self.crash_by_chaos(now, node, point, label)
    }

    fn slow_processing(&self, node: NodeId) -> Option<SimTime> {
        self.slow[node.index()].map(|(t, _)| t)
    }
}

impl Injector {
    /// Whether the chaos mix may crash `node` at `point`: exact for the
    /// loop's own points; for a point the handler names, whether its label
    /// is one the mix lists is left to [`Injector::chaos_lists`], as it takes
    /// a search.
    #[inline(always)]
    fn chaos_may_crash(&self, node: NodeId, point: CrashPoint) -> bool {
        self.chaos_on
            && self.consumers[node.index()]
            && self.chaos.consumer_crash.is_some()
            && point_bit(point).is_none_or(|bit| self.crash_points & bit != 0)
    }

    /// [`Env::crash_at`] for a pass that chaos may hit when no crash is
    /// armed: [`Injector::crash_here`] without the armed crashes, which
    /// keeps the usual case short. Inlined into `crash_at` (itself called
    /// through `dyn Env`): a second call per pass cost more than the
    /// larger frame does.
    #[inline(always)]
    fn crash_by_chaos(
        &mut self,
        now: SimTime,
        node: NodeId,
        point: CrashPoint,
        label: Option<&'static str>,
    ) -> Option<u32> {
        if !self.chaos_lists(point, label) {
            return None;
        }
        self.instant.pass(now, node, point, label);
        self.chaos_decides(node)
    }

    /// Whether the chaos mix crashes consumers at `point`: every built-in
    /// point [`Injector::chaos_may_crash`] let through, and a point the
    /// handler names when its label is one the mix lists.
    #[inline(always)]
    fn chaos_lists(&self, point: CrashPoint, label: Option<&'static str>) -> bool {
        point_bit(point).is_some()
            || self
                .chaos
                .consumer_crash
                .as_ref()
                .is_some_and(|c| c.points.iter().any(|p| p.matches(point, label)))
    }

    /// The chaos draw at the pass recorded last: crashes `node` there, or
    /// not. Only for a mix that crashes consumers.
    #[inline(always)]
    fn chaos_decides(&mut self, node: NodeId) -> Option<u32> {
        if self
            .odds
            .consumer_crash
            .decide(&mut self.streams.consumer_crash)
        {
            self.chaos_crash(node)
        } else {
            None
        }
    }

    /// Chaos crashes `node` at the pass recorded last: its restart delay
    /// is drawn, and the pass numbered.
    #[cold]
    fn chaos_crash(&mut self, node: NodeId) -> Option<u32> {
        let range = self.chaos.consumer_crash.as_ref()?.restart_after;
        let d = self.restart_delay(range);
        self.restart[node.index()] = Some(Some(d));
        Some(self.instant.last_pass_number())
    }

    /// [`Env::crash_at`] while a crash is armed, kept out of line.
    /// `chaos_may`: what [`Injector::chaos_may_crash`] said of this pass.
    #[inline(never)]
    fn crash_here(
        &mut self,
        now: SimTime,
        node: NodeId,
        point: CrashPoint,
        label: Option<&'static str>,
        chaos_may: bool,
    ) -> Option<u32> {
        let chaos = chaos_may && self.chaos_lists(point, label);
        self.instant.pass(now, node, point, label);
        let mut hit = None;
        for (i, a) in self.armed.iter_mut().enumerate() {
            if a.node == node && a.point.matches(point, label) {
                if a.skip > 0 {
                    a.skip -= 1;
                } else if hit.is_none() {
                    hit = Some(i);
                }
            }
        }
        if let Some(i) = hit {
            let a = self.armed.remove(i);
            self.restart[node.index()] = Some(a.restart_after);
            return Some(self.instant.last_pass_number());
        }
        // `chaos` holds only when the mix crashes consumers.
        if chaos {
            return self.chaos_decides(node);
        }
        None
    }
}
