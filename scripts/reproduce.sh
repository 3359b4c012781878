#!/usr/bin/env bash
# The main job on built-in defaults: set up, then reproduce finding F1 (linear-1 trained on
# the LDS task implements one step of gradient descent) with the quick profile. Extra
# arguments go to `mesa reproduce`, e.g. `scripts/reproduce.sh F1 --profile paper`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ $# -eq 0 ]; then set -- F1; fi
exec .build/release/mesa reproduce "$@"
