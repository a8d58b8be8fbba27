//! faultline: a deterministic simulator and chaos test harness for
//! messaging systems.
//!
//! A scenario file describes a topology (brokers, topics, partitions), a
//! workload, consumer groups running a handler, faults (an explicit
//! timeline and a probabilistic mix) and the invariants the run must show.
//! faultline simulates it on virtual time, records a typed history of
//! everything that happened, and checks the history: nothing lost, no
//! effect applied twice, per-key order kept, the handler idempotent, the
//! system drained once faults healed. One seed reproduces a whole run,
//! faults included, byte for byte.
//!
//! Map of the crate:
//!
//! - [`scenario`]: reading scenario files, with diagnostics that name the
//!   file, line and field; [`setup`] checks and resolves them.
//! - [`registry`]: handlers by name, built-in and user-registered.
//! - [`engine`]: the discrete-event engine, network and fault injector;
//!   [`faults`]: fault plans.
//! - [`run`]: simulate, check, judge one run.
//! - [`checkers`]: one file per invariant.
//! - [`history`]: `history.jsonl` and plain-sentence descriptions.
//! - [`report`]: `result.json`, writing run output, replay.
//!
//! The user's consumer logic implements [`Handler`]; see
//! `faultline_models::handler` for the API.

pub mod checkers;
pub mod engine;
pub mod explore;
pub mod faults;
pub mod history;
pub mod kafka_history;
pub mod registry;
pub mod report;
pub mod run;
pub mod scenario;
pub mod setup;
pub mod shrink;
pub mod testing;

pub use checkers::{Finding, Invariant};
pub use faultline_models as models;
pub use faultline_models::kafka::CommitMode;
pub use faultline_models::{Delivery, Handler, HandlerCx, Outcome};
pub use registry::Registry;
pub use run::{Run, run, run_with, simulate};
pub use setup::Setup;

/// This build's version, recorded in every result.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
