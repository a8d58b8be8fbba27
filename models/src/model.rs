//! The contract between a model and the engine.
//!
//! A [`Model`] is a set of nodes (state machines) addressed by [`NodeId`].
//! The engine calls it with one input at a time and a [`Cx`] through which
//! the node answers: messages to send, timers to set, events to record, and
//! whether it crashed at one of its crash points. The [`Env`] is the engine's
//! side of fault injection as a model sees it: it decides whether a crash
//! point fires and how slow a consumer currently is.

use crate::event::{CrashPoint, EventKind, History};
use crate::ids::NodeId;
use crate::rng::SimRng;
use crate::time::SimTime;

/// Fault decisions that a model has to ask for at its own points.
pub trait Env {
    /// Whether `node` crashes now, having reached `point`: `Some(pass)`,
    /// with the number of earlier passes of the point by the node at this
    /// instant, when it does. `label` is the name of a
    /// [`CrashPoint::Named`] point.
    fn crash_at(
        &mut self,
        now: SimTime,
        node: NodeId,
        point: CrashPoint,
        label: Option<&'static str>,
    ) -> Option<u32>;

    /// The processing time per record that a slow-handling fault imposes on
    /// `node` right now, if any.
    fn slow_processing(&self, node: NodeId) -> Option<SimTime>;
}

/// An [`Env`] that injects nothing: for reference runs and unit tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFaults;

impl Env for NoFaults {
    fn crash_at(
        &mut self,
        _: SimTime,
        _: NodeId,
        _: CrashPoint,
        _: Option<&'static str>,
    ) -> Option<u32> {
        None
    }
    fn slow_processing(&self, _: NodeId) -> Option<SimTime> {
        None
    }
}

/// One timer standing for many deadlines: it is set for the earliest one,
/// and when it fires the node handles what is due and sets it again. Keeps
/// a node from filling the event queue with one timer per request, most of
/// which would find their request answered long before.
#[derive(Clone, Copy, Debug, Default)]
pub struct Deadlines {
    armed: Option<SimTime>,
}

impl Deadlines {
    /// Makes sure a timer fires at `at` or earlier.
    pub fn arm<M, T>(&mut self, at: SimTime, timer: T, cx: &mut Cx<'_, M, T>) {
        if self.armed.is_some_and(|a| a <= at) {
            return;
        }
        self.armed = Some(at);
        cx.after(at.since(cx.now), timer);
    }

    /// The timer fired: nothing is armed until the node arms it again.
    pub fn fired(&mut self) {
        self.armed = None;
    }
}

/// What a node asked for while handling one input.
#[derive(Debug)]
pub struct Outbox<M, T> {
    /// Messages to send, in order: `(receiver, message)`.
    pub sends: Vec<(NodeId, M)>,
    /// Timers to set: `(when, timer)`.
    pub timers: Vec<(SimTime, T)>,
}

impl<M, T> Default for Outbox<M, T> {
    fn default() -> Self {
        Outbox {
            sends: Vec::new(),
            timers: Vec::new(),
        }
    }
}

/// The context of one step of one node.
pub struct Cx<'a, M, T> {
    /// The current virtual time.
    pub now: SimTime,
    /// The node being stepped.
    pub me: NodeId,
    /// The node's random streams, as one pair so a step borrows them with
    /// one pointer: `.0` is the node's own, `.1` the one handler code on
    /// this node draws from, kept apart so a handler's draws do not shift
    /// the node's own decisions.
    pub rngs: &'a mut (SimRng, SimRng),
    /// The run's history.
    pub history: &'a mut History,
    /// Fault decisions; `None` when no fault can touch a node this step
    /// (no crash point can fire, no node is slow), which spares the calls.
    pub env: Option<&'a mut dyn Env>,
    out: &'a mut Outbox<M, T>,
    crashed: Option<CrashPoint>,
}

