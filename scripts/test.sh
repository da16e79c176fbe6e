#!/usr/bin/env bash
# The test command of README.md: installs the outside tools, then runs every test
# of the workspace (radotp and bench/'s radotp-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
cargo test --locked --workspace --all-targets
