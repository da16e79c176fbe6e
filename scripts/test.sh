#!/usr/bin/env bash
# The test command of README.md: installs the outside tools, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
cargo test --locked --all-targets
