#!/usr/bin/env python3
"""A sweep over a user's own prompt file (task `custom`, corruption `custom`) with the clean-model
filter, end to end on the embedded default model: `csweep run` writes a complete file whose
baselines count the kept and the dropped prompts, and agree with `csweep eval` on the same file.

Usage: check_custom_sweep.py CSWEEP WORKDIR
Results are read back with Debian's h5py (/usr/bin/python3).
"""
import json
import os
import shutil
import subprocess
import sys

import h5py

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_pml="ob1", OMPI_MCA_btl="self,vader")
FILLERS = ["apple", "table", "chair", "book", "car"]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def prompt(ms):
    return " ".join(f"{FILLERS[i]} done in {m}." for i, m in enumerate(ms))


def lines():
    """Digit sequences the default model continues (kept by the filter), and two whose 'correct'
    answer is the wrong one (dropped: the clean top-1 is not that answer)."""
    out = []
    for start in range(1, 6):
        ms = list(range(start, start + 4))
        text = prompt(ms) + " car done in"
        corrupted = prompt(list(reversed(ms))) + " car done in"
        out.append({"prompt": text, "correct": f" {start + 4}", "incorrect": f" {ms[-1]}", "corrupted": corrupted})
    for start in (1, 2):
        ms = list(range(start, start + 4))
        out.append({"prompt": prompt(ms) + " car done in", "correct": f" {ms[0]}", "incorrect": f" {start + 4}",
                    "corrupted": prompt(list(reversed(ms))) + " car done in"})
    return out


SPEC = """[[models]]
name = "default"
path = "default"

[[tasks]]
name = "mine"
generator = "custom"
params = {{ path = "{prompts}" }}
filter = true

[experiments]
corruptions = ["custom"]
ablations = ["mean"]
metrics = ["logit_diff", "performance"]

[[families]]
name = "single_heads"
kind = "combinations"
pool = "heads"
k = [1]

[output]
path = "custom.h5"
"""


def main():
    csweep, work = sys.argv[1:3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rows = lines()
    with open(os.path.join(work, "prompts.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    with open(os.path.join(work, "custom.toml"), "w", encoding="utf-8") as f:
        f.write(SPEC.format(prompts="prompts.jsonl"))

    # Another task's corruption is refused for a custom task, naming the one that applies.
    with open(os.path.join(work, "bad.toml"), "w", encoding="utf-8") as f:
        f.write(SPEC.format(prompts="prompts.jsonl").replace('["custom"]', '["randAll"]'))
    p = subprocess.run([csweep, "plan", "bad.toml"], cwd=work, env=ENV, capture_output=True, text=True)
    if p.returncode != 2 or "does not apply to task 'custom'" not in p.stderr or "for custom: custom" not in p.stderr:
        fail(f"randAll on a custom task: exit {p.returncode}\n{p.stderr}")
    print("ok: randAll refused for a custom task")

    p = subprocess.run([csweep, "run", "custom.toml"], cwd=work, env=ENV, capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        fail(f"csweep run exited {p.returncode}\n{p.stdout}{p.stderr}")
    with h5py.File(os.path.join(work, "custom.h5"), "r") as f:
        if int(f.attrs["complete"]) != 1:
            fail("output not complete")
        b = f["baselines"]
        kept, dropped = int(b["n_prompts"][0]), int(b["n_dropped_by_filter"][0])
        clean_ld = float(b["clean_logit_diff"][0])
        n_rows = f["tables/single_heads/intervention"].shape[0]
        cfg = json.load(open(os.path.join(os.path.dirname(csweep), "..", "models", "default", "config.json")))
    if kept + dropped != len(rows):
        fail(f"baselines: {kept} kept + {dropped} dropped != {len(rows)} prompts in the file")
    if dropped < 2:
        fail(f"the filter dropped {dropped} prompts; the two with a wrong 'correct' answer must go")
    heads = cfg["n_layer"] * cfg["n_head"]
    if n_rows != heads:
        fail(f"{n_rows} rows in single_heads, expected {heads} (one per head)")
    print(f"ok: sweep over {len(rows)} prompts: {kept} kept, {dropped} dropped, {n_rows} rows")

    # Derived tables asked of a grid that has none: refused by name, the file left as it was.
    out = os.path.join(work, "custom.h5")
    before = open(out, "rb").read()
    for cmd, what, kind in (("circuits", "has no circuit stage", "edge_pruning or faithfulness"),
                            ("cross-task", "has no pruning family", "kind pruning")):
        p = subprocess.run([csweep, cmd, "custom.h5"], cwd=work, env=ENV, capture_output=True, text=True,
                           timeout=120)
        if p.returncode == 0 or what not in p.stderr or kind not in p.stderr or "custom.h5" not in p.stderr:
            fail(f"csweep {cmd} on a grid without one: exit {p.returncode}\n{p.stderr}")
        if open(out, "rb").read() != before:
            fail(f"csweep {cmd} changed a file it refused")
    print("ok: csweep circuits / cross-task on a grid without stages or pruning refused, file unchanged")

    p = subprocess.run([csweep, "eval", "--task", "custom", "--corruption", "custom", "--filter", "--json",
                        "--params", json.dumps({"path": "prompts.jsonl"})], cwd=work, env=ENV,
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        fail(f"csweep eval exited {p.returncode}\n{p.stderr}")
    e = json.loads(p.stdout)
    if e["n_prompts"] != kept or e["dropped_by_filter"] != dropped:
        fail(f"eval kept {e['n_prompts']} / dropped {e['dropped_by_filter']}, the sweep {kept} / {dropped}")
    # Same prompts, same code, but fp32 sums in another order (eval uses every thread, the sweep
    # one per rank): each of the model's 4 layers and 128-wide dot products may move a logit by
    # a few float32 ulps of its running sums, far below 1e-5 relative.
    if abs(e["clean_logit_diff"] - clean_ld) > 1e-5 * max(1.0, abs(clean_ld)):
        fail(f"clean LD: eval {e['clean_logit_diff']}, sweep {clean_ld}")
    print("ok: csweep eval --filter agrees with the sweep's baseline")


if __name__ == "__main__":
    main()
