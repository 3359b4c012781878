#!/usr/bin/env bash
# Sets up a fresh machine for mesa: installs the Debian packages it needs when they are
# missing (OpenBLAS for the matrix products, gnuplot for the figures, fortunes for `mesa lm`), then builds the
# `mesa` tool in release mode. Safe to run again: it installs nothing that is present.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
dpkg -s libopenblas-dev >/dev/null 2>&1 || missing+=(libopenblas-dev)
command -v gnuplot >/dev/null 2>&1 || missing+=(gnuplot-nox)
# The default text of `mesa lm` and F8 (SPEC §7): Debian's fortunes, ~2.5 MB of English.
[ -d /usr/share/games/fortunes ] || missing+=(fortunes)
# Slurm and munge: the Slurm executor's tests start a single-node cluster (scripts/slurm-cluster.sh).
command -v slurmctld >/dev/null 2>&1 || dpkg -s slurm-wlm >/dev/null 2>&1 || missing+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || dpkg -s munge >/dev/null 2>&1 || missing+=(munge)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" != "--no-build" ]; then
    echo "setup: building mesa (release)" >&2
    swift build -c release --product mesa
fi
