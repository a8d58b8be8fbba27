//! The `faultline` command line: a thin layer over the library.

mod cli;

/// mimalloc rather than the system allocator: it keeps freed memory for
/// reuse and backs large heaps with huge pages, so a long run does not spend
/// a third of its time in the kernel faulting in the pages it touches.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
