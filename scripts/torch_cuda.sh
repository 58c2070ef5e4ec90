#!/usr/bin/env bash
# Installs the PyPI torch wheel's CUDA LibTorch into a cache directory (once) and prints the
# LibTorch prefix (<dir>/torch) for -DCSWEEP_TORCH_ROOT. Only the wheel itself and the four
# nvidia-* wheels whose libraries libtorch_cuda.so needs and the CUDA toolkit in /usr/local/cuda
# lacks or has too old are installed: cusparseLt, nvshmem, cufile, and NCCL (the toolkit's
# libnccl.so.2 lacks symbols torch 2.15 links: ncclCommGrow, ncclSignal, ncclWinGetUserPtr, ...);
# cudart, cublas, cufft, cusolver, cusparse, nvrtc, cupti and cudnn come from the toolkit.
set -euo pipefail
version=${CSWEEP_TORCH_VERSION:-2.15.0}
dir=${CSWEEP_TORCH_CUDA_DIR:-$HOME/.cache/circuitsweep/torch-cuda}
wheels=${CSWEEP_WHEEL_CACHE:-$HOME/.cache/circuitsweep/wheels}
if [[ -f $dir/.installed-$version ]]; then echo "$dir/torch"; exit 0; fi
mkdir -p "$wheels"
pip=(${CSWEEP_PIP:-python3 -m pip})
unpack() {  # unpack WHEEL PREFIX...: the wheel's members under those prefixes into $dir
  python3 - "$dir" "$@" <<'PY'
import sys, zipfile
dest, whl, prefixes = sys.argv[1], sys.argv[2], tuple(sys.argv[3:])
with zipfile.ZipFile(whl) as z:
    for m in z.infolist():
        if m.filename.startswith(prefixes):
            z.extract(m, dest)
PY
}
rm -rf "$dir" && mkdir -p "$dir"
{
  "${pip[@]}" download -q --no-deps -d "$wheels" "torch==$version"
  whl=$(ls "$wheels"/torch-"$version"-*.whl | head -1)
  # Only what a C++ build reads: the libraries, headers and CMake configs (and the metadata with
  # the nvidia pins below). `pip install --target` also unpacked and byte-compiled the ~13,000
  # Python files of the wheel: 6.5 min on this machine against ~15 CPU-s for unzipping these. The
  # layout is pip's (<dir>/torch, <dir>/nvidia/*), which libtorch's RUNPATH ($ORIGIN/../../nvidia/...)
  # expects.
  unpack "$whl" torch/lib/ torch/include/ torch/share/ "torch-$version.dist-info/"
  meta=$(echo "$dir"/torch-"$version"*.dist-info/METADATA)
  # The pins torch itself declares, for the libraries the toolkit does not provide.
  mapfile -t nv < <(sed -n 's/^Requires-Dist: \(nvidia-\(cusparselt\|nvshmem\|nccl\)[^ ;]*\).*/\1/p' "$meta")
  nv+=("nvidia-cufile==${CSWEEP_CUFILE_VERSION:-1.17.1.22}")
  "${pip[@]}" download -q --no-deps -d "$wheels" "${nv[@]}"
  for spec in "${nv[@]}"; do
    name=${spec%%==*}; ver=${spec##*==}
    unpack "$(ls "$wheels"/"${name//-/_}"-"$ver"-*.whl | head -1)" nvidia/
  done
} >&2
if [[ -d /usr/local/cuda/lib64 ]]; then
  missing=$(LD_LIBRARY_PATH=/usr/local/cuda/lib64 ldd "$dir/torch/lib/libtorch.so" | grep 'not found' || true)
  if [[ -n $missing ]]; then echo "torch_cuda.sh: unresolved libraries: $missing" >&2; exit 1; fi
fi
touch "$dir/.installed-$version"
echo "$dir/torch"
