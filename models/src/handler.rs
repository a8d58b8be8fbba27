//! The user's consumer logic: the [`Handler`] trait and what it works with.
//!
//! A handler receives one [`Delivery`] at a time. Through its [`HandlerCx`]
//! it reads and writes the consumer's durable [`Store`] in transactions,
//! emits external side effects (an email, a payment), and may name its own
//! crash points. It answers with an [`Outcome`].
//!
//! Everything a handler does that lasts is recorded as an effect in the
//! history: a committed transaction that wrote at least one row, or an
//! external side effect. Checkers judge those effects (exactly once, in key
//! order, idempotent).
//!
//! A handler's own fields are its in-memory state: a crash loses them,
//! because the engine builds a fresh handler from its factory on restart.
//! The store survives.

use std::sync::Arc;

use crate::event::{CrashPoint, EventKind, History};
use crate::ids::{KeyId, MessageId, NodeId};
use crate::model::Env;
use crate::rng::SimRng;
use crate::store::{KeyStr, RowKey, Store, Tx, TxBuffer, UndoLog, Value};
use crate::time::SimTime;

/// How a handler settled a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done; move on to the next record.
    Ok,
    /// Try this record again after the consumer's retry backoff (bounded by
    /// its `handler_attempts_max`, after which it is dead-lettered).
    Retry,
    /// Give up on this record: it is dead-lettered.
    Fail,
}

/// The value of a record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    /// A text header.
    Str(&'a str),
    /// A numeric header.
    Int(u64),
}

/// One record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header name.
    pub name: &'static str,
    /// Header value.
    pub value: HeaderValue<'a>,
}

/// One record handed to a handler.
#[derive(Clone, Copy, Debug)]
pub struct Delivery<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition number within the topic.
    pub partition: u32,
    /// The record's offset in its partition.
    pub offset: u64,
    /// The record's Kafka key; `None` for a keyless record.
    pub key: Option<&'a str>,
    /// The record's value: the amount the workload attached to it.
    pub value: i64,
    /// The message id the producer gave the record. Retries and duplicates
    /// of one produced message share it (it travels as a header).
    pub message_id: MessageId,
    /// The entity (business key) the message is about, set even when the
    /// record has no Kafka key.
    pub entity: &'a str,
    /// The entity as a string row key, built once per run: keying rows by
    /// it (`tx.add("balance", d.entity_key, ..)`) is the same as keying
    /// them by [`Delivery::entity`], without building the key from the
    /// name for every record (a row key made from it is a copy that
    /// allocates only for names over 22 bytes).
    pub entity_key: &'a KeyStr,
    /// The entity as an id, convenient as a store key.
    pub entity_id: KeyId,
    /// The message's position among its entity's messages, from 1, in the
    /// order the application produced them.
    pub entity_seq: u32,
    /// The producer's name.
    pub producer: &'a str,
    /// Which attempt this is on this consumer: 1 for the first, more after
    /// the handler answered [`Outcome::Retry`].
    pub attempt: u32,
}

impl<'a> Delivery<'a> {
    /// The record's headers: `message-id`, `entity`, `entity-seq`,
    /// `producer`.
    pub fn headers(&self) -> [Header<'a>; 4] {
        [
            Header {
                name: "message-id",
                value: HeaderValue::Int(u64::from(self.message_id.0)),
            },
            Header {
                name: "entity",
                value: HeaderValue::Str(self.entity),
            },
            Header {
                name: "entity-seq",
                value: HeaderValue::Int(u64::from(self.entity_seq)),
            },
            Header {
                name: "producer",
                value: HeaderValue::Str(self.producer),
            },
        ]
    }

    /// The header called `name`.
    pub fn header(&self, name: &str) -> Option<HeaderValue<'a>> {
        self.headers()
            .into_iter()
            .find(|h| h.name == name)
            .map(|h| h.value)
    }
}

