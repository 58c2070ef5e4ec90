#!/usr/bin/env bash
# The GPU check, on a machine with one NVIDIA GPU, in one go (< 8 min), results in one file:
#   1. build: the CUDA LibTorch build (scripts/build.sh --cuda) of test_model, test_engine and
#      bench_engine, unless --build DIR names a carried build that has them;
#   2. correctness on the GPU: HookedTransformer on CUDA == the HF/TransformerLens fixtures (fp32),
#      fp16/bf16 within test_transformer's bound; batched executor == one-at-a-time on the GPU,
#      GPU == CPU (fp32), bf16 within its bound of fp32 (tests/unit/workers/interventions/
#      test_cuda.cpp states both bounds). A skipped CUDA case is a failure here;
#   3. bench_engine on a GPT-2-small-shaped random model, fp32 and bf16, 64 prompts:
#      interventions/s, achieved TFLOP/s against the matmul peak measured in the same run;
#   4. the projected all-triples sweep (487,344 head triples x 3 tasks x 64 prompts) from the
#      rate of uniformly drawn triples (bench_engine --triples).
# --cpu-dry-run runs the same steps on the CPU with the given build (no CUDA needed; CUDA test
# cases may skip; tiny workloads) so that CI exercises this script (ctest bench.gpu_check_dry_run).
#
#   bench/gpu_check.sh [--cpu-dry-run] [--build DIR] [--out FILE]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dry=0
build=${CSWEEP_CUDA_BUILD_DIR:-}
out=
while [[ $# -gt 0 ]]; do
  case $1 in
    --cpu-dry-run) dry=1; shift ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench/gpu_check.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
done
start=$(date +%s)
need=(tests/test_model tests/test_engine bench/bench_engine)
have_all() { local t; for t in "${need[@]}"; do [[ -x $1/$t ]] || return 1; done; }

if [[ $dry == 1 ]]; then
  build=${build:-$root/build}
  have_all "$build" || { echo "gpu_check: --cpu-dry-run needs ${need[*]} built in $build" >&2; exit 2; }
  device=cpu
else
  command -v nvidia-smi >/dev/null || { echo "gpu_check: nvidia-smi not found: no NVIDIA GPU here (use --cpu-dry-run)" >&2; exit 2; }
  build=${build:-$root/build-cuda}
  if ! have_all "$build"; then
    CSWEEP_BUILD_DIR=$build CSWEEP_TARGETS="${need[*]##*/}" "$root/scripts/build.sh" --cuda -DCSWEEP_BUILD_BENCH=ON
  fi
  device=cuda
fi
out=${out:-$build/gpu_check_results.md}
: > "$out"
log() { printf '%s\n' "$@" | tee -a "$out"; }
run() {  # run <title> <cmd...>: the command's output into the results file, in a code block
  local title=$1; shift
  log "" "### $title" "" '```' "\$ ${*#$root/}"
  local t0=$(date +%s) rc=0
  "$@" 2>&1 | tee -a "$out" || rc=${PIPESTATUS[0]}
  log '```' "($(( $(date +%s) - t0 )) s, exit $rc)"
  return "$rc"
}

log "# GPU check ($(date -u +%FT%TZ)$([[ $dry == 1 ]] && echo ', CPU dry run'))"
log "" "- build: $build"
log "- host: $(uname -n), $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p')"
if [[ $dry == 0 ]]; then
  log "- GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
  export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}
fi
log "- LibTorch: $(sed -n 's/^CSWEEP_TORCH_ROOT:PATH=//p' "$build/CMakeCache.txt" 2>/dev/null || true)"

fail=0
cuda_tests() {  # the test binary's CUDA cases; on a GPU a skip is a failure
  local bin=$1 filter=$2 tmp
  tmp=$(mktemp)
  (cd "$root" && "$build/tests/$bin" --gtest_filter="$filter" --gtest_brief=0) >"$tmp" 2>&1 || { cat "$tmp"; rm -f "$tmp"; return 1; }
  cat "$tmp"
  if [[ $dry == 0 ]] && grep -q '^\[  SKIPPED \]' "$tmp"; then
    echo "gpu_check: CUDA cases skipped on a GPU machine"; rm -f "$tmp"; return 1
  fi
  rm -f "$tmp"
}
run "Correctness: HookedTransformer on CUDA (fixtures, fp16/bf16 bound)" \
  cuda_tests test_model '*MatchesOnCudaWhenAvailable*:*Float16CloseToFp32OrRefusedUpFront*:DevicePolicy.PlaceComputeWithThisLibTorch' || fail=1
run "Correctness: batched executor on CUDA (== one-at-a-time, == CPU, bf16 bound)" \
  cuda_tests test_engine 'Models/CudaExecutor.*:Devices/MaskBuilderOn.*/cuda' || fail=1

if [[ $dry == 1 ]]; then
  # Tiny workloads: the script's plumbing, not the numbers.
  bench=(--device cpu --quick --sample 2 --prompts 2 --threads "$(nproc)" --triples 8)
else
  bench=(--device cuda --sample 100 --prompts 64 --budget-mb 16384 --triples 4000)
fi
for dt in fp32 bf16; do
  run "bench_engine, $dt (GPT-2-small-shaped random model; projected all-triples sweep)" \
    "$build/bench/bench_engine" "${bench[@]}" --dtype "$dt" || fail=1
done

log "" "## Summary" ""
grep -h -E '^\| batched, LD|^\| one-at-a-time|matmul peak|^head triples|^projected' "$out" | sed 's/^/    /' >> "$out.summary" || true
cat "$out.summary" >> "$out" && rm -f "$out.summary"
log "" "total: $(( $(date +%s) - start )) s; $([[ $fail == 0 ]] && echo 'every step passed' || echo 'A STEP FAILED (above)')"
echo "gpu_check: results in $out"
exit "$fail"
