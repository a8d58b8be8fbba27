//! Sans-IO models for faultline: brokers, clients and reference consumers.
//!
//! Every model here is a plain state machine. It is handed the current
//! virtual time and an input (a network message or a timer it set earlier)
//! through a [`Cx`] and answers with outputs: messages to send, timers to set
//! and history [`Event`]s to record. Models never touch a socket, a clock or
//! an operating-system random source; the engine in the `faultline` crate owns
//! time, the network and all randomness.
//!
//! Map of the crate:
//!
//! - [`ids`], [`time`], [`rng`]: the small value types everything shares.
//! - [`event`]: the broker-neutral history vocabulary (message id, key,
//!   delivery, settle, effect, crash) with broker facts as attributes.
//! - [`handler`]: the public [`Handler`] trait users implement, the durable
//!   [`Store`] it reads and writes, and [`handlers`], the built-in reference
//!   consumers selectable by name.
//! - [`kafka`]: the Kafka-style model (partitioned logs, producers with acks
//!   and retries, consumer groups with a coordinator, offsets and commits).
//! - [`model`]: the contract between a model and the engine.

pub mod event;
pub mod handler;
pub mod handlers;
pub mod ids;
pub mod kafka;
pub mod model;
pub mod murmur2;
pub mod panic_guard;
pub mod rng;
pub mod store;
pub mod time;

pub use event::{CrashPoint, Event, EventKind, History};
pub use handler::{Delivery, Handler, HandlerCx, Outcome};
pub use ids::{GroupId, KeyId, MessageId, NodeId, PartitionId};
pub use model::{Cx, Env, Model};
pub use rng::SimRng;
pub use store::{KeyStr, RowKey, Store, Tx, TxBuffer, Value};
pub use time::SimTime;
