#!/usr/bin/env bash
# A throw-away single-node Slurm cluster for the Slurm executor's tests (issue 13):
#   scripts/slurm-cluster.sh start DIR   generates DIR/slurm.conf (this machine's hostname, cores and
#                                        memory; state, spool, logs and pid files under DIR), starts
#                                        munged if none runs, then slurmctld and slurmd; waits until the
#                                        node is idle. Prints the SLURM_CONF to export.
#   scripts/slurm-cluster.sh stop DIR    stops the slurmctld and slurmd started for DIR (and munged if
#                                        this script started it), by their pid files.
# Needs root (slurmd runs jobs as their submitter) and Debian's slurm-wlm and munge (scripts/setup.sh
# installs them). Exits non-zero with a message when the cluster cannot be started.
set -euo pipefail
cmd=${1:-}; dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then echo "usage: $0 start|stop DIR" >&2; exit 2; fi
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
conf="$dir/slurm.conf"

stop_pid() {  # pid file
    [ -f "$1" ] || return 0
    local pid; pid=$(cat "$1" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

case "$cmd" in
start)
    for tool in slurmctld slurmd sbatch squeue munged; do
        command -v "$tool" >/dev/null 2>&1 || { echo "slurm-cluster: $tool is not installed (scripts/setup.sh installs slurm-wlm and munge)" >&2; exit 3; }
    done
    [ "$(id -u)" -eq 0 ] || { echo "slurm-cluster: needs root to start slurmd" >&2; exit 3; }
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    # Ports of our own, derived from DIR, so that two test clusters (or a real one) do not collide.
    base=$(( 20000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 20000 ))
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    cat > "$conf" <<CONF
ClusterName=mesatest
SlurmctldHost=$host
SlurmctldPort=$base
SlurmdPort=$((base + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=10
MaxArraySize=10001
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
    if ! pgrep -x munged >/dev/null 2>&1; then
        mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
        if [ ! -s /etc/munge/munge.key ]; then
            if command -v mungekey >/dev/null 2>&1; then mungekey --create >/dev/null 2>&1 || true
            else dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; fi
            chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
        fi
        # Daemons get no inherited stdout/stderr: a caller reading this script's output to its end
        # would otherwise wait for them to exit.
        runuser -u munge -- munged </dev/null >/dev/null 2>"$dir/log/munged.err" \
            || munged --force </dev/null >/dev/null 2>>"$dir/log/munged.err" \
            || { echo "slurm-cluster: munged did not start: $(cat "$dir/log/munged.err")" >&2; exit 3; }
        for _ in $(seq 50); do pgrep -n -x munged > "$dir/munged.pid" && break; sleep 0.1; done
        touch "$dir/munged.ours"
    fi
    export SLURM_CONF="$conf"
    slurmctld -f "$conf" </dev/null >>"$dir/log/slurmctld.out" 2>&1 || { echo "slurm-cluster: slurmctld did not start; see $dir/log/slurmctld.log" >&2; exit 3; }
    slurmd -f "$conf" </dev/null >>"$dir/log/slurmd.out" 2>&1 || { echo "slurm-cluster: slurmd did not start; see $dir/log/slurmd.log" >&2; "$0" stop "$dir"; exit 3; }
    for _ in $(seq 150); do
        state=$(sinfo -h -n "$host" -o '%t' 2>/dev/null | head -1 || true)
        case "$state" in idle|mix|alloc) echo "SLURM_CONF=$conf"; exit 0 ;; esac
        sleep 0.2
    done
    echo "slurm-cluster: the node did not become idle (state '${state:-?}'); see $dir/log" >&2
    "$0" stop "$dir"; exit 3
    ;;
stop)
    stop_pid "$dir/slurmd.pid"
    stop_pid "$dir/slurmctld.pid"
    if [ -f "$dir/munged.ours" ]; then stop_pid "$dir/munged.pid"; rm -f "$dir/munged.ours"; fi
    ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
