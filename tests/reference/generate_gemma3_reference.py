#!/usr/bin/env python3
"""Reference outputs of Hugging Face transformers for the real Gemma-3-270M (Q4_K_M GGUF).

The model file is the one scripts/fetch_gemma3.sh assembles (run first; $CSWEEP_GEMMA3_GGUF
overrides the path). Both outputs come from transformers' own GGUF support: the tokenizer it
builds from the file's metadata (AutoTokenizer.from_pretrained(..., gguf_file=...)) and the
model it dequantises to float32 (AutoModelForCausalLM.from_pretrained(..., gguf_file=...,
dtype=float32), eager attention). CI never runs this; the C++ tests read the committed files.

Outputs (tests/fixtures/reference/):
  gemma3_270m_tokens.jsonl   {"kind", "text", "ids"}: HF's ids with add_special_tokens=False for
                             the sequence tasks' strings (members with and without the leading
                             space, filler words, whole prompts of every template and every slot
                             prefix, as workers/tasks renders them) and tricky strings (spaces,
                             newlines, tabs, byte fallback, scripts, emoji, user-defined tokens).
  gemma3_270m_logits.json    for 5 prompts (BOS + HF's ids): the last position's logits at a
                             fixed id subset (the 64 largest and every 256th id; the full row is
                             262144 floats), the argmax and the full row's mean and L2 norm.

Usage: python3 tests/reference/generate_gemma3_reference.py  (repository root; ~3 min on 2 cores)
Versions used for the committed files are stored in gemma3_270m_logits.json ("versions").
"""
import hashlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "fixtures" / "reference"
TASKS = REPO / "data" / "tasks"
TOP_K = 64
STRIDE = 256

torch.set_num_threads(int(os.environ.get("CSWEEP_REF_THREADS", "2")))


