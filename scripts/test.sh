#!/usr/bin/env bash
# Runs the test suite: installs the system packages if missing, builds everything in
# release mode (the numerical tests train small models), and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
swift build -c release --build-tests
swift test -c release --skip-build "$@"