/// The user's consumer logic.
///
/// ```
/// use faultline_models::{Delivery, Handler, HandlerCx, Outcome};
///
/// /// Adds each payment to its account, once, by remembering message ids in
/// /// the same transaction as the balance.
/// struct Payments;
///
/// impl Handler for Payments {
///     fn handle(&mut self, d: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome {
///         cx.transaction("apply", |tx| {
///             if tx.contains("inbox", d.message_id) {
///                 return;
///             }
///             tx.put("inbox", d.message_id, d.offset as i64);
///             tx.add("balance", d.entity, d.value);
///         });
///         Outcome::Ok
///     }
/// }
/// ```
pub trait Handler {
    /// Handles one delivery.
    fn handle(&mut self, delivery: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome;
}

/// Builds a fresh handler: at start and after every crash.
pub type HandlerFactory = Arc<dyn Fn() -> Box<dyn Handler> + Send + Sync>;

/// What a handler can do while handling one delivery.
///
/// When a fault crashes the process at one of the handler's crash points,
/// the handler is not told: a real process just stops. Here the handler's
/// code runs on to its end, but nothing it does after the crash takes
/// effect: its transactions see their own writes and are thrown away, and
/// its side effects do not happen. Each durable step the crash prevented is
/// recorded (`cut-short` in the history), so reports can say what was left
/// undone and the idempotence checker can tell a complete invocation from a
/// partial one.
pub struct HandlerCx<'a> {
    now: SimTime,
    consumer: NodeId,
    msg: MessageId,
    key: KeyId,
    store: &'a mut Store,
    /// What the writes of transactions that "committed" after the crash
    /// replaced: those writes are visible to the handler's later reads and
    /// undone when the context ends.
    undo: &'a mut UndoLog,
    history: &'a mut History,
    env: Option<&'a mut dyn Env>,
    rng: &'a mut SimRng,
    crashed: Option<CrashPoint>,
}

