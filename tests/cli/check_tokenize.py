#!/usr/bin/env python3
"""End-to-end check of `csweep tokenize` against the shared GPT-2 vectors.

Usage: check_tokenize.py CSWEEP TOKENIZER_DIR FIXTURE_JSONL
The expected ids come from the fixture (an independent GPT-2 encoder) and from encoder.json;
only the standard library is used, so CI's /usr/bin/python3 runs it.
"""
import json
import os
import subprocess
import sys
import tempfile


def run(args):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check_fixture(csweep, tokenizer, fixture, extra=()):
    p = run([csweep, "tokenize", "--jsonl", fixture] + list(extra))
    if p.returncode != 0:
        fail(f"exit {p.returncode}: {p.stderr.decode(errors='replace')}")
    expected = [json.loads(l) for l in open(fixture, encoding="utf-8") if l.strip()]
    got = [json.loads(l) for l in p.stdout.decode("utf-8").splitlines()]
    if len(got) != len(expected):
        fail(f"{len(got)} output lines for {len(expected)} input lines")
    for i, (g, e) in enumerate(zip(got, expected), 1):
        if g["text"] != e["text"]:
            fail(f"line {i}: text changed: {g['text']!r} != {e['text']!r}")
        if g["ids"] != e["ids"]:
            fail(f"line {i}: ids {g['ids']} != expected {e['ids']} for {e['text']!r}")
        if list(g.keys())[0] != "text":
            fail(f"line {i}: 'text' is not the first field: {list(g.keys())}")
    return len(got)


def main():
    csweep, tokenizer, fixture = sys.argv[1:4]
    n = check_fixture(csweep, tokenizer, fixture, ["--tokenizer", tokenizer])
    print(f"ok: {n} fixture lines reproduced")

    # The default tokenizer is found relative to the executable (data/tokenizers/gpt2).
    check_fixture(csweep, tokenizer, fixture)
    print("ok: default --tokenizer resolves to GPT-2")

    vocab = json.load(open(os.path.join(tokenizer, "encoder.json"), encoding="utf-8"))
    p = run([csweep, "tokenize", "--tokenizer", tokenizer, "--text", " 5"])
    out = json.loads(p.stdout.decode("utf-8"))
    if p.returncode != 0 or out != {"text": " 5", "ids": [vocab["\u01205"]]}:
        fail(f"--text ' 5': exit {p.returncode}, output {out}")
    print("ok: --text")

    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "bad.jsonl")
        with open(bad, "w") as f:
            f.write('{"text": "fine"}\n{"text": "broken\n')
        p = run([csweep, "tokenize", "--tokenizer", tokenizer, "--jsonl", bad])
        err = p.stderr.decode(errors="replace")
        if p.returncode != 2 or f"{bad}:line 2" not in err:
            fail(f"bad JSON line: exit {p.returncode}, stderr {err!r}")
        with open(bad, "w") as f:
            f.write('{"prompt": "no text field"}\n')
        p = run([csweep, "tokenize", "--tokenizer", tokenizer, "--jsonl", bad])
        err = p.stderr.decode(errors="replace")
        if p.returncode != 2 or f"{bad}:line 1" not in err or '"text"' not in err:
            fail(f"missing text field: exit {p.returncode}, stderr {err!r}")
        p = run([csweep, "tokenize", "--tokenizer", d, "--text", "x"])
        err = p.stderr.decode(errors="replace")
        if p.returncode != 2 or "tokenizer.json" not in err:
            fail(f"empty tokenizer dir: exit {p.returncode}, stderr {err!r}")
    print("ok: input errors name the file and line, exit code 2")

    # Text that is not UTF-8 cannot be written back as JSON: an input error naming the byte.
    p = run([os.fsencode(csweep), b"tokenize", b"--tokenizer", os.fsencode(tokenizer), b"--text", b"ab\xff"])
    err = p.stderr.decode(errors="replace")
    if p.returncode != 2 or "--text: not valid UTF-8 at byte offset 2 (byte 0xff)" not in err or p.stdout:
        fail(f"--text 'ab\\xff': exit {p.returncode}, stdout {p.stdout!r}, stderr {err!r}")
    p = run([os.fsencode(csweep), b"tokenize", b"--tokenizer", os.fsencode(tokenizer), b"--text", "é€😀".encode()])
    if p.returncode != 0 or json.loads(p.stdout.decode("utf-8"))["text"] != "é€😀":
        fail(f"--text with multi-byte UTF-8: exit {p.returncode}, {p.stderr!r}")
    print("ok: --text that is not UTF-8 is an input error naming the byte offset")


if __name__ == "__main__":
    main()
