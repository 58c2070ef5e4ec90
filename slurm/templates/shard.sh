# Body of every shard script: slurm/templates/shard.sh, embedded into csweep at build time.
# Array task k of an array submitted with argument BASE runs shard BASE+k of CSWEEP_SHARDS
# (arrays start at 0 so that no task id exceeds the cluster's MaxArraySize).
#
# Checkpoint before the time limit: Slurm sends SIGUSR1 to this shell SIGNAL_LEAD seconds before
# the limit (--signal=B:USR1@...). The trap sends SIGTERM to csweep (to every rank of the srun
# step), which stops taking work, journals the units in hand and exits 75 with everything durable;
# the script then requeues its own task (scontrol requeue), which resumes the shard file: nothing
# lost, nothing computed twice. Any other exit status ends the task with that status, so a failed
# shard fails the afterok dependency of the merge job (csweep status / csweep resubmit).
base=${1:?usage: shard.sbatch ARRAY_BASE (csweep submit passes it)}
task=${SLURM_ARRAY_TASK_ID:?not a Slurm array task}
shard=$((base + task))
out="$CSWEEP_RUN_DIR/shards/shard-$shard-of-$CSWEEP_SHARDS.h5"
exec >>"$CSWEEP_RUN_DIR/logs/shard-$shard.log" 2>&1

stamp() { date -u +%Y-%m-%dT%H:%M:%SZ; }
echo "[$(stamp)] csweep-shard $shard/$CSWEEP_SHARDS start job=${SLURM_ARRAY_JOB_ID:-?}_${task}" \
  "jobid=${SLURM_JOB_ID:-?} restart=${SLURM_RESTART_COUNT:-0} host=$(hostname -s)"

args=(run "$CSWEEP_RUN_DIR/job.toml" --shard "$shard/$CSWEEP_SHARDS" --output "$out" --no-summary)
if ((CSWEEP_RANKS > 1)); then
  cmd=(srun --mpi=pmix --ntasks="$CSWEEP_RANKS" "$CSWEEP_BIN" "${args[@]}")
else
  cmd=("$CSWEEP_BIN" "${args[@]}")
fi

checkpoint=0 child=
on_signal() {  # $1: USR1 (checkpoint and requeue) or TERM (the job is ending: checkpoint only)
  [[ $1 == USR1 ]] && checkpoint=1
  [[ -n $child ]] || return 0  # not started yet (checked after the launch) or already ended
  echo "[$(stamp)] csweep-shard $shard/$CSWEEP_SHARDS signal=$1: asking csweep to checkpoint"
  if ((CSWEEP_RANKS > 1)); then
    # srun answers SIGTERM by killing its step; the ranks get SIGTERM from Slurm instead (scancel
    # signals the job's steps, not this batch shell).
    scancel --signal=TERM "$SLURM_JOB_ID" || true
  else
    kill -TERM "$child" 2>/dev/null || true
  fi
}
trap 'on_signal USR1' USR1
trap 'on_signal TERM' TERM

"${cmd[@]}" &
child=$!
((checkpoint)) && on_signal USR1  # the signal came before the launch
# `wait` returns early (status > 128) when a trapped signal arrives; wait again for the real
# exit status until the child is gone.
while :; do
  rc=0
  wait "$child" || rc=$?
  kill -0 "$child" 2>/dev/null || break
done
child=

if ((checkpoint)) && ((rc == 75)); then
  echo "[$(stamp)] csweep-shard $shard/$CSWEEP_SHARDS end rc=75 checkpointed; requeueing ${SLURM_JOB_ID}"
  if scontrol requeue "$SLURM_JOB_ID"; then
    exit 0  # slurmctld has requeued the task; this instance is being ended
  fi
  echo "[$(stamp)] csweep-shard $shard/$CSWEEP_SHARDS requeue refused: resubmit with csweep resubmit"
fi
echo "[$(stamp)] csweep-shard $shard/$CSWEEP_SHARDS end rc=$rc"
exit "$rc"
