# Body of every merge script: slurm/templates/merge.sh, embedded into csweep at build time.
# Runs once every shard task succeeded (afterok): merges the shard files into results.h5 (csweep
# merge refuses missing or duplicated units), then runs the analysis when this csweep has one.
exec >>"$CSWEEP_RUN_DIR/logs/merge.log" 2>&1
stamp() { date -u +%Y-%m-%dT%H:%M:%SZ; }
echo "[$(stamp)] csweep-merge start jobid=${SLURM_JOB_ID:-?} restart=${SLURM_RESTART_COUNT:-0} host=$(hostname -s)"
shards=()
for ((i = 0; i < CSWEEP_SHARDS; i++)); do
  shards+=("$CSWEEP_RUN_DIR/shards/shard-$i-of-$CSWEEP_SHARDS.h5")
done
rc=0
"$CSWEEP_BIN" merge "$CSWEEP_RUN_DIR/results.h5" "${shards[@]}" || rc=$?
if ((rc == 0)); then
  # The analysis is looked up when the job runs, so a csweep built with it (or rebuilt in place
  # while the shards ran) analyses, and one without it still merges. (`csweep X --help` exits 0
  # for any X, so the subcommand list of `csweep --help` is what tells.)
  if "$CSWEEP_BIN" --help 2>/dev/null | grep -qE '^ +analyze( |$)'; then
    "$CSWEEP_BIN" analyze "$CSWEEP_RUN_DIR/results.h5" --out "$CSWEEP_RUN_DIR/analysis" --figures || rc=$?
  else
    echo "[$(stamp)] csweep-merge note: this csweep has no 'analyze' command; analysis skipped"
  fi
fi
echo "[$(stamp)] csweep-merge end rc=$rc"
exit "$rc"
