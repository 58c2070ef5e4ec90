#!/usr/bin/env bash
# Fuzz smoke test: builds every tests/fuzz/fuzz_<name>.cpp with clang + libFuzzer + AddressSanitizer
# + UndefinedBehaviorSanitizer in its own build folder and runs each target for FUZZ_SECONDS
# (default 20) from its committed seed corpus tests/fuzz/corpus/<name>/. Exits non-zero when a
# target crashes; the reproducer is kept under $BUILD/fuzz-artifacts/.
#
# Usage: scripts/fuzz_smoke.sh [target...]     (default: every fuzz target)
# Env:   FUZZ_SECONDS=20  FUZZ_BUILD_DIR=<repo>/build-fuzz  FUZZ_JOBS=2
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-2}

command -v clang++ >/dev/null || { echo "fuzz_smoke: clang++ not found (apt-get install clang)" >&2; exit 2; }

# Libraries get coverage instrumentation (fuzzer-no-link); only the fuzz executables link
# libFuzzer's main (tests/fuzz/CMakeLists.txt). UB is made fatal so it fails the run.
cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fno-sanitize-recover=all" \
  -DCSWEEP_SANITIZE="address,undefined,fuzzer-no-link" \
  -DCSWEEP_BUILD_FUZZERS=ON -DCSWEEP_BUILD_TESTS=OFF -DCSWEEP_BUILD_BENCH=OFF >/dev/null

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for src in "$root"/tests/fuzz/fuzz_*.cpp; do
    targets+=("$(basename "$src" .cpp)")
  done
fi
ninja -C "$build" -j "$jobs" "${targets[@]}"

mkdir -p "$build/fuzz-artifacts"
status=0
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  # libFuzzer adds new inputs to its first corpus folder: work on a scratch copy so the
  # committed seeds stay as they are.
  work=$(mktemp -d)
  if [ -d "$root/tests/fuzz/corpus/$name" ]; then
    cp -r "$root/tests/fuzz/corpus/$name/." "$work/"
  fi
  echo "== $t: ${seconds}s from $(ls "$work" | wc -l) seeds"
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
       "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
         -max_len=65536 -dict="$root/tests/fuzz/dict.json" -print_final_stats=1 \
         -artifact_prefix="$build/fuzz-artifacts/$t-" "$work" 2>"$build/fuzz-artifacts/$t.log"; then
    echo "!! $t failed; log: $build/fuzz-artifacts/$t.log" >&2
    tail -n 40 "$build/fuzz-artifacts/$t.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$build/fuzz-artifacts/$t.log" | tail -n 2
  fi
  rm -rf "$work"
done
exit $status
