#!/usr/bin/env bash
# The README's `csweep submit --dry-run` block (section "Running on a cluster", after the marker
# <!-- slurm-dry-run -->) is the output of
#   csweep submit jobs/quickstart.toml --shards 3 --max-concurrent 2 --run-dir runs/quickstart --dry-run
# run in /home/me/circuitsweep with /home/me/circuitsweep/build/csweep. Machine-specific paths are
# replaced by those; the spec's sha256 and unit count are compared as placeholders, so editing
# jobs/quickstart.toml does not invalidate the block, while any change to the scripts does.
#   readme_dry_run.sh check DRY_RUN_OUTPUT RUN_DIR CSWEEP   (from tests/slurm/run_slurm_test.sh)
#   readme_dry_run.sh update CSWEEP                          (rewrites the README block)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readme=$repo/README.md
marker='<!-- slurm-dry-run -->'
shown_home=/home/me/circuitsweep

# stdin -> stdout: the paths of this machine replaced by the README's.
localise() {  # RUN_DIR CSWEEP WORKDIR
  "${PY:-/usr/bin/python3}" -c '
import sys
run, csweep, workdir, home = sys.argv[1:5]
text = sys.stdin.read()
for path, shown in ((run, home + "/runs/quickstart"), (csweep, home + "/build/csweep"), (workdir, home)):
    text = text.replace(path, shown)
sys.stdout.write(text)' "$1" "$2" "$3" "$shown_home"
}
placeholders() { sed -E 's/[0-9a-f]{64}/<sha256>/g; s/\([0-9]+ units\)/(<n> units)/g'; }
readme_block() { awk -v m="$marker" '$0 == m {on = 1; next} on && /^```/ {if (seen) exit; seen = 1; next} on && seen' "$readme"; }

case ${1:-} in
check)
  out=$2 run=$3 csweep=$4
  workdir=$(pwd -P)
  diff -u <(readme_block | placeholders) <(localise "$run" "$csweep" "$workdir" <"$out" | placeholders) || {
    echo "README.md's --dry-run block differs from what csweep submit prints (above: - README, + now)." >&2
    echo "If the change is intended: tests/slurm/readme_dry_run.sh update build/csweep" >&2
    exit 1
  }
  echo "README --dry-run block matches"
  ;;
update)
  csweep=$(realpath "$2")
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp "$repo/jobs/quickstart.toml" "$tmp/"
  mkdir -p "$tmp/jobs" && mv "$tmp/quickstart.toml" "$tmp/jobs/"
  (cd "$tmp" && "$csweep" submit jobs/quickstart.toml --shards 3 --max-concurrent 2 \
     --run-dir runs/quickstart --dry-run 2>/dev/null) >"$tmp/out.txt"
  tmpdir=$(cd "$tmp" && pwd -P)
  localise "$tmpdir/runs/quickstart" "$csweep" "$tmpdir" <"$tmp/out.txt" >"$tmp/block.txt"
  "${PY:-/usr/bin/python3}" - "$readme" "$marker" "$tmp/block.txt" <<'PY'
import sys
readme, marker, block = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
lines = open(readme).read().split("\n")
i = lines.index(marker)
start = next(k for k in range(i + 1, len(lines)) if lines[k].startswith("```"))
end = next(k for k in range(start + 1, len(lines)) if lines[k].startswith("```"))
lines[start + 1:end] = block.rstrip("\n").split("\n")
open(readme, "w").write("\n".join(lines))
PY
  echo "updated the --dry-run block of $readme"
  ;;
*) echo "usage: $0 check OUT RUN_DIR CSWEEP | update CSWEEP" >&2; exit 64 ;;
esac
