#!/usr/bin/env bash
# Regenerates the README's figure (docs/figures/quickstart_heads.png): the layer x head effect
# heatmaps of the quickstart sweep, redrawn at a small size from the analysis' summary.json.
# Needs out/quickstart.h5 (scripts/quickstart.sh) and a build of csweep.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${CSWEEP_BUILD_DIR:-$root/build}
[[ -f out/quickstart.h5 ]] || { echo "readme_figure: run scripts/quickstart.sh first (no out/quickstart.h5)" >&2; exit 2; }
"$build/csweep" analyze out/quickstart.h5 --out out/analysis
mkdir -p docs/figures
PYTHONPATH="$root/analysis" /usr/bin/python3 - out/analysis/summary.json docs/figures/quickstart_heads.png <<'PY'
import json, sys
import matplotlib
matplotlib.use("Agg")
from csweep_analysis import report_figures
summary = json.load(open(sys.argv[1]))
entry = next(e for e in report_figures.plan(summary) if e["kind"] == "heatmap")
fig = report_figures.draw(summary, entry)
fig.savefig(sys.argv[2], dpi=100, bbox_inches="tight")
print(f"readme_figure: wrote {sys.argv[2]} ({entry['name']}): {entry['caption']}")
PY
