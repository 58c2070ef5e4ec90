#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: dependencies, build, the real-model fetch,
# a short fuzz run, then every ctest (unit, CLI end-to-end, HDF5 via h5py, MPI under mpirun,
# Slurm on a local slurmctld/slurmd, the real SmolLM2 and Gemma-3-270M models), then the CUDA
# LibTorch build and its CPU tests (scripts/test_cuda.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${CSWEEP_BUILD_DIR:-$root/build}
# Paths relative to the checkout in ccache's hashes: the CUDA build's non-torch modules then hit
# the CPU build's cache entries (scripts/test_cuda.sh).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}

step() { printf '\n==== %s (%s)\n' "$1" "$(date +%T)"; }

step "dependencies";   scripts/install_deps.sh
step "build";          scripts/build.sh
step "real models";    scripts/fetch_smollm2.sh; scripts/fetch_gemma3.sh
step "fuzz smoke";     scripts/fuzz_smoke.sh
step "ctest"
ctest --test-dir "$build" --output-on-failure -j "${CSWEEP_TEST_JOBS:-2}" --timeout 900
# The CUDA LibTorch 2.x build (PyPI wheel, cached) and its CPU tests, on every run: the 2.x API
# path is otherwise never compiled. CSWEEP_TEST_CUDA=0 skips it (a local re-run of the CPU suite).
if [[ ${CSWEEP_TEST_CUDA:-1} == 1 ]]; then
  step "cuda build + cpu tests"; scripts/test_cuda.sh
fi