impl Drop for HandlerCx<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<'a> HandlerCx<'a> {
    /// A context for handling `msg` (about `key`) on `consumer` at `now`.
    /// `env`: `None` only when no crash point can fire.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        now: SimTime,
        consumer: NodeId,
        msg: MessageId,
        key: KeyId,
        store: &'a mut Store,
        buffer: &'a mut TxBuffer,
        history: &'a mut History,
        env: Option<&'a mut dyn Env>,
        rng: &'a mut SimRng,
    ) -> Self {
        HandlerCx {
            now,
            consumer,
            msg,
            key,
            store,
            undo: &mut buffer.undo,
            history,
            env,
            rng,
            crashed: None,
        }
    }

    /// Runs `f` as one store transaction called `label` and returns what
    /// `f` returned.
    ///
    /// The transaction commits when `f` returns, unless `f` called
    /// [`Tx::abort`]. A committed transaction that wrote at least one row is
    /// an effect of this message. Right after it commits, the process may
    /// crash (the `mid-handle` crash point).
    pub fn transaction<R>(&mut self, label: &'static str, f: impl FnOnce(&mut Tx<'_>) -> R) -> R {
        let start = self.undo.len();
        let (r, wrote) = {
            let mut tx = Tx::begin(self.store, self.undo);
            let r = f(&mut tx);
            (r, tx.close())
        };
        if !wrote {
            return r;
        }
        if self.crashed.is_some() {
            // Kept in the log, undone when the context ends.
            self.cut_short(label, false);
            return r;
        }
        self.undo.forget(start);
        self.effect(label, false);
        self.check(CrashPoint::MidHandle, None);
        r
    }

    /// Reads `table`/`key` outside any transaction.
    pub fn get(&self, table: &'static str, key: impl Into<RowKey>) -> Option<&Value> {
        self.store.get(table, key)
    }

    /// Performs an external side effect called `label` (an email, a
    /// payment): it happens at once and cannot be rolled back. The process
    /// may crash right after it (the `mid-handle` crash point).
    pub fn emit(&mut self, label: &'static str) {
        if self.crashed.is_some() {
            self.cut_short(label, true);
            return;
        }
        self.effect(label, true);
        self.check(CrashPoint::MidHandle, None);
    }

    /// A crash point the handler names itself. A scenario can crash the
    /// consumer here with `point = "handler:<name>"`.
    pub fn crash_point(&mut self, name: &'static str) {
        if self.crashed.is_none() {
            let label = self.history.label(name);
            self.check(CrashPoint::Named(label), Some(name));
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// A deterministic random generator for the handler's own choices.
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }

    /// Where the process crashed under this handler, if it did (for the
    /// consumer running it; the handler itself is not told).
    pub fn crash(&self) -> Option<CrashPoint> {
        self.crashed
    }

    fn effect(&mut self, label: &'static str, external: bool) {
        let label = self.history.label(label);
        self.history.record(
            self.now,
            EventKind::Effect {
                consumer: self.consumer,
                msg: self.msg,
                key: self.key,
                label,
                external,
            },
        );
    }

    fn cut_short(&mut self, label: &'static str, external: bool) {
        let label = self.history.label(label);
        self.history.record(
            self.now,
            EventKind::CutShort {
                consumer: self.consumer,
                msg: self.msg,
                label,
                external,
            },
        );
    }

    /// Ends the handler's work: writes made after the crash are undone.
    fn finish(&mut self) {
        if !self.undo.is_empty() {
            self.store.roll_back(self.undo, 0);
        }
    }

    fn check(&mut self, point: CrashPoint, label: Option<&'static str>) {
        if let Some(env) = &mut self.env
            && let Some(pass) = env.crash_at(self.now, self.consumer, point, label)
        {
            self.crashed = Some(point);
            self.history.record(
                self.now,
                EventKind::Crashed {
                    node: self.consumer,
                    point,
                    pass,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NoFaults;
    use crate::rng::Stream;

    /// An [`Env`] that crashes at the first `mid-handle` point.
    struct CrashFirst;

    impl Env for CrashFirst {
        fn crash_at(
            &mut self,
            _: SimTime,
            _: NodeId,
            point: CrashPoint,
            _: Option<&'static str>,
        ) -> Option<u32> {
            (point == CrashPoint::MidHandle).then_some(0)
        }
        fn slow_processing(&self, _: NodeId) -> Option<SimTime> {
            None
        }
    }

    fn with_cx(store: &mut Store, env: &mut dyn Env, f: impl FnOnce(&mut HandlerCx<'_>)) {
        let (mut buffer, mut history) = (TxBuffer::default(), History::new());
        let mut rng = SimRng::new(0, Stream::Handler(0));
        let mut cx = HandlerCx::new(
            SimTime::ZERO,
            NodeId(0),
            MessageId(1),
            KeyId(0),
            store,
            &mut buffer,
            &mut history,
            Some(env),
            &mut rng,
        );
        f(&mut cx);
        drop(cx);
        assert!(buffer.undo.is_empty(), "nothing left to undo");
    }

    #[test]
    fn writes_after_a_crash_are_seen_by_the_handler_then_undone() {
        let mut store = Store::new();
        with_cx(&mut store, &mut CrashFirst, |cx| {
            cx.transaction("one", |tx| tx.put("t", 1u32, 1));
            assert!(cx.crash().is_some());
            cx.transaction("two", |tx| {
                tx.put("t", 1u32, 2);
                tx.put("t", 2u32, 2);
            });
            cx.transaction("three", |tx| tx.delete("t", 1u32));
            assert_eq!(cx.get("t", 1u32), None);
            assert_eq!(cx.get("t", 2u32), Some(&Value::Int(2)));
        });
        assert_eq!(store.get("t", 1u32), Some(&Value::Int(1)));
        assert_eq!(store.get("t", 2u32), None);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn a_panic_or_an_abort_inside_a_transaction_leaves_no_write() {
        let mut store = Store::new();
        with_cx(&mut store, &mut NoFaults, |cx| {
            cx.transaction("kept", |tx| tx.put("t", "a", 1));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                cx.transaction("panics", |tx| {
                    tx.put("t", "a", 2);
                    tx.put("t", "b", 2);
                    panic!("inside the transaction");
                })
            }));
            assert!(r.is_err());
            assert_eq!(cx.get("t", "a"), Some(&Value::Int(1)));
            cx.transaction("aborts", |tx| {
                tx.add("t", "a", 5);
                tx.abort();
            });
            cx.transaction("kept too", |tx| tx.add("t", "a", 1));
        });
        assert_eq!(store.get("t", "a"), Some(&Value::Int(2)));
        assert_eq!(store.len(), 1);
    }
}
