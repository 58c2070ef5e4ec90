#!/usr/bin/env bash
# Scaling of `csweep run` with the number of MPI ranks on one grid (docs/SWEEPS.md §3): every rank
# evaluates, rank 0 on a thread beside its coordinator. Runs the same job with each rank count
# (default 1, 2 and 4; 4 is oversubscribed on a 2-core machine) in interleaved rounds, so that load
# from other processes affects every configuration alike, each from an empty output, and prints
# a Markdown table of interventions/s:
#   * sweep: the run's own final progress line (the schedule only: model load and compaction
#     excluded), i.e. what a long sweep sustains;
#   * wall: all interventions / wall time of the whole mpirun (start-up and compaction included);
#   * CPU s: user + system CPU seconds of mpirun and its ranks. On a shared machine a run may get
#     far less than its ranks x threads cores (wall >> CPU s / cores): then the rates measure the
#     machine's load, not the scaling, and the table says so.
# threads_per_rank comes from the job (quickstart: 1), the same for every rank count, so ranks x
# threads is what changes. Needs mpirun; run as root it sets OpenMPI's run-as-root variables.
#
#   bench/scaling.sh [--csweep build/csweep] [--job jobs/quickstart.toml] [--ranks "1 2 4"]
#                    [--rounds 2] [--work DIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
csweep=$root/build/csweep
job=$root/jobs/quickstart.toml
ranks="1 2 4"
rounds=2
work=$(mktemp -d /tmp/csweep-scaling.XXXXXX)
while [[ $# -gt 0 ]]; do
  case $1 in
    --csweep) csweep=$2; shift 2 ;;
    --job) job=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --work) work=$2; mkdir -p "$work"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench/scaling.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
done
[[ -x $csweep ]] || { echo "bench/scaling.sh: $csweep is not built (ninja -C build csweep)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

threads=$(sed -n 's/^threads_per_rank *= *\([0-9]*\).*/\1/p' "$job" | head -1)
echo "job: $job (threads_per_rank ${threads:-1}); $(nproc) CPUs: $(lscpu | sed -n 's/^Model name: *//p')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A best_sweep best_wall cpu_of secs_of
for ((round = 1; round <= rounds; round++)); do
  for np in $ranks; do
    out=$work/np$np.h5
    rm -f "$out" "$out.journal"
    t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$work/np$np.time" \
      mpirun -np "$np" --oversubscribe "$csweep" run "$job" --output "$out" --no-summary --progress 3600 \
      2> "$work/np$np.log"
    t1=$(date +%s.%N)
    # The last progress line: "csweep: units N/N (100.0%) | x units/s | y interventions/s | ETA ..."
    sweep=$(grep -o '[0-9.]* interventions/s' "$work/np$np.log" | tail -1 | cut -d' ' -f1)
    total=$(sed -n 's/^csweep: .*: \([0-9]*\) interventions in .*/\1/p' "$work/np$np.log" | head -1)
    wall=$(python3 -c "print(f'{$total / ($t1 - $t0):.1f}')")
    cpu=$(awk '{printf "%.1f", $1 + $2}' "$work/np$np.time")
    echo "round $round: -np $np: sweep $sweep interventions/s, wall $wall interventions/s ($total interventions, $(python3 -c "print(f'{$t1 - $t0:.1f}')") s wall, $cpu CPU s)"
    cpu_of[$np]=$cpu; secs_of[$np]=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
    if [[ -z ${best_sweep[$np]:-} ]] || python3 -c "import sys; sys.exit(not $sweep > ${best_sweep[$np]})"; then
      best_sweep[$np]=$sweep
    fi
    if [[ -z ${best_wall[$np]:-} ]] || python3 -c "import sys; sys.exit(not $wall > ${best_wall[$np]})"; then
      best_wall[$np]=$wall
    fi
  done
done
echo
echo "| ranks | threads per rank | sweep interventions/s (best of $rounds) | wall interventions/s | sweep vs 1 rank | last run: wall s, CPU s |"
echo "|---:|---:|---:|---:|---:|---:|"
first=${ranks%% *}
for np in $ranks; do
  ratio=$(python3 -c "print(f'{${best_sweep[$np]} / ${best_sweep[$first]}:.2f}')")
  echo "| $np | ${threads:-1} | ${best_sweep[$np]} | ${best_wall[$np]} | ${ratio}x | ${secs_of[$np]}, ${cpu_of[$np]} |"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