impl<'a, M, T> Cx<'a, M, T> {
    /// A context for stepping `me` at `now`. `env`: `None` only when no
    /// crash point can fire and no node is slow.
    pub fn new(
        now: SimTime,
        me: NodeId,
        rngs: &'a mut (SimRng, SimRng),
        history: &'a mut History,
        env: Option<&'a mut dyn Env>,
        out: &'a mut Outbox<M, T>,
    ) -> Self {
        Cx {
            now,
            me,
            rngs,
            history,
            env,
            out,
            crashed: None,
        }
    }

    /// Sends `msg` to `to` over the simulated network.
    #[inline]
    pub fn send(&mut self, to: NodeId, msg: M) {
        self.out.sends.push((to, msg));
    }

    /// Sets a timer that fires `delay` from now.
    #[inline]
    pub fn after(&mut self, delay: SimTime, timer: T) {
        self.out.timers.push((self.now + delay, timer));
    }

    /// Records an event at the current time.
    #[inline]
    pub fn record(&mut self, kind: EventKind) {
        self.history.record(self.now, kind);
    }

    /// Asks whether this node crashes at `point`. When it does, the crash is
    /// recorded, [`Cx::crashed`] turns true and the node must stop acting:
    /// the engine discards its in-memory state after this step.
    pub fn crash_point(&mut self, point: CrashPoint, label: Option<&'static str>) -> bool {
        if self.crashed.is_some() {
            return true;
        }
        if let Some(env) = &mut self.env
            && let Some(pass) = env.crash_at(self.now, self.me, point, label)
        {
            self.crashed = Some(point);
            let node = self.me;
            self.record(EventKind::Crashed { node, point, pass });
            true
        } else {
            false
        }
    }

    /// Notes that the node crashed at `point` inside a nested context (a
    /// handler's) that has already recorded the crash event.
    pub fn crashed_inside(&mut self, point: CrashPoint) {
        self.crashed.get_or_insert(point);
    }

    /// Whether the node crashed during this step, and where.
    pub fn crashed(&self) -> Option<CrashPoint> {
        self.crashed
    }
}

/// A protocol message of a model, as the network layer sees it.
pub trait Message {
    /// A short kebab-case name of the message kind (`produce`,
    /// `fetch-response`), used by fault filters and in histories.
    fn kind(&self) -> &'static str;
}

/// A simulated system: nodes, their protocol and their durable state.
pub trait Model {
    /// Protocol messages between nodes.
    type Msg: Message + Clone;
    /// Timers nodes set for themselves.
    type Timer;

    /// How many nodes there are (ids are `0..node_count`).
    fn node_count(&self) -> usize;

    /// Starts `node`: at time zero, and again after each restart.
    fn start(&mut self, node: NodeId, cx: &mut Cx<'_, Self::Msg, Self::Timer>);

    /// Delivers a network message to `node`.
    fn on_message(
        &mut self,
        node: NodeId,
        from: NodeId,
        msg: Self::Msg,
        cx: &mut Cx<'_, Self::Msg, Self::Timer>,
    );

    /// Fires a timer `node` set.
    fn on_timer(
        &mut self,
        node: NodeId,
        timer: Self::Timer,
        cx: &mut Cx<'_, Self::Msg, Self::Timer>,
    );

    /// Tells `node` that its connection to `peer` broke: a message between
    /// them was lost, or `peer` is down. Clients fail the requests they had
    /// in flight to `peer` (and retry them); servers forget what they held
    /// for it.
    fn on_disconnect(
        &mut self,
        node: NodeId,
        peer: NodeId,
        cx: &mut Cx<'_, Self::Msg, Self::Timer>,
    );

    /// Crashes `node`: everything not durable is lost.
    fn crash(&mut self, node: NodeId);

    /// Whether the system has converged: all work produced is acknowledged
    /// or given up, every consumer is idle and nothing is left to consume.
    fn drained(&self) -> bool;

    /// Whether `node` may be crashed by a timed crash fault.
    fn crashable(&self, node: NodeId) -> bool;

    /// About how many history events a run records, so the engine can
    /// allocate the history once instead of growing it as it goes. Only a
    /// hint: the history grows past it if it must.
    fn history_hint(&self) -> usize {
        0
    }
}
