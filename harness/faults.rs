//! Fault plans: what to inject, resolved from a scenario into node ids and
//! virtual times.
//!
//! A plan has an explicit **timeline** (incident reproduction: "at 300 ms,
//! crash c1 the next time it passes after-commit") and a probabilistic
//! **chaos** mix (each message lost with probability p, a broker crash every
//! so often, ...). Both stop when the fault **window** closes; then every
//! fault heals and the liveness phase begins.

use faultline_models::{CrashPoint, NodeId, SimTime};

/// Where a crash fault strikes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PointSpec {
    /// At once, wherever the node is.
    Now,
    /// The next time the node passes this built-in point.
    At(CrashPoint),
    /// The next time a handler passes the point it named so.
    Named(String),
}

impl PointSpec {
    /// Whether a node reaching `point` (named `label`) matches this spec.
    pub fn matches(&self, point: CrashPoint, label: Option<&str>) -> bool {
        match self {
            PointSpec::Now => false,
            PointSpec::At(p) => *p == point,
            PointSpec::Named(n) => {
                matches!(point, CrashPoint::Named(_)) && label == Some(n.as_str())
            }
        }
    }

    /// The scenario-file spelling.
    pub fn name(&self) -> String {
        match self {
            PointSpec::Now => "now".to_owned(),
            PointSpec::At(p) => p.name().unwrap_or("?").to_owned(),
            PointSpec::Named(n) => format!("handler:{n}"),
        }
    }
}

/// What a link fault does to the messages it catches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinkEffect {
    /// Drops them.
    Drop,
    /// Delivers each twice.
    Duplicate,
    /// Holds each back by `extra`; with `reorder`, later messages on the
    /// link overtake it, otherwise they queue behind it.
    Delay {
        /// Extra delay.
        extra: SimTime,
        /// Whether later messages may overtake.
        reorder: bool,
    },
}

/// A link fault: what happens to which messages.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkSpec {
    /// What happens to them.
    pub effect: LinkEffect,
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// Only messages of this kind (`produce-response`, ...).
    pub kind: Option<&'static str>,
    /// How many messages.
    pub count: u32,
    /// Matching messages to let go by first.
    pub skip: u32,
}

/// One explicit fault.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// Crash a node, at once or at a point; restart it after a delay (or
    /// when the window closes).
    Crash {
        /// The node.
        node: NodeId,
        /// Where.
        point: PointSpec,
        /// Restart delay; `None` restarts when the fault window closes.
        restart_after: Option<SimTime>,
        /// Matching passes to let go by first.
        skip: u32,
    },
    /// Cut the network between two sets of nodes.
    Partition {
        /// One side.
        a: Vec<NodeId>,
        /// The other side.
        b: Vec<NodeId>,
        /// Only `a → b` is cut.
        oneway: bool,
        /// Heal delay; `None` heals when the fault window closes.
        heal_after: Option<SimTime>,
    },
    /// Drop, duplicate or delay the next `count` messages on a link.
    Link(LinkSpec),
    /// Make a consumer's handling slow.
    Slow {
        /// The consumer.
        node: NodeId,
        /// Processing time per record while slow.
        processing: SimTime,
        /// How long; `None` until the window closes.
        duration: Option<SimTime>,
    },
}

/// An explicit fault at a time.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedFault {
    /// When it starts (or, for point crashes, when it is armed).
    pub at: SimTime,
    /// What.
    pub action: FaultAction,
}

/// A per-message network fault of the chaos mix.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageChaos {
    /// Probability per message.
    pub probability: f64,
    /// Extra delay range (delay and reorder only).
    pub extra: (SimTime, SimTime),
    /// Only these message kinds (empty: all).
    pub kinds: Vec<&'static str>,
}

impl MessageChaos {
    /// Whether this fault applies to messages of `kind`.
    pub fn applies(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
}

/// Consumer crashes at crash points, by chance.
#[derive(Clone, Debug, PartialEq)]
pub struct CrashChaos {
    /// Probability each time a consumer passes one of `points`.
    pub probability: f64,
    /// The points.
    pub points: Vec<PointSpec>,
    /// Restart delay range.
    pub restart_after: (SimTime, SimTime),
}

/// How a chaos partition splits the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PartitionShape {
    /// One random node against all others.
    Isolate,
    /// Every node on a random side (both sides non-empty).
    Halves,
    /// The brokers against their clients (producers and consumers).
    Brokers,
}

impl PartitionShape {
    /// All shapes with their scenario-file names.
    pub const ALL: [(PartitionShape, &'static str); 3] = [
        (PartitionShape::Isolate, "isolate"),
        (PartitionShape::Halves, "halves"),
        (PartitionShape::Brokers, "brokers"),
    ];

    /// The scenario-file name.
    pub fn name(self) -> &'static str {
        PartitionShape::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("?", |(_, n)| n)
    }
}

/// Episodes that start at exponentially distributed intervals.
#[derive(Clone, Debug, PartialEq)]
pub struct EpisodeChaos {
    /// Mean time between episode starts.
    pub mean_interval: SimTime,
    /// Episode length range (crash: down time).
    pub duration: (SimTime, SimTime),
    /// Partitions only: probability an episode cuts one direction only.
    pub oneway_probability: f64,
    /// Slow handling only: processing time per record while slow.
    pub processing: SimTime,
    /// Partitions only: the shapes an episode picks from.
    pub shapes: Vec<PartitionShape>,
}

/// The probabilistic fault mix.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chaos {
    /// Message loss.
    pub loss: Option<MessageChaos>,
    /// Message duplication.
    pub duplicate: Option<MessageChaos>,
    /// Extra delay (later messages queue behind).
    pub delay: Option<MessageChaos>,
    /// Reordering (later messages overtake).
    pub reorder: Option<MessageChaos>,
    /// Consumer crashes at points.
    pub consumer_crash: Option<CrashChaos>,
    /// Broker crashes.
    pub broker_crash: Option<EpisodeChaos>,
    /// Network partitions isolating one node.
    pub partition: Option<EpisodeChaos>,
    /// Slow handling episodes on one consumer.
    pub slow: Option<EpisodeChaos>,
}

impl Chaos {
    /// Whether any chaos fault is on.
    pub fn any(&self) -> bool {
        self.loss.is_some()
            || self.duplicate.is_some()
            || self.delay.is_some()
            || self.reorder.is_some()
            || self.consumer_crash.is_some()
            || self.broker_crash.is_some()
            || self.partition.is_some()
            || self.slow.is_some()
    }
}

/// Everything to inject in one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    /// Explicit faults, in time order.
    pub timeline: Vec<TimedFault>,
    /// The probabilistic mix.
    pub chaos: Chaos,
    /// When faults stop and the liveness phase begins.
    pub window_end: SimTime,
}

/// How long network messages take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Always the same.
    Constant(SimTime),
    /// Uniform in a range.
    Uniform(SimTime, SimTime),
    /// Exponential with a mean, capped.
    Exponential {
        /// Mean.
        mean: SimTime,
        /// Cap.
        max: SimTime,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Uniform(SimTime::from_us(500), SimTime::from_us(1500))
    }
}
