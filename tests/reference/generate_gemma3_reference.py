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
                             newlines, tabs, byte fallback, scripts, emoji, user-defined tokens;
                             no control-token text such as "<bos>": those are not parsed from
                             text by our encoder, by design, while transformers parses them).
  ../tokenizers/sentencepiece_tiny.json
                             a 1,500-token excerpt of the same vocabulary (control, user-defined,
                             whitespace, byte and the first ASCII ordinary tokens, in file order)
                             written as a GGUF of its own with the gguf package, and HF's ids for
                             texts over it: the unit tests check the encoder without the model.
  gemma3_270m_logits.json    for 5 prompts (BOS + HF's ids): the last position's logits at a
                             fixed id subset (the 64 largest and every 256th id; the full row is
                             262144 floats), the argmax and the full row's mean and L2 norm.

Usage: python3 tests/reference/generate_gemma3_reference.py [--only tokens|tiny|logits]
       (repository root; ~3 min on 2 cores, most of it transformers building the tokenizer)
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
        "<0x41>", "<table><tr><td>1</td></tr></table>", "x <sub>2</sub> y", "<s>a</s>",
        "Monday, January 1st", " January February March",
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
    only = sys.argv[2] if len(sys.argv) == 3 and sys.argv[1] == "--only" else None
    path = gguf_path()
    print(f"[gemma3] {path}", flush=True)
    tok = None if only == "tiny" else AutoTokenizer.from_pretrained(str(path.parent),
                                                                     gguf_file=path.name)
    if only in (None, "tokens"):
        write_tokens(tok)
    if only in (None, "tiny"):
        write_tiny(path)
    if only in (None, "logits"):
        write_logits(tok, path)


def write_tiny(path: Path) -> None:
    import random
    import tempfile

    import gguf

    r = gguf.GGUFReader(str(path))
    fld = r.fields
    tokens = [bytes(fld["tokenizer.ggml.tokens"].parts[i]).decode("utf-8")
              for i in fld["tokenizer.ggml.tokens"].data]
    types = [int(fld["tokenizer.ggml.token_type"].parts[i][0])
             for i in fld["tokenizer.ggml.token_type"].data]
    scores = [float(fld["tokenizer.ggml.scores"].parts[i][0])
              for i in fld["tokenizer.ggml.scores"].data]
    # Every non-ordinary token among the first 1000 ids (controls, the stored-space runs, the 256
    # byte tokens) and every user-defined one, then the ordinary tokens spelt from ASCII letters, digits and
    # '▁', in file order: file order is the merge order. Single characters (late in the file)
    # are included wherever they stand.
    keep = [i for i in range(len(tokens)) if (i < 1000 and types[i] != 1) or types[i] == 4]
    for i in range(len(tokens)):
        if len(keep) >= 1500:
            break
        if types[i] == 1 and all(c.isascii() and c.isalnum() or c == "\u2581" for c in tokens[i]):
            keep.append(i)
    singles = [i for i in range(len(tokens)) if types[i] == 1 and len(tokens[i]) == 1
               and (tokens[i].isascii() or tokens[i] == "\u2581")]
    keep = sorted(set(keep) | set(singles))
    t_tokens = [tokens[i] for i in keep]
    t_types = [types[i] for i in keep]
    t_scores = [scores[i] for i in keep]
    with tempfile.TemporaryDirectory() as d:
        w = gguf.GGUFWriter(os.path.join(d, "tiny.gguf"), "gemma3")
        w.add_block_count(1)
        w.add_context_length(64)
        w.add_embedding_length(8)
        w.add_feed_forward_length(16)
        w.add_head_count(1)
        w.add_head_count_kv(1)
        w.add_key_length(8)
        w.add_value_length(8)
        w.add_layer_norm_rms_eps(1e-6)  # hyperparameters only so that transformers reads the file
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(t_tokens)
        w.add_token_scores(t_scores)
        w.add_token_types(t_types)
        w.add_bos_token_id(t_tokens.index("<bos>"))
        w.add_eos_token_id(t_tokens.index("<eos>"))
        w.add_unk_token_id(t_tokens.index("<unk>"))
        w.add_pad_token_id(t_tokens.index("<pad>"))
        w.add_add_space_prefix(False)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        tok = AutoTokenizer.from_pretrained(d, gguf_file="tiny.gguf")
        rng = random.Random(7)
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,\n\t"
        texts = [t for _, t in tricky_texts()] + [t for _, t in task_texts()[::7]]
        texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(150)]
        texts += [" ".join(rng.choice(t_tokens[-400:]).replace("\u2581", "") for _ in range(8))
                  for _ in range(50)]
        vectors = []
        for t in dict.fromkeys(texts):
            vectors.append({"text": t, "ids": tok.encode(t, add_special_tokens=False)})
    out = REPO / "tests" / "fixtures" / "tokenizers" / "sentencepiece_tiny.json"
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"source": f"{path.name}, ids {keep[0]}..{keep[-1]} (a subset)",
                   "transformers": transformers.__version__, "tokens": t_tokens,
                   "token_types": t_types, "bos": t_tokens.index("<bos>"),
                   "eos": t_tokens.index("<eos>"), "vectors": vectors},
                  f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"[gemma3] tiny vocabulary: {len(t_tokens)} tokens, {len(vectors)} vectors", flush=True)


def write_tokens(tok) -> None:
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


def write_logits(tok, path: Path) -> None:

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
        json.dump(ref, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
