#!/usr/bin/env bash
# Installs the PyPI torch wheel's CUDA LibTorch into a cache directory (once) and prints the
# LibTorch prefix (<dir>/torch) for -DCSWEEP_TORCH_ROOT. Only the wheel itself and the three
# nvidia-* wheels whose libraries libtorch_cuda.so needs and the CUDA toolkit in /usr/local/cuda
# lacks (cusparseLt, nvshmem, cufile) are installed: cudart, cublas, cufft, cusolver, cusparse,
# nvrtc, cupti, cudnn and nccl come from the toolkit (~0.85 GB downloaded instead of ~4 GB).
set -euo pipefail
version=${CSWEEP_TORCH_VERSION:-2.15.0}
dir=${CSWEEP_TORCH_CUDA_DIR:-$HOME/.cache/circuitsweep/torch-cuda}
wheels=${CSWEEP_WHEEL_CACHE:-$HOME/.cache/circuitsweep/wheels}
if [[ -f $dir/.installed-$version ]]; then echo "$dir/torch"; exit 0; fi
mkdir -p "$wheels"
# --target installs touch no interpreter's site-packages, so Debian's externally-managed guard
# (PEP 668) does not apply; the variable tells its pip so.
export PIP_BREAK_SYSTEM_PACKAGES=1
pip=(${CSWEEP_PIP:-python3 -m pip})
rm -rf "$dir" && mkdir -p "$dir"
{
  "${pip[@]}" download -q --no-deps -d "$wheels" "torch==$version"
  "${pip[@]}" install -q --no-deps --target "$dir" "$wheels"/torch-"$version"-*.whl
  meta=$(echo "$dir"/torch-"$version"*.dist-info/METADATA)
  # The pins torch itself declares, for the libraries the toolkit does not provide.
  mapfile -t nv < <(sed -n 's/^Requires-Dist: \(nvidia-\(cusparselt\|nvshmem\)[^ ;]*\).*/\1/p' "$meta")
  nv+=("nvidia-cufile==${CSWEEP_CUFILE_VERSION:-1.17.1.22}")
  "${pip[@]}" download -q --no-deps -d "$wheels" "${nv[@]}"
  files=()
  for spec in "${nv[@]}"; do
    name=${spec%%==*}; ver=${spec##*==}
    files+=("$(ls "$wheels"/"${name//-/_}"-"$ver"-*.whl | head -1)")
  done
  # One pip call: --target refuses to merge a second install into an existing nvidia/ folder.
  "${pip[@]}" install -q --no-deps --target "$dir" "${files[@]}"
} >&2
if [[ -d /usr/local/cuda/lib64 ]]; then
  missing=$(LD_LIBRARY_PATH=/usr/local/cuda/lib64 ldd "$dir/torch/lib/libtorch.so" | grep 'not found' || true)
  if [[ -n $missing ]]; then echo "torch_cuda.sh: unresolved libraries: $missing" >&2; exit 1; fi
fi
touch "$dir/.installed-$version"
echo "$dir/torch"
