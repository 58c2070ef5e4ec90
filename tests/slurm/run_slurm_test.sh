#!/usr/bin/env bash
# Slurm scenarios of `csweep submit` / `status` / `resubmit` against a real slurmctld/slurmd on
# localhost, started here and stopped on every exit path (trap), with MaxArraySize=3:
#   reference  one process runs the spec (the tables every scenario must reproduce)
# Scenario a runs jobs/quickstart.toml (whatever families it has); b-d run
# tests/slurm/jobs/small.toml, two of its three tasks, so that the suite stays short as the
# quickstart spec grows.
#   a_array    3 shards, --max-concurrent 2 (never more than 2 tasks running, sampled), dependent
#              merge; `--dry-run` equals what is written and submitted, and the README's block
#   b_signal   2 shards x 2 ranks (srun --mpi=pmix); a running task gets the pre-time-limit signal
#              (scancel --signal=USR1 --batch) -> checkpoints, requeues itself, resumes: every unit
#              computed exactly once (the shard file's run history), tables identical
#   c_resubmit shard 1's output is unwritable for the first attempt -> it fails, the merge never
#              runs, `csweep status` exits 4 naming it; `csweep resubmit` submits only shard 1,
#              leaves the complete shards untouched and completes the run
#   d_split    5 shards > MaxArraySize 3 -> two arrays feeding one merge
# Tables are compared dataset by dataset with Debian's h5py (tests/mpi/check_tables.py).
# Usage: run_slurm_test.sh CSWEEP_BINARY WORKDIR SCENARIO [JOB_SPEC]
set -euo pipefail
csweep=$(realpath "$1")
base=$(realpath -m "$2")
scenario=$3
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
job=$(realpath "${4:-$repo/jobs/quickstart.toml}")
py=/usr/bin/python3
reference=$base/reference/$(basename "$job" .toml).h5
work=$base/$scenario
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader

say() { echo "[$(date +%T)] slurm.$scenario: $*"; }
fail() { echo "slurm.$scenario: FAILED: $*" >&2; exit 1; }

if [[ $scenario == reference ]]; then
  mkdir -p "$base/reference"; rm -f "$reference" "$reference.journal"
  "$csweep" run "$job" --output "$reference" --no-summary
  exit 0
fi
[[ -f $reference ]] || fail "no reference run at $reference (run the slurm.reference* tests first)"
[[ $(id -u) -eq 0 ]] || fail "needs root to start munged/slurmctld/slurmd on localhost"

