#!/usr/bin/env bash
# Starts (or stops) a real single-node Slurm cluster on localhost: munged, slurmctld, slurmd.
#   tests/slurm/local_cluster.sh start   -> prints "export SLURM_CONF=..." to eval
#   tests/slurm/local_cluster.sh stop
# CSWEEP_MAX_ARRAY_SIZE sets the cluster's MaxArraySize (default 1001, Slurm's default).
# Needs root (slurmd runs jobs as the submitting user; SlurmUser=root keeps the setup small).
# State lives under ${CSWEEP_SLURM_DIR:-/tmp/csweep-slurm}; nothing outside it is written except
# munge's key and run directory when they are missing.
set -euo pipefail
dir=${CSWEEP_SLURM_DIR:-/tmp/csweep-slurm}
conf=$dir/slurm.conf
host=$(hostname -s)

log() { echo "local_cluster: $*" >&2; }

# Ends the daemons this script started, by the pids they recorded, and waits until each is gone
# (a zombie counts as gone: its parent reaps it). munged is stopped only when this script
# started it (another user of the machine may rely on a munged that was already running).
stop_pid() {  # name pidfile
  [[ -s $2 ]] || return 0
  local pid
  pid=$(cat "$2")
  rm -f "$2"
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    local state
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
    [[ -z $state || $state == Z ]] && return 0
    sleep 0.1
  done
  log "$1 (pid $pid) ignored SIGTERM for 5 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

alive() {  # pidfile
  [[ -s $1 ]] || return 1
  local state
  state=$(awk '{print $3}' "/proc/$(cat "$1")/stat" 2>/dev/null || true)
  [[ -n $state && $state != Z ]]
}

# Job steps outlive slurmd (slurmstepd is its own process): cancel every job of this cluster and
# wait for them to end before stopping the daemons, so no job of an earlier run lingers when
# the next cluster reuses its job ids. Leftover slurmstepd processes are recognised by the
# marker variable slurmd was started with (CSWEEP_LOCAL_SLURMD=<this cluster's dir>).
stop_jobs() {
  if alive "$dir/slurmctld.pid"; then
    SLURM_CONF=$conf scancel --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 100); do
      [[ -z $(SLURM_CONF=$conf squeue -h -o %i 2>/dev/null) ]] && break
      sleep 0.1
    done
  fi
}
kill_leftover_steps() {
  local pid
  for pid in $(pgrep -x slurmstepd 2>/dev/null || true); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "CSWEEP_LOCAL_SLURMD=$dir"; then
      log "killing leftover slurmstepd $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

stop() {
  stop_jobs
  stop_pid slurmd "$dir/slurmd.pid"
  stop_pid slurmctld "$dir/slurmctld.pid"
  kill_leftover_steps
  stop_pid munged "$dir/munged.started"
}

start_munge() {
  if pgrep -x munged >/dev/null && munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  su -s /bin/sh munge -c /usr/sbin/munged
  for _ in $(seq 50); do
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
      cp /run/munge/munged.pid "$dir/munged.started" 2>/dev/null || pgrep -x -o munged >"$dir/munged.started"
      return
    fi
    sleep 0.1
  done
  log "munged did not come up"; exit 1
}

start() {
  [[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }
  stop
  mkdir -p "$dir"/{state,spool,log}
  local cpus mem
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  cat >"$conf" <<CONF
ClusterName=csweep-local
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmctldPort=${CSWEEP_SLURMCTLD_PORT:-16817}
SlurmdPort=${CSWEEP_SLURMD_PORT:-16818}
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
AuthType=auth/munge
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
MailProg=/bin/true
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1
MinJobAge=300
KillWait=5
MaxArraySize=${CSWEEP_MAX_ARRAY_SIZE:-1001}
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
  start_munge
  /usr/sbin/slurmctld -f "$conf"
  CSWEEP_LOCAL_SLURMD=$dir /usr/sbin/slurmd -f "$conf" -N "$host"
  export SLURM_CONF=$conf
  for _ in $(seq 100); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      echo "export SLURM_CONF=$conf"
      return
    fi
    sleep 0.2
  done
  log "node did not become idle; see $dir/log"; sinfo >&2 || true; exit 1
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 64 ;;
esac
