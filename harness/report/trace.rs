//! `trace.log` (`faultline run --trace`): the run's event stream as a
//! `tracing` log, each line stamped with the event's simulated time.
//!
//! The run itself stays free of logging (no formatting on the hot path);
//! the recorded history is replayed through a `tracing-subscriber` fmt
//! layer afterwards, with a timer that reads the simulated clock. Faults
//! are logged at WARN, handler panics at ERROR, everything else at INFO,
//! each with its history index, node and event type as fields.

use std::cell::Cell;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use faultline_models::SimTime;
use faultline_models::event::EventKind;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use crate::history::Names;
use crate::history::describe::what;
use crate::history::jsonl::type_name;
use crate::report::html::diagram::node_of;

thread_local! {
    /// The simulated time of the event being logged on this thread.
    static NOW: Cell<SimTime> = const { Cell::new(SimTime(0)) };
}

/// A `tracing-subscriber` timer that prints simulated time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimClock;

impl FormatTime for SimClock {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        write!(w, "{:>12}", NOW.with(Cell::get).to_string())
    }
}

/// A writer into a shared buffer, so the log can be written out (and its
/// errors reported) once the subscriber is done.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut v = self
            .0
            .lock()
            .map_err(|_| io::Error::other("trace buffer poisoned"))?;
        v.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether an event is a fault the run injected.
fn is_fault(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Crashed { .. }
            | EventKind::MessageDropped { .. }
            | EventKind::MessageDuplicated { .. }
            | EventKind::MessageDelayed { .. }
            | EventKind::PartitionStarted { .. }
            | EventKind::SlowStarted { .. }
    )
}

/// The history of a run as a `tracing` log.
pub fn trace_log(names: &Names<'_>) -> io::Result<Vec<u8>> {
    let buffer = Buffer::default();
    let sink = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_timer(SimClock)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        for (i, e) in names.history.events.iter().enumerate() {
            NOW.with(|now| now.set(e.time));
            let node = node_of(&e.kind, names).map_or_else(String::new, |n| names.node(n));
            let kind = type_name(&e.kind);
            let text = what(&e.kind, names);
            match e.kind {
                EventKind::HandlerPanicked { .. } | EventKind::HandlerFactoryPanicked { .. } => {
                    tracing::error!(target: "faultline::history", i, node, kind, "{text}");
                }
                ref k if is_fault(k) => {
                    tracing::warn!(target: "faultline::history", i, node, kind, "{text}");
                }
                _ => tracing::info!(target: "faultline::history", i, node, kind, "{text}"),
            }
        }
    });
    let bytes = buffer
        .0
        .lock()
        .map_err(|_| io::Error::other("trace buffer poisoned"))?
        .clone();
    Ok(bytes)
}
