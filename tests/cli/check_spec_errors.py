#!/usr/bin/env python3
"""Job spec errors are found at load by `csweep plan` and `csweep run`, with file:line, exit 2,
and leave no output behind; the corrected spec then runs.

Usage: check_spec_errors.py CSWEEP QUICKSTART_TOML WORKDIR
Each case edits one line of jobs/quickstart.toml (standard library only: CI's /usr/bin/python3).
"""
import os
import shutil
import subprocess
import sys


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def line_of(text, needle):
    for i, l in enumerate(text.splitlines(), 1):
        if needle in l:
            return i
    fail(f"{needle!r} not in the spec")


# (name, text replaced in the quickstart spec, replacement, line whose number the error names,
#  phrases the message must contain)
CASES = [
    ("unknown generator", 'generator = "digits"', 'generator = "digitz"', 'generator = "digitz"',
     ["tasks[0].generator", "unknown task generator", "'digitz'", "digits, numwords"]),
    ("task name as unknown generator", 'name = "digits"\ngenerator = "digits"\n', 'name = "digitz"\n',
     'name = "digitz"', ["tasks[0].name", "unknown task generator", "'digitz'"]),
    ("n_prompts of the wrong type", 'params = { n_prompts = 32, members = 4 }',
     'params = { n_prompts = "32", members = 4 }', 'n_prompts = "32"',
     ["tasks[0].params.n_prompts", "\"32\"", "an integer in [1, 1048576]"]),
    ("members out of range", 'params = { n_prompts = 32, members = 4 }',
     'params = { n_prompts = 32, members = 7 }', "members = 7",
     ["tasks[0].params.members", "got 7", "an integer in [3, 6]"]),
    ("unknown task parameter", 'params = { n_prompts = 32, members = 4 }',
     'params = { n_prompts = 32, member = 4 }', "member = 4",
     ["tasks[0].params.member", "unknown key", "members"]),
    ("corruption of another task", 'corruptions = ["randAll"]', 'corruptions = ["XX01"]',
     'corruptions = ["XX01"]', ["experiments.corruptions[0]", "does not apply to task 'digits'", "randAll"]),
    ("position the task does not define", 'positions = ["S1", "S2", "S3", "S4", "end"]',
     'positions = ["S1", "S2", "S3", "S9", "end"]', 'positions = ["S1"',
     ["families[2].positions[3]", "position 'S9' is not defined by task 'digits'", "S1, S2, S3, S4, end"]),
]


def main():
    csweep, quickstart, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    base = open(quickstart, encoding="utf-8").read()
    for name, old, new, line_needle, phrases in CASES:
        if old not in base:
            fail(f"{name}: {old!r} not in the quickstart spec")
        text = base.replace(old, new, 1)
        spec = os.path.join(work, "bad.toml")
        with open(spec, "w", encoding="utf-8") as f:
            f.write(text)
        where = f"{spec}:{line_of(text, line_needle)}:"
        out = os.path.join(work, "out.h5")
        for cmd in (["plan", spec], ["run", spec, "--output", out]):
            p = subprocess.run([csweep] + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work)
            err = p.stderr.decode(errors="replace")
            if p.returncode != 2:
                fail(f"{name}: csweep {cmd[0]} exited {p.returncode}, expected 2 (input error):\n{err}")
            if where not in err:
                fail(f"{name}: csweep {cmd[0]}: message does not name {where}:\n{err}")
            for ph in phrases:
                if ph not in err:
                    fail(f"{name}: csweep {cmd[0]}: message lacks {ph!r}:\n{err}")
            left = [f for f in os.listdir(work) if f.startswith("out.h5")]
            if left:
                fail(f"{name}: csweep {cmd[0]} left {left} behind")
        print(f"ok: {name}: exit 2 at {where.rstrip(':')}, nothing written")

    # Names accepted by `csweep eval` are accepted by a spec: aliases and a negative position.
    text = base.replace('metrics = ["logit_diff", "performance"', 'metrics = ["ld", "perf"', 1)
    text = text.replace('positions = ["S1", "S2", "S3", "S4", "end"]', 'positions = ["S1", -1]', 1)
    spec = os.path.join(work, "aliases.toml")
    with open(spec, "w", encoding="utf-8") as f:
        f.write(text)
    p = subprocess.run([csweep, "plan", spec], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work)
    if p.returncode != 0:
        fail(f"aliases: csweep plan exited {p.returncode}:\n{p.stderr.decode(errors='replace')}")
    print("ok: metric aliases and position -1 accepted by csweep plan")


if __name__ == "__main__":
    main()
