#!/usr/bin/env bash
# Configures and builds circuitsweep into ${CSWEEP_BUILD_DIR:-build} (Release, Ninja).
#   scripts/build.sh [cmake args...]           Debian's LibTorch 1.13 (CPU)
#   scripts/build.sh --cuda [cmake args...]    the PyPI torch wheel's CUDA LibTorch 2.x, installed
#                                              by scripts/torch_cuda.sh, into build-cuda
# CSWEEP_TARGETS="csweep test_x" builds only those targets.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${CSWEEP_JOBS:-$(nproc)}
extra=()
if [[ ${1:-} == --cuda ]]; then
  shift
  torch_root=$("$root/scripts/torch_cuda.sh")
  build=${CSWEEP_BUILD_DIR:-$root/build-cuda}
  extra=(-DCSWEEP_WITH_CUDA=ON "-DCSWEEP_TORCH_ROOT=$torch_root")
else
  build=${CSWEEP_BUILD_DIR:-$root/build}
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${extra[@]}" "$@"
targets=()
for t in ${CSWEEP_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j "$jobs" "${targets[@]}"