export CSWEEP_SLURM_DIR=$work/cluster CSWEEP_MAX_ARRAY_SIZE=3
"$repo/tests/slurm/local_cluster.sh" stop 2>/dev/null || true  # daemons of an aborted earlier run
rm -rf "$work"; mkdir -p "$work"
cleanup() {
  local rc=$?
  if ((rc != 0)) && [[ -n ${run:-} && -d ${run:-/nonexistent} ]]; then
    echo "---- csweep status $run"; "$csweep" status "$run" || true
    for f in "$run"/logs/*; do echo "---- $f"; tail -n 30 "$f"; done
    echo "---- slurmctld log"; tail -n 20 "$CSWEEP_SLURM_DIR/log/slurmctld.log" 2>/dev/null || true
  fi
  "$repo/tests/slurm/local_cluster.sh" stop || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
eval "$("$repo/tests/slurm/local_cluster.sh" start)"

# How many jobs are queued or running ("unknown" while the controller does not answer).
active_jobs() {
  local out
  if out=$(squeue -h -o %i 2>/dev/null); then grep -c . <<<"$out" || true; else echo unknown; fi
}
# Waits until the queue is empty (every job of this private cluster is ours).
wait_idle() {
  local deadline=$((SECONDS + ${1:-240}))
  while [[ $(active_jobs) != 0 ]]; do
    ((SECONDS < deadline)) || { squeue; fail "jobs still queued after ${1:-240} s"; }
    sleep 0.5
  done
}
job_state() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
compare_tables() {  # RESULT
  "$py" - "$repo/tests/mpi" "$1" "$reference" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from check_tables import identical
diff = identical(sys.argv[2], sys.argv[3])
if diff:
    sys.exit(f"Slurm result {sys.argv[2]} differs from the single-process run: {diff}")
print(f"identical tables: {sys.argv[2]} == {sys.argv[3]}")
PY
}
expect_status() {  # RUN EXPECTED_RC
  local rc=0
  "$csweep" status "$1" >"$work/status.txt" || rc=$?
  cat "$work/status.txt"
  [[ $rc == "$2" ]] || fail "csweep status exited $rc, expected $2"
}
# run.json as seen by an independent reader: one expression evaluated on it.
run_json() { "$py" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$run/run.json" "$1"; }

case $scenario in
a_array)
  run=$work/run
  submit=(submit "$job" --shards 3 --max-concurrent 2 --run-dir "$run")
  say "dry run"
  "$csweep" "${submit[@]}" --dry-run >"$work/dry-run.txt"
  [[ ! -e $run ]] || fail "--dry-run wrote $run"
  say "README block matches the dry run (paths and hashes normalised)"
  "$repo/tests/slurm/readme_dry_run.sh" check "$work/dry-run.txt" "$run" "$csweep"
  say "submit"
  "$csweep" "${submit[@]}" | tee "$work/submit.txt"
  say "what was written and submitted == the dry run"
  "$py" - "$work/dry-run.txt" "$run" <<'PY'
import json, re, shlex, sys
text = open(sys.argv[1]).read()
run = sys.argv[2]
sections = re.split(r"^# ---- (.*)\n", text, flags=re.M)
parts = dict(zip(sections[1::2], sections[2::2]))
for name in ("shard.sbatch", "merge.sbatch"):
    path = f"{run}/{name}"
    if open(path).read() != parts[path]:
        sys.exit(f"{path} differs from the --dry-run listing")
record = json.load(open(f"{run}/run.json"))
attempt = record["attempts"][0]
jobs = attempt["arrays"] + [attempt["merge"]]
ids, planned = {}, []
for line in parts["submission"].strip().splitlines():
    name, cmd = re.fullmatch(r"(\w+)=\$\((.*)\)", line).groups()
    planned.append((name, shlex.split(cmd)))
if len(planned) != len(jobs):
    sys.exit(f"dry run plans {len(planned)} sbatch calls, {len(jobs)} were made")
for (name, argv), job in zip(planned, jobs):
    argv = [re.sub(r"\$(\w+)", lambda m: ids[m.group(1)], a) for a in argv]
    if argv != job["sbatch"]:
        sys.exit(f"submitted {job['sbatch']}\n  but the dry run said {argv}")
    ids[name] = job["job_id"]
print(f"scripts and {len(jobs)} sbatch calls equal the dry run")
PY
  [[ $(run_json 'len(r["attempts"][0]["arrays"])') == 1 ]] || fail "3 shards should fit one array"
  array=$(run_json 'r["attempts"][0]["arrays"][0]["job_id"]')
  say "sampling running tasks of array $array (cap 2)"
  max_running=0
  while [[ $(active_jobs) != 0 ]]; do
    n=$(squeue -h -r -j "$array" -t RUNNING -o %i 2>/dev/null | grep -c . || true)
    ((n > max_running)) && max_running=$n
    sleep 0.2
  done
  say "at most $max_running task(s) ran at once"
  ((max_running >= 1 && max_running <= 2)) || fail "--max-concurrent 2 not honoured: $max_running running"
  expect_status "$run" 0
  compare_tables "$run/results.h5"
  if "$csweep" --help | grep -qE '^ +analyze( |$)'; then
    [[ -s $run/analysis/summary.json ]] || fail "the merge job did not run csweep analyze (no analysis/summary.json)"
    say "the merge job analysed: $(find "$run/analysis" -maxdepth 1 -type f -printf "%f ")"
  else
    grep -q "has no 'analyze' command; analysis skipped" "$run/logs/merge.log" || fail "merge.log does not say why it skipped the analysis"
  fi
  ;;

b_signal)
  run=$work/run
  "$csweep" submit "$job" --shards 2 --ranks-per-shard 2 --run-dir "$run" | tee "$work/submit.txt"
  array=$(run_json 'r["attempts"][0]["arrays"][0]["job_id"]')
  journal=$run/shards/shard-0-of-2.h5.journal
  say "waiting for shard 0's first journaled unit"
  deadline=$((SECONDS + 120))
  until [[ -s $journal ]]; do
    ((SECONDS < deadline)) || fail "shard 0 journaled nothing within 120 s"
    sleep 0.05
  done
  scancel --signal=USR1 --batch "${array}_0"
  say "sent USR1 to the batch shell of ${array}_0"
  wait_idle 300
  expect_status "$run" 0
  log=$run/logs/shard-0.log
  grep -q "signal=USR1" "$log" || fail "shard 0 did not see the signal"
  grep -q "end rc=75 checkpointed; requeueing" "$log" || fail "shard 0 did not checkpoint and requeue"
  [[ $(grep -c "csweep-shard 0/2 start" "$log") == 2 ]] || fail "shard 0 should have started exactly twice"
  grep -q " restart=1 " "$log" || fail "the second start of shard 0 is not Slurm's restart 1"
  say "shard 0's run history: every unit computed exactly once"
  "$py" - "$run/shards/shard-0-of-2.h5" <<'PY'
import json, sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    runs = json.loads(f.attrs["runs"])
    units = f["ledger/unit"][()]
    total = int(f["ledger"].attrs["total_units"])
first, last = total * 0 // 2, total * 1 // 2
for r in runs:
    print(f"  run: ranks {r['ranks']}, units done {r['units_done']}, re-issued {r['units_reissued']}, "
          f"interrupted {r['interrupted']}")
if len(runs) != 2 or not runs[0]["interrupted"] or runs[1]["interrupted"]:
    sys.exit("expected one interrupted run and one complete resume")
if not 0 < runs[0]["units_done"] < last - first:
    sys.exit(f"the signal did not interrupt the shard mid-way ({runs[0]['units_done']} of {last - first})")
if sum(r["units_done"] for r in runs) != last - first or any(r["units_reissued"] for r in runs):
    sys.exit(f"units computed {sum(r['units_done'] for r in runs)} times for {last - first} units")
if sorted(units.tolist()) != list(range(first, last)):
    sys.exit("the ledger does not hold the shard's units exactly once")
print(f"  {last - first} units, each computed once over {len(runs)} runs")
PY
  compare_tables "$run/results.h5"
  ;;

c_resubmit)
  run=$work/run
  # The output of shard 1 cannot be written (a directory stands at its path) for the first attempt.
  mkdir -p "$run/shards/shard-1-of-3.h5"
  "$csweep" submit "$job" --shards 3 --run-dir "$run" | tee "$work/submit.txt"
  merge=$(run_json 'r["attempts"][0]["merge"]["job_id"]')
  wait_idle 240
  say "merge job $merge: $(job_state "$merge")"
  [[ ! -e $run/results.h5 && ! -e $run/logs/merge.log ]] || fail "the merge ran although shard 1 failed"
  [[ $(job_state "$merge") == CANCELLED ]] || fail "the merge job should have been cancelled (kill-on-invalid-dep)"
  expect_status "$run" 4
  grep -Eq '^ +1 .* FAILED ' "$work/status.txt" || fail "csweep status does not report shard 1 as FAILED"
  [[ $(grep -Ec '^ +[02] .* COMPLETED ' "$work/status.txt") == 2 ]] || fail "shards 0 and 2 should be COMPLETED"
  sums_before=$(sha256sum "$run"/shards/shard-[02]-of-3.h5)
  rmdir "$run/shards/shard-1-of-3.h5"
  "$csweep" resubmit "$run" | tee "$work/resubmit.txt"
  grep -q "resubmitting shards 1 " "$work/resubmit.txt" || fail "resubmit should submit exactly shard 1"
  [[ $(run_json 'r["attempts"][1]["arrays"][0]["shards"]') == "[1]" ]] || fail "run.json: attempt 2 is not shard 1"
  wait_idle 240
  expect_status "$run" 0
  [[ $(sha256sum "$run"/shards/shard-[02]-of-3.h5) == "$sums_before" ]] || fail "resubmit touched complete shards"
  compare_tables "$run/results.h5"
  ;;

d_split)
  run=$work/run
  "$csweep" submit "$job" --shards 5 --run-dir "$run" | tee "$work/submit.txt"
  [[ $(run_json '[(a["base"], a["shards"]) for a in r["attempts"][0]["arrays"]]') == "[(0, [0, 1, 2]), (3, [3, 4])]" ]] \
    || fail "5 shards with MaxArraySize 3 should be arrays 0-2 and 3-4"
  run_json 'r["attempts"][0]["merge"]["sbatch"]' | grep -q "afterok:$(run_json 'r["attempts"][0]["arrays"][0]["job_id"]'):$(run_json 'r["attempts"][0]["arrays"][1]["job_id"]')" \
    || fail "the merge does not wait for both arrays"
  wait_idle 240
  expect_status "$run" 0
  compare_tables "$run/results.h5"
  ;;
*) fail "unknown scenario '$scenario'" ;;
esac
say "passed"
