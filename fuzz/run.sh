#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30) and fails when any
# target finds a crash, a panic, a leak or a timeout.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# The committed seeds (fuzz/corpus/<target>/) are read only; new inputs go to
# fuzz/work/<target>/ and crashing inputs to fuzz/artifacts/<target>/ (both
# ignored by git). Installs the nightly toolchain and cargo-fuzz if missing.
set -uo pipefail
cd "$(dirname "$0")"
secs="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(packet_roundtrip credential config import eap provision)
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal || exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked || exit 1
fi

# Build all targets first so the time budget goes to fuzzing.
cargo +nightly fuzz build || exit 1

failed=()
for t in "${targets[@]}"; do
    mkdir -p "work/$t" "artifacts/$t"
    echo "== fuzz $t for ${secs}s"
    log="work/$t.log"
    if ! cargo +nightly fuzz run "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        failed+=("$t")
        tail -n 60 "$log"
    fi
    # The last status line (execs, cov, ft) and the final stats.
    grep -E '^#[0-9]+' "$log" | tail -n 1
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log"
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${secs}s each, nothing found"
