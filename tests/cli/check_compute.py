#!/usr/bin/env python3
"""The one device policy from the command line (workers/model/device_policy.hpp), on the embedded
default model:

* asking for a GPU that is not there (`--device cuda` / `[compute] device = "cuda:0"` on a machine
  without one) is exit 2 with the flag or file:line named, and leaves no output behind;
* an unknown device or dtype is exit 2 naming the value and what is accepted;
* `[compute] dtype = "bfloat16"` runs in bf16 on the CPU: the file says so (root attribute
  "dtype", the run's "device_by_rank"), its rows are not the fp32 rows, and a bf16 spec cannot
  resume into the fp32 file of the same grid (the dtype is part of the fingerprint; the file
  is left byte for byte as it was).

Usage: check_compute.py CSWEEP WORKDIR      (h5py: Debian's /usr/bin/python3)
"""
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys

import h5py

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_pml="ob1", OMPI_MCA_btl="self,vader")

SPEC = """[[models]]
name = "default"
path = "default"

[[tasks]]
name = "digits"
params = {{ n_prompts = 8 }}

[experiments]
corruptions = ["randAll"]
ablations = ["mean"]
metrics = ["logit_diff", "performance"]

[[families]]
name = "single_heads"
kind = "combinations"
pool = "heads"
k = [1]

[output]
path = "{out}"
{compute}"""


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(args, work, timeout=300):
    return subprocess.run(args, cwd=work, env=ENV, capture_output=True, text=True, timeout=timeout)


def write(work, name, out, compute=""):
    with open(os.path.join(work, name), "w", encoding="utf-8") as f:
        f.write(SPEC.format(out=out, compute=compute))


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def table(path):
    with h5py.File(path, "r") as f:
        if int(f.attrs["complete"]) != 1:
            fail(f"{path}: not complete")
        t = f["tables/single_heads"]
        return [float(x) for x in t["logit_diff"][...]], dict(f.attrs)


def main():
    csweep, work = sys.argv[1:3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    # Unknown names: the flag, the value and what is accepted.
    p = run([csweep, "eval", "--device", "tpu"], work)
    if p.returncode != 2 or "--device: unknown device (got 'tpu', expected auto, cpu, cuda" not in p.stderr:
        fail(f"--device tpu: exit {p.returncode}\n{p.stderr}")
    p = run([csweep, "eval", "--dtype", "float8"], work)
    if p.returncode != 2 or "--dtype: unknown compute dtype (got 'float8', expected one of float32" not in p.stderr:
        fail(f"--dtype float8: exit {p.returncode}\n{p.stderr}")
    print("ok: unknown device and dtype named")

    # A GPU asked for where none is usable (this check is about machines without one).
    p = run([csweep, "eval", "--device", "cuda", "--n-prompts", "4"], work)
    gpu = p.returncode == 0
    if gpu:
        print("skip: a GPU is visible here; the absent-GPU checks need a machine without one")
    else:
        if p.returncode != 2 or "--device: a GPU was asked for but none is usable: " not in p.stderr \
                or "(got 'cuda', expected cpu or auto)" not in p.stderr:
            fail(f"eval --device cuda without a GPU: exit {p.returncode}\n{p.stderr}")
        write(work, "gpu.toml", "gpu.h5", '\n[compute]\ndevice = "cuda:0"\n')
        p = run([csweep, "run", "gpu.toml"], work)
        if p.returncode != 2 or "gpu.toml:24: compute.device: a GPU was asked for but none is usable" not in p.stderr:
            fail(f"run with compute.device = cuda:0 without a GPU: exit {p.returncode}\n{p.stderr}")
        left = [n for n in os.listdir(work) if n.startswith("gpu.h5")]
        if left:
            fail(f"the refused run left {left} behind")
        write(work, "cpu.toml", "cpu.h5")
        p = run([csweep, "run", "cpu.toml", "--device", "cuda"], work)
        if p.returncode != 2 or "--device: a GPU was asked for" not in p.stderr:
            fail(f"run --device cuda without a GPU: exit {p.returncode}\n{p.stderr}")
        if any(n.startswith("cpu.h5") for n in os.listdir(work)):
            fail("run --device cuda left an output behind")
        print("ok: an absent GPU is refused by eval and run (flag / file:line named, no output left)")

    # fp32 and bf16 runs of the same grid on the CPU.
    write(work, "fp32.toml", "fp32.h5", '\n[compute]\ndevice = "cpu"\n')
    write(work, "bf16.toml", "bf16.h5", '\n[compute]\ndevice = "cpu"\ndtype = "bf16"\n')
    for name in ("fp32", "bf16"):
        p = run([csweep, "run", f"{name}.toml", "--no-summary"], work)
        if p.returncode != 0:
            fail(f"run {name}: exit {p.returncode}\n{p.stderr}")
        if "rank 0 computes on cpu (asked for)" not in p.stderr:
            fail(f"run {name}: no placement line\n{p.stderr}")
    ld32, a32 = table(os.path.join(work, "fp32.h5"))
    ld16, a16 = table(os.path.join(work, "bf16.h5"))
    if a32["dtype"] != "float32" or a16["dtype"] != "bfloat16":
        fail(f"dtype attributes {a32['dtype']!r} / {a16['dtype']!r}")
    runs = json.loads(a16["runs"])
    dev = runs[-1].get("device_by_rank")
    if not dev or len(dev) != 1 or not dev[0].startswith("cpu (asked for), bfloat16"):
        fail(f"bf16 run's device_by_rank: {dev!r}")
    if len(ld32) != len(ld16) or not all(math.isfinite(x) for x in ld16):
        fail(f"bf16 table: {len(ld16)} rows (fp32: {len(ld32)}), finite: {all(math.isfinite(x) for x in ld16)}")
    # bf16 keeps 8 significant bits: rounding every weight and activation moves the logit
    # differences; identical values would mean the run did not use bf16.
    diff = max(abs(a - b) for a, b in zip(ld32, ld16))
    if diff == 0:
        fail("bf16 rows equal the fp32 rows bit for bit: the dtype was not applied")
    print(f"ok: fp32 and bf16 runs; dtype attributes and device_by_rank recorded; max |LD diff| {diff:.3g}")

    # The dtype is part of the grid: a bf16 spec does not resume into the fp32 file.
    before = sha(os.path.join(work, "fp32.h5"))
    p = run([csweep, "run", "bf16.toml", "-o", "fp32.h5"], work)
    if p.returncode != 2 or "was written for a different grid" not in p.stderr:
        fail(f"bf16 spec into the fp32 file: exit {p.returncode}\n{p.stderr}")
    if sha(os.path.join(work, "fp32.h5")) != before:
        fail("the refused resume changed the fp32 file")
    print("ok: a bf16 spec is refused on the fp32 file of the same grid, the file unchanged")


if __name__ == "__main__":
    main()
