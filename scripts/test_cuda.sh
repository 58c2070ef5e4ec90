#!/usr/bin/env bash
# The CUDA LibTorch 2.x build, tested without a GPU: installs the PyPI torch wheel (cached in
# ~/.cache/circuitsweep), builds csweep and the torch test binaries with CSWEEP_WITH_CUDA=ON into
# build-cuda, and runs their CPU tests (a CUDA LibTorch runs CPU tensors too; the CUDA cases skip
# when no device is visible), so the 2.x API path is compiled and exercised on every submission.
# Then bench/gpu_check.sh --cpu-dry-run with that build, so the GPU check script does not rot.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${CSWEEP_CUDA_BUILD_DIR:-$root/build-cuda}
start=$(date +%s)
# Only what the subset needs: the torch libraries reach csweep; the non-torch modules are
# already tested by the main build against the same sources.
CSWEEP_BUILD_DIR=$build CSWEEP_TARGETS="csweep test_model test_engine test_metrics" \
  "$root/scripts/build.sh" --cuda -DCSWEEP_BUILD_BENCH=OFF
# The test binaries run directly (ctest would also list the suites not built here).
for t in test_model test_engine test_metrics; do
  (cd "$root" && "$build/tests/$t" --gtest_brief=1)
done
"$build/csweep" --version
if [[ -x $root/bench/gpu_check.sh ]]; then
  CSWEEP_CUDA_BUILD_DIR=$build "$root/bench/gpu_check.sh" --cpu-dry-run
fi
echo "test_cuda: $(( $(date +%s) - start )) s"
