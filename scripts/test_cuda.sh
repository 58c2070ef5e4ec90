#!/usr/bin/env bash
# The CUDA LibTorch 2.x build, tested without a GPU: fetches the PyPI torch wheel's LibTorch
# (scripts/torch_cuda.sh, cached in ~/.cache/circuitsweep), builds csweep and two torch test
# binaries with CSWEEP_WITH_CUDA=ON into build-cuda, and runs CPU tests with them (a CUDA
# LibTorch runs CPU tensors too; the CUDA test cases skip when no device is visible), so the 2.x
# API path is compiled, linked and exercised on every submission.
#
# Only the torch modules cost time here: the others compile exactly as in the CPU build (same
# flags; LibTorch's include directory is only on the torch targets) and come from ccache when
# the CPU build ran first with the same CCACHE_BASEDIR (scripts/test.sh exports it). Build-time
# figures and the choices behind this subset: docs/GPU.md §CI.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${CSWEEP_CUDA_BUILD_DIR:-$root/build-cuda}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
start=$(date +%s)
# The wheel's libtorch_cuda.so needs cudart, cuBLAS, cuDNN, NCCL, ... from a CUDA 13 toolkit
# (docs/GPU.md): without one the configure would stop later with a less direct message.
cuda=${CUDA_HOME:-/usr/local/cuda}
if [[ ! -e $cuda/lib64/libcudart.so && ! -e $cuda/targets/x86_64-linux/lib/libcudart.so ]]; then
  echo "test_cuda: no CUDA toolkit at $cuda (set CUDA_HOME): the CUDA build needs its libraries" >&2
  exit 2
fi
CSWEEP_BUILD_DIR=$build CSWEEP_TARGETS="csweep test_model test_engine" \
  "$root/scripts/build.sh" --cuda -DCSWEEP_BUILD_BENCH=OFF
echo "test_cuda: build $(( $(date +%s) - start )) s"
"$build/csweep" --version
# The test binaries run directly (ctest would also list the suites not built here).
for t in test_model test_engine; do
  (cd "$root" && "$build/tests/$t" --gtest_brief=1)
done
# The CUDA csweep end to end on the CPU: tokenizer, a custom sweep on the embedded default model
# (read back with h5py, compared with csweep eval), and `csweep eval` on the real SmolLM2 GGUF
# (scripts/fetch_smollm2.sh; absent, the check fails naming that command).
work=$build/cli_work
python=/usr/bin/python3
$python "$root/tests/cli/check_tokenize.py" "$build/csweep" "$root/data/tokenizers/gpt2" \
  "$root/tests/fixtures/gpt2_bpe_vectors.jsonl"
$python "$root/tests/cli/check_custom_sweep.py" "$build/csweep" "$work/custom_sweep"
$python "$root/tests/smollm2/check_cli.py" "$build/csweep" "$work/smollm2" eval
# The device policy with a CUDA LibTorch: without a GPU, `--device cuda` must say that LibTorch
# has CUDA but sees no device; bf16 on the CPU through the 2.x kernels.
$python "$root/tests/cli/check_compute.py" "$build/csweep" "$work/compute"
echo "test_cuda: $(( $(date +%s) - start )) s"
