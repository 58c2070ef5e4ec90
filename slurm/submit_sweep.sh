#!/usr/bin/env bash
# Submits a circuitsweep job spec to Slurm as a job array of N shards plus a dependent merge job.
#
#   slurm/submit_sweep.sh JOB.toml OUTDIR [options] [-- extra sbatch options]
#
#   --shards N            array size; shard i runs `csweep run JOB --shard i/N` (default 4)
#   --ranks R             MPI ranks per shard (srun --mpi=pmix; 1 = no MPI launcher) (default 1)
#   --gpus-per-rank G     request G GPUs per rank (--gpus-per-task); a CUDA build then puts each
#                         rank on the GPU of its node-local rank (default 0)
#   --time T              time limit per shard (default 04:00:00)
#   --partition P         partition (default: the cluster's default)
#   --csweep PATH         csweep binary (default: build/csweep next to this script's repo)
#   --wait                block until the merge job ends; exit with its status
#
# Each shard writes OUTDIR/shard-<i>-of-<N>.h5 and resumes it when requeued (preemption,
# node failure, `scontrol requeue`): csweep exits 75 on SIGTERM after flushing finished units.
# The merge job runs only if every shard succeeded (afterok, --kill-on-invalid-dep) and writes
# OUTDIR/result.h5 after checking that the shards cover the grid exactly once.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-64}"; }
[[ $# -ge 2 ]] || usage
job=$(realpath "$1"); outdir=$2; shift 2
[[ -f $job ]] || { echo "submit_sweep: job spec not found: $job" >&2; exit 2; }
shards=4 ranks=1 gpus=0 time_limit=04:00:00 partition="" csweep="$repo/build/csweep" wait=0
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --shards) shards=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --gpus-per-rank) gpus=$2; shift 2 ;;
    --time) time_limit=$2; shift 2 ;;
    --partition) partition=$2; shift 2 ;;
    --csweep) csweep=$2; shift 2 ;;
    --wait) wait=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage 0 ;;
    *) echo "submit_sweep: unknown option '$1'" >&2; usage ;;
  esac
done
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "submit_sweep: --shards must be a positive integer (got '$shards')" >&2; exit 64; }
[[ $ranks =~ ^[1-9][0-9]*$ ]] || { echo "submit_sweep: --ranks must be a positive integer (got '$ranks')" >&2; exit 64; }
[[ -x $csweep ]] || { echo "submit_sweep: csweep binary not found or not executable: $csweep (build first: scripts/build.sh)" >&2; exit 2; }
csweep=$(realpath "$csweep")
mkdir -p "$outdir/logs"
outdir=$(realpath "$outdir")

common=(--parsable --kill-on-invalid-dep=yes)
[[ -n $partition ]] && common+=(--partition "$partition")


gpu_opts=()
if [[ $gpus -gt 0 ]]; then

  gpu_opts=(--gpus-per-task "$gpus")
fi

array_id=$(sbatch "${common[@]}" "${gpu_opts[@]}" "${extra[@]}" \
  --job-name csweep-shards --array "0-$((shards - 1))" --ntasks "$ranks" --time "$time_limit" \
  --requeue --open-mode=append --output "$outdir/logs/shard-%a.log" \
  --export "ALL,CSWEEP_BIN=$csweep,CSWEEP_JOB=$job,CSWEEP_OUTDIR=$outdir,CSWEEP_SHARDS=$shards,CSWEEP_RANKS=$ranks" \
  "$here/shard.sbatch")
array_id=${array_id%%;*}

merge_id=$(sbatch "${common[@]}" --job-name csweep-merge --ntasks 1 --time 01:00:00 \
  --dependency "afterok:$array_id" --output "$outdir/logs/merge.log" \
  --export "ALL,CSWEEP_BIN=$csweep,CSWEEP_OUTDIR=$outdir,CSWEEP_SHARDS=$shards,CSWEEP_REPO=$repo" \
  "$here/merge.sbatch")
merge_id=${merge_id%%;*}

echo "submitted shards: job $array_id (array 0-$((shards - 1))), merge: job $merge_id"
echo "results: $outdir/result.h5   logs: $outdir/logs/"
if [[ $wait == 1 ]]; then
  while squeue -h -j "$array_id,$merge_id" 2>/dev/null | grep -q .; do sleep 1; done
  state=$(scontrol show job "$merge_id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
  echo "merge job $merge_id: ${state:-unknown}"
  [[ $state == COMPLETED ]]
fi
