//! The `faultline` command line: a thin layer over the library.

mod cli;

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    cli::main()
}

/// Lets a closed pipe end the process quietly, as it does other Unix
/// tools (`faultline run scenarios | head`). Rust ignores `SIGPIPE`, which
/// turns every later write to the closed pipe into a panic.
#[cfg(unix)]
fn restore_sigpipe() {
    // SAFETY: called first thing in `main`, before any thread exists;
    // setting a signal's disposition to its default has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}
