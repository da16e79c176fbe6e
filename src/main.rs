//! The `radotp` binary: parses the command line and dispatches (see `radotp::cli`).

fn main() -> std::process::ExitCode {
    radotp::cli::main()
}
