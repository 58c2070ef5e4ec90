#!/usr/bin/env bash
# Slurm end-to-end test against a real slurmctld/slurmd on localhost (started here):
#   1. slurm/submit_sweep.sh submits jobs/quickstart.toml as an array of 2 shards, each run by
#      `srun --mpi=pmix` with 2 ranks, plus the dependent merge job; one shard is requeued
#      (`scontrol requeue`) while it runs, as preemption would, and must resume its own file;
#   2. the merged result must hold exactly the tables of a plain single-process run
#      (compared dataset by dataset with Debian's h5py, tests/mpi/check_tables.py).
# Usage: run_slurm_test.sh CSWEEP_BINARY WORKDIR
set -euo pipefail
csweep=$(realpath "$1")
work=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rm -rf "$work"; mkdir -p "$work"
export CSWEEP_SLURM_DIR=$work/cluster
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader

if [[ $(id -u) -ne 0 ]]; then
  echo "slurm test: needs root to start munged/slurmctld/slurmd on localhost" >&2; exit 1
fi
eval "$("$repo/tests/slurm/local_cluster.sh" start)"
trap '"$repo/tests/slurm/local_cluster.sh" stop' EXIT
sinfo

echo "== reference: one process"
"$csweep" run "$repo/jobs/quickstart.toml" --output "$work/reference.h5" 2>"$work/reference.log" \
  || { cat "$work/reference.log"; exit 1; }

echo "== Slurm: 2 shards x 2 ranks + merge"
"$repo/slurm/submit_sweep.sh" "$repo/jobs/quickstart.toml" "$work/sweep" --shards 2 --ranks 2 \
  --csweep "$csweep" | tee "$work/submit.txt"
array=$(sed -n 's/^submitted shards: job \([0-9]*\).*/\1/p' "$work/submit.txt")
merge=$(sed -n 's/.*merge: job \([0-9]*\)$/\1/p' "$work/submit.txt")

# Requeue shard 0 once it has started, as a preemption would (best effort: if it finished first,
# the requeue is refused and the test still checks the merged result).
requeued=0
for _ in $(seq 300); do
  if squeue -h -j "${array}_0" -o %T 2>/dev/null | grep -q RUNNING; then
    sleep 1
    if scontrol requeue "${array}_0" 2>/dev/null; then requeued=1; fi
    break
  fi
  sleep 0.1
done
echo "requeued shard 0 while running: $requeued"

deadline=$((SECONDS + 600))
while squeue -h -j "$array,$merge" 2>/dev/null | grep -q .; do
  ((SECONDS < deadline)) || { echo "timed out waiting for jobs"; squeue; exit 1; }
  sleep 1
done
state=$(scontrol show job "$merge" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
echo "merge job: $state"
for f in "$work"/sweep/logs/*.log; do echo "--- $f"; cat "$f"; done
[[ $state == COMPLETED ]] || { echo "merge job did not complete"; exit 1; }
if [[ $requeued == 1 ]]; then
  grep -q "restart 1" "$work/sweep/logs/shard-0.log" || { echo "requeued shard did not restart"; exit 1; }
fi

echo "== compare merged result with the single-process run"
/usr/bin/python3 - "$repo/tests/mpi" "$work/sweep/result.h5" "$work/reference.h5" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from check_tables import identical
diff = identical(sys.argv[2], sys.argv[3])
if diff:
    sys.exit(f"merged Slurm result differs from the single-process run: {diff}")
print("identical tables")
PY
