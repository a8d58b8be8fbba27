//! Run output: `result.json` (the machine-readable verdict, with the
//! scenario embedded so a result replays on its own), `history.jsonl`,
//! `report.html` ([`html`]), `summary.md` ([`markdown`]), `junit.xml`
//! ([`junit`]), `trace.log` with `--trace` ([`trace`]) and the console
//! summary ([`text`]).

pub mod files;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod result;
pub mod text;
pub mod trace;

pub use result::{ResultFile, SCHEMA_VERSION, build_result};

/// Installs a panic hook that stays quiet about panics in user handler
/// code (they are caught and reported as `no-panic` findings) and keeps
/// the default behaviour for everything else.
pub fn quiet_user_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !faultline_models::panic_guard::in_user_code() {
                previous(info);
            }
        }));
    });
}
