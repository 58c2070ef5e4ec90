#!/usr/bin/env bash
# From a fresh Debian 12 machine to a finished sweep: installs the dependencies, builds, and runs
# the quickstart sweep (jobs/quickstart.toml: mean ablation of every head, head pair and head per
# position on the digits / number-words / months tasks) on the embedded default model with 2 MPI
# ranks, writes out/quickstart.h5 and prints the largest effects per task, then writes the
# analysis (summary.json, CSV/LaTeX tables, PDF/PNG figures) to out/analysis/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${CSWEEP_BUILD_DIR:-$root/build}

"$root/scripts/install_deps.sh"
"$root/scripts/build.sh"

mkdir -p out
# mpirun refuses root without these; ob1/vader is the quiet, fast path on one machine.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
"$build/csweep" inspect --model models/default
"$build/csweep" plan jobs/quickstart.toml
mpirun -np 2 --oversubscribe "$build/csweep" run jobs/quickstart.toml --output out/quickstart.h5
echo "results: $root/out/quickstart.h5 (schema: docs/SWEEPS.md)"
"$build/csweep" analyze out/quickstart.h5 --out out/analysis --figures
echo "analysis: $root/out/analysis/ (summary.json, tables/*.csv|tex, figures/*.pdf|png|txt; docs/ANALYSIS.md)"
