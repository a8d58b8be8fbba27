//! Marks when user handler code is running, so a process-wide panic hook
//! can stay quiet about panics that the consumer catches and reports as
//! findings.

use std::cell::Cell;

thread_local! {
    static IN_USER_CODE: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is running user handler code right now.
pub fn in_user_code() -> bool {
    IN_USER_CODE.with(Cell::get)
}

/// Runs `f` (user code) with panics caught, marking the thread meanwhile.
/// Returns the panic message when `f` panicked.
#[inline]
pub fn run_user_code<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let was = IN_USER_CODE.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_USER_CODE.with(|c| c.set(was));
    result.map_err(|payload| {
        if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a non-string payload".to_owned()
        }
    })
}
