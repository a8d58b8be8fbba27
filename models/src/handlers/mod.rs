//! Built-in reference handlers, selectable by name in scenario files.
//!
//! All four apply the same business logic, a payment per message added to
//! its entity's balance (`balance[entity] += value`), and differ only in how
//! they guard it against duplicates and when the consumer commits offsets:
//!
//! | name | commit | guard | guarantee |
//! |---|---|---|---|
//! | `commit-before-process` | before handling the batch | none | at most once |
//! | `process-then-commit` | after handling the batch | none | at least once |
//! | `idempotent-inbox` | after handling the batch | inbox row in the same transaction | effectively once |
//! | `dedup-after-effect` | after handling the batch | dedup row in a second transaction | broken: duplicates after a crash between the two |
//!
//! A fifth, `forward`, applies nothing: it is the transform step of a
//! consume-transform-produce stage (a group with `output_topic`), whose
//! only effect is the record it forwards.

use std::sync::Arc;

use crate::handler::{Delivery, Handler, HandlerCx, HandlerFactory, Outcome};
use crate::kafka::CommitMode;

/// A built-in handler: its name, factory, default commit mode and summary.
#[derive(Clone)]
pub struct BuiltIn {
    /// The name scenario files use.
    pub name: &'static str,
    /// Builds the handler.
    pub factory: HandlerFactory,
    /// When the consumer commits offsets with this handler.
    pub commit: CommitMode,
    /// One line on what it shows.
    pub summary: &'static str,
}

/// All built-in handlers, in a fixed order.
pub fn built_ins() -> Vec<BuiltIn> {
    vec![
        BuiltIn {
            name: "commit-before-process",
            factory: Arc::new(|| Box::new(Apply)),
            commit: CommitMode::BeforeProcess,
            summary: "commits a batch's offsets, then handles it: at-most-once, loses records on a crash in between",
        },
        BuiltIn {
            name: "process-then-commit",
            factory: Arc::new(|| Box::new(Apply)),
            commit: CommitMode::AfterBatch,
            summary: "handles a batch, then commits: at-least-once, repeats effects on a crash before the commit",
        },
        BuiltIn {
            name: "idempotent-inbox",
            factory: Arc::new(|| Box::new(IdempotentInbox)),
            commit: CommitMode::AfterBatch,
            summary: "records the message id in an inbox table in the same transaction as the effect: effectively once",
        },
        BuiltIn {
            name: "dedup-after-effect",
            factory: Arc::new(|| Box::new(DedupAfterEffect)),
            commit: CommitMode::AfterBatch,
            summary: "applies the effect, then records the message id in a second transaction: duplicates after a crash in between",
        },
        BuiltIn {
            name: "forward",
            factory: Arc::new(|| Box::new(Forward)),
            commit: CommitMode::AfterBatch,
            summary: "applies nothing: the transform of a consume-transform-produce stage (output_topic), which forwards every record",
        },
    ]
}

/// The built-in handler called `name`.
pub fn built_in(name: &str) -> Option<BuiltIn> {
    built_ins().into_iter().find(|b| b.name == name)
}

/// Applies every delivery, with no guard against duplicates.
#[derive(Clone, Copy, Debug, Default)]
pub struct Apply;

impl Handler for Apply {
    fn handle(&mut self, d: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome {
        cx.transaction("apply", |tx| {
            tx.add("balance", d.entity_key, d.value);
        });
        Outcome::Ok
    }
}

/// Settles every delivery without an effect: with `output_topic`, the
/// record itself is the stage's output.
#[derive(Clone, Copy, Debug, Default)]
pub struct Forward;

impl Handler for Forward {
    fn handle(&mut self, _: &Delivery<'_>, _: &mut HandlerCx<'_>) -> Outcome {
        Outcome::Ok
    }
}

/// Writes an inbox row keyed by message id in the same transaction as the
/// effect, and skips messages already in the inbox.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdempotentInbox;

impl Handler for IdempotentInbox {
    fn handle(&mut self, d: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome {
        cx.transaction("apply", |tx| {
            if tx.put_new("inbox", d.message_id, d.offset as i64) {
                tx.add("balance", d.entity_key, d.value);
            }
        });
        Outcome::Ok
    }
}

/// Checks a dedup table, applies the effect, and only then records the
/// message id, in a separate transaction. A crash between the two steps
/// leaves the effect without its dedup row, so the redelivery applies it
/// again.
#[derive(Clone, Copy, Debug, Default)]
pub struct DedupAfterEffect;

impl Handler for DedupAfterEffect {
    fn handle(&mut self, d: &Delivery<'_>, cx: &mut HandlerCx<'_>) -> Outcome {
        if cx.get("dedup", d.message_id).is_some() {
            return Outcome::Ok;
        }
        cx.transaction("apply", |tx| {
            tx.add("balance", d.entity_key, d.value);
        });
        cx.transaction("dedup", |tx| {
            tx.put("dedup", d.message_id, 1);
        });
        Outcome::Ok
    }
}
