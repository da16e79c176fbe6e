//! The `radotp` binary: parses the command line and dispatches (see `radotp::cli`).

// mimalloc instead of the system allocator: the request path allocates
// small, short-lived buffers (decoded attributes, records, replies) from
// two or more threads, where glibc's malloc took a fifth of the daemon's
// CPU at peak (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    radotp::cli::main()
}
