//! The `radotp-bench` binary (see `radotp_bench::cli`).

// The same allocator as the radotp binary: the generator's figures in
// docs/PERFORMANCE.md were taken with it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    radotp_bench::cli::main()
}
