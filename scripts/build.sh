#!/usr/bin/env bash
# Configures and builds circuitsweep into ${CSWEEP_BUILD_DIR:-build} (Release, Ninja).
# Extra arguments go to cmake's configure step, e.g. -DCSWEEP_WITH_CUDA=ON.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${CSWEEP_BUILD_DIR:-$root/build}
jobs=${CSWEEP_JOBS:-$(nproc)}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$jobs"
