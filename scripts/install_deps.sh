#!/usr/bin/env bash
# Installs circuitsweep's build and test dependencies on Debian 12 (idempotent; ~1.5 min when
# nothing is installed yet). Runs as root or through sudo.
set -euo pipefail

PACKAGES=(
  cmake g++ ninja-build pkg-config ccache git procps ca-certificates
  libtorch-dev libopenblas0-pthread         # LibTorch 1.13 (CPU); OpenBLAS, or matmuls run ~35x slower
  libopenmpi-dev openmpi-bin                # MPI coordinator/workers
  libhdf5-dev hdf5-tools                    # results; h5dump as an independent reader
  libgtest-dev googletest                   # unit tests
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev libpcre2-dev libssl-dev
  python3 python3-h5py python3-numpy python3-matplotlib python3-pip   # analysis + independent HDF5 reader
  python3-pandas python3-matplotlib-venn python3-upsetplot   # csweep analyze: tables, Venn, UpSet
  python3-xarray python3-h5netcdf           # tests: results open as xarray datasets
  slurm-wlm munge                           # local Slurm cluster for the Slurm tests
  clang libclang-rt-14-dev                  # libFuzzer targets
)

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install_deps: installing ${#missing[@]} packages: ${missing[*]}"
# Without systemd, package scripts try to start munge/slurm daemons; forbid that during install.
policy_rc_created=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  policy_rc_created=1
fi
trap '[[ $policy_rc_created == 1 ]] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