def gguf_path() -> Path:
    if os.environ.get("CSWEEP_GEMMA3_GGUF"):
        return Path(os.environ["CSWEEP_GEMMA3_GGUF"])
    out = subprocess.run([str(REPO / "scripts" / "fetch_gemma3.sh")], check=True,
                         capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def words(name):
    return [w.rstrip(" \r") for w in (TASKS / f"{name}.txt").read_text().splitlines() if w.strip()]


def sequence_prompt(fillers, members, verb, space_ends_text):
    """workers/tasks sequence_template filled: '{F0} done in{M0}. ... {Fk} done in'; members
    carry their leading space. Returns the text and the slot-end offsets (prefix boundaries)."""
    text, ends = "", []
    for i, m in enumerate(members):
        text += f"{' ' if i else ''}{fillers[i]} {verb} in{m}."
        ends.append(len(text) - 1)
    text += f" {fillers[len(members)]} {verb} in{' ' if space_ends_text else ''}"
    return text, ends


def task_texts():
    rows = []
    fillers = {"objects": words("objects"), "names": words("names")}
    for kind in ("digits", "numwords", "months"):
        for m in words(kind):
            rows += [(f"{kind} member", m), (f"{kind} member", " " + m)]
    for lst, ws in fillers.items():
        for w in ws:
            rows += [(f"filler {lst}", w), (f"filler {lst}", " " + w)]
    # Whole prompts: every kind x template x direction, 3 and 4 shown members, both filler lists,
    # plus each prompt's prefixes up to a member slot (finalize() encodes those too).
    for kind, verb, increasing, k, lst in itertools.product(
            ("digits", "numwords", "months"), ("done", "lost", "born"), (True, False), (3, 4),
            ("objects", "names")):
        ms = words(kind)[:9] if kind == "digits" else words(kind)
        start = 1 if increasing else len(ms) - 1
        step = 1 if increasing else -1
        members = [" " + ms[start + step * i] for i in range(k)]
        fs = fillers[lst]
        off = (len(ms) * 7 + k * 3 + len(verb)) % (len(fs) - k)
        text, ends = sequence_prompt(fs[off:off + k + 1], members, verb, kind == "digits")
        rows.append((f"{kind} prompt", text))
        rows += [(f"{kind} prompt prefix", text[:e]) for e in ends]
    return rows


def tricky_texts():
    return [(f"tricky", t) for t in [
        "", " ", "  ", "   ", " a", "a ", "a  b", "a   b", " " * 33, "\t", "\t\t\tx", "\n", "\n\n",
        "a\nb", "a\n\n\n\nb", "line one\nline two\n", " \n \n", "\r\n", "\u00a0nbsp", "x\u3000y",
        "1234567890", "3.14159", "-42", "1,000,000", "2026-12-03", "Q4_K_M", "x^2 + y^2 = z^2",
        "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX", "don't won't it's",
        "héllo wörld", "naïve café", "e\u0301", "Ελληνικά", "русский текст", "日本語のテキスト",
        "中文", "한국어", "עברית", "العربية", "हिन्दी", "ไทย", "🤗", "👨\u200d👩\u200d👧", "🇺🇸",
        "\U00020000", "\ue000", "\x00", "\x01\x02", "\x7f", "\u200b", "\ufeffbom",
        "<b>bold</b>", "[multimodal]", "x[multimodal]y", "<start_of_image>",
        "def f(x):\n    return x * 2\n", "{\"key\": [1, 2, 3]}", "https://example.com/a?b=c",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ab" * 30, "\u2581", "\u2581\u2581x", "▁ ▁",
        "<0x41>", "<unk>x", "Monday, January 1st", " January February March",
    ]]


LOGIT_PROMPTS = [
    ("digits", "apple done in 3. table done in 4. chair done in 5. lamp done in "),
    ("numwords", "Mary lost in one. John lost in two. James lost in three. Anna lost in"),
    ("months", "cup born in January. book born in February. pen born in March. hat born in"),
    ("sentence", "The capital of France is"),
    ("newlines", "Q: What is 2 + 2?\nA: 4\nQ: What comes after Monday?\nA:"),
]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main() -> None:
    path = gguf_path()
    print(f"[gemma3] {path}", flush=True)
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    rows = task_texts() + tricky_texts()
    seen = set()
    with open(OUT / "gemma3_270m_tokens.jsonl", "w", encoding="utf-8") as f:
        for kind, text in rows:
            if text in seen:
                continue
            seen.add(text)
            ids = tok.encode(text, add_special_tokens=False)
            f.write(json.dumps({"kind": kind, "text": text, "ids": ids}, ensure_ascii=False,
                               separators=(",", ":")) + "\n")
    print(f"[gemma3] {len(seen)} tokenizer vectors", flush=True)

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                 dtype=torch.float32, attn_implementation="eager")
    model.eval()
    print(f"[gemma3] config: {model.config.to_json_string()}", flush=True)
    prompts = []
    for kind, text in LOGIT_PROMPTS:
        ids = tok.encode(text, add_special_tokens=True)
        assert ids[0] == tok.bos_token_id == 2, ids
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1].double().numpy()
        top = np.argsort(-logits, kind="stable")[:TOP_K]
        subset = sorted(set(top.tolist()) | set(range(0, logits.size, STRIDE)))
        prompts.append({
            "kind": kind, "text": text, "token_ids": ids,
            "argmax": int(top[0]), "top5": [tok.decode([int(i)]) for i in top[:5]],
            "mean": float(logits.mean()), "l2": float(np.sqrt((logits ** 2).sum())),
            "vocab_ids": subset, "logits": [float(f"{logits[i]:.9g}") for i in subset],
        })
        print(f"[gemma3] {kind}: {len(ids)} tokens, top5 {prompts[-1]['top5']}", flush=True)
    ref = {
        "model": path.name, "gguf_sha256": sha256(path), "d_vocab": int(logits.size),
        "subset": f"the {TOP_K} largest logits and every {STRIDE}th id",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "prompts": prompts,
    }
    with open(OUT / "gemma3_270m_logits.json", "w") as f:
        json.dump(ref, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
