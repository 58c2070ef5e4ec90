#!/usr/bin/env bash
# CSWEEP_WITH_CUDA=ON against a LibTorch without CUDA (this build's) must stop at configure time,
# naming the LibTorch found and how to point at a CUDA one: never a CPU binary built under a
# CUDA flag. Usage: check_cuda_configure.sh SOURCE_DIR WORK_DIR
set -uo pipefail
src=$1 work=$2
rm -rf "$work"
out=$(cmake -S "$src" -B "$work" -G Ninja -DCSWEEP_WITH_CUDA=ON 2>&1)
rc=$?
rm -rf "$work"
fail() { echo "FAIL: $1"; echo "$out" | tail -30; exit 1; }
[[ $rc -ne 0 ]] || fail "configure succeeded with CSWEEP_WITH_CUDA=ON against a CPU LibTorch"
if ! grep -q "Found CUDAToolkit" <<<"$out"; then
  # Without a CUDA toolkit the configure stops earlier, at find_package(CUDAToolkit): also a
  # stop, but not the message under test.
  grep -q "CUDAToolkit" <<<"$out" || fail "configure failed for another reason"
  echo "ok: no CUDA toolkit here; the configure stopped at find_package(CUDAToolkit)"
  exit 0
fi
flat=$(tr -s ' \n' ' ' <<<"$out")  # CMake wraps long messages
for want in "CSWEEP_WITH_CUDA=ON, but the LibTorch found has no CUDA support" \
            "(config " "-DCSWEEP_TORCH_ROOT=" "scripts/build.sh --cuda"; do
  grep -qF -- "$want" <<<"$flat" || fail "message lacks '$want'"
done
grep -qE "LibTorch [0-9][^ ]* at /" <<<"$flat" || fail "message does not name the LibTorch found (version and prefix)"
echo "ok: CSWEEP_WITH_CUDA=ON against $(grep -oE 'LibTorch [0-9][^ ]* at [^ ]+' <<<"$flat" | head -1) stops at configure time"
