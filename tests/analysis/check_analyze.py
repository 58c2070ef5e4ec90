#!/usr/bin/python3
"""End-to-end test of `csweep analyze` and `csweep export` on a real sweep.

    check_analyze.py CSWEEP WORKDIR

Runs the real csweep on tests/analysis/jobs/analysis.toml (embedded default model), then
`csweep analyze --figures` and `csweep export`, and checks every output against the results file
read with h5py/numpy here (nothing of the analysis package computes the expected numbers):
the layer x head grids (summary.json and the heatmap images), the top single heads, the pair
interactions, the corruption bars, the single-ablation Venn, the tidy CSV (pandas), the results
file opened with xarray + h5netcdf (check_netcdf.py), and the command's errors (incomplete file,
not a results file, no interpreter, missing modules).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "analysis"))
sys.path.insert(0, HERE)
from csweep_analysis import figures, report_figures  # noqa: E402  (drawing only, for read-back)

JOB = os.path.join(HERE, "jobs", "analysis.toml")
STUDY = os.path.join(ROOT, "data", "circuits", "lan_barez_80.json")
EXIT_INPUT, EXIT_INCOMPLETE = 2, 3
TOL = 1e-9  # summary.json stores float64 values as read, so only JSON round-off may differ

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(cmd, expect=0, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != expect:
        print(p.stdout, p.stderr, file=sys.stderr)
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}, expected {expect}")
    return p


def names(f, attr):
    v = f.attrs[attr]
    return [x.decode() if isinstance(x, bytes) else str(x) for x in np.atleast_1d(v)]


def raw_table(f, fam):
    g = f["tables"][fam]
    return {c: g[c][...] for c in g}


def main():
    csweep, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    results = os.path.join(work, "r.h5")
    run([csweep, "run", JOB, "--output", results, "--no-summary"])
    out = os.path.join(work, "analysis")
    p = run([csweep, "analyze", results, "--out", out, "--figures"])
    check(out in p.stdout, "analyze prints where its outputs are")
    with open(os.path.join(out, "summary.json")) as fh:
        s = json.load(fh)

    with h5py.File(results, "r") as f:
        tasks, corrs = names(f, "task_names"), names(f, "corruption_names")
        single = raw_table(f, "single_heads")
        pairs = raw_table(f, "head_pairs")
        base = {c: f["baselines"][c][...] for c in f["baselines"]}

    # ---- layer x head grids: h5py rows -> expected grid; summary.json and the image agree ----
    L = int(single["component_layer"][:, 0].max()) + 1
    H = int(single["component_index"][:, 0].max()) + 1
    expected = {}
    for t in range(len(tasks)):
        for c in range(len(corrs)):
            rows = (single["task"] == t) & (single["corruption"] == c)
            g = np.full((L, H), np.nan)
            g[single["component_layer"][rows, 0], single["component_index"][rows, 0]] = \
                single["performance"][rows] - 100.0
            expected[(tasks[t], corrs[c])] = g
    check(len(s["effect_grids"]) == len(expected), "one grid per task and corruption")
    for g in s["effect_grids"]:
        exp = expected[(g["task"], g["corruption"])]
        check(np.allclose(np.array(g["effect"], dtype=float), exp, atol=TOL, equal_nan=True),
              f"summary grid {g['task']}/{g['corruption']} equals the HDF5 rows")
    heat = [e for e in s["figures"] if e["kind"] == "heatmap"]
    check(len(heat) == len(corrs), "one heatmap figure per corruption")
    for e in heat:
        fig = report_figures.draw(s, e)
        panels = [ax for ax in fig.axes if ax.images]
        check([ax.get_title() for ax in panels] == tasks, f"{e['name']}: one panel per task")
        for ax in panels:
            drawn = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
            exp = expected[(ax.get_title(), e["ref"]["effect_grids"]["corruption"])]
            check(np.allclose(drawn, exp, atol=TOL, equal_nan=True),
                  f"{e['name']}/{ax.get_title()}: heatmap array equals the HDF5 rows")
            norm = ax.images[0].norm
            check(abs(norm.vcenter) < 1e-12 and abs(norm.vmin + norm.vmax) < 1e-9,
                  f"{e['name']}: colour scale centred on 0")
            check(ax.get_xlabel() == "head" and ax.get_ylabel() == "layer", "heatmap axes")
        check(any(a.get_label() == "<colorbar>" for a in fig.axes), f"{e['name']}: colour bar")

    # ---- top single heads: the N most negative effects of each experiment ----
    n_top = 10
    for t, task in enumerate(tasks):
        for c, corr in enumerate(corrs):
            rows = np.nonzero((single["task"] == t) & (single["corruption"] == c))[0]
            perf = np.sort(single["performance"][rows])[:n_top]
            got = [r["performance"] for r in s["top_single_heads"]
                   if r["task"] == task and r["corruption"] == corr]
            check(np.allclose(got, perf, atol=TOL), f"top single heads {task}/{corr}")

    # ---- pair interactions: effect(pair) - effect(a) - effect(b), from the raw rows ----
    eff = {}
    for i in range(len(single["task"])):
        key = (int(single["task"][i]), int(single["corruption"][i]),
               f"{single['component_layer'][i, 0]}.{single['component_index'][i, 0]}")
        eff[key] = single["performance"][i] - 100.0
    for r in s["top_head_pairs"][:20]:
        t, c = tasks.index(r["task"]), corrs.index(r["corruption"])
        a, b = r["label"].split("+")
        check(abs(r["interaction"] - (r["effect"] - eff[(t, c, a)] - eff[(t, c, b)])) < 1e-6,
              f"pair interaction {r['label']}")
        rows = np.nonzero((pairs["task"] == t) & (pairs["corruption"] == c))[0]
        labels = {"+".join(f"{pairs['component_layer'][i, k]}.{pairs['component_index'][i, k]}"
                           for k in range(2)): pairs["performance"][i] for i in rows}
        check(abs(labels[r["label"]] - r["performance"]) < TOL, f"pair {r['label']} performance")

    # ---- corruptions: bar heights = 100 * corrupted LD / clean LD from the baselines ----
    cfig = next(e for e in s["figures"] if e["kind"] == "corruptions")
    fig = report_figures.draw(s, cfig)
    bars = [p.get_height() for p in fig.axes[0].patches]
    exp_bars = []
    for c in range(len(corrs)):
        for t in range(len(tasks)):
            i = np.nonzero((base["task"] == t) & (base["corruption"] == c))[0][0]
            exp_bars.append(100 * base["corrupted_logit_diff"][i] / base["clean_logit_diff"][i])
    check(np.allclose(bars, exp_bars, atol=1e-9), "corruption bars equal the baselines")
    for task in tasks:
        erased = sorted(corrs[c] for c in range(len(corrs))
                        if exp_bars[c * len(tasks) + tasks.index(task)] <= 20.0)
        check(s["erased"].get(task, []) == erased, f"erased corruptions of {task}")

    # ---- single-ablation sets (T = job threshold 10): Venn regions and the drawn labels ----
    T = 10.0
    check(s["thresholds"] == [T], "thresholds come from the job spec")
    for c, corr in enumerate(corrs):
        sets_ = {}
        for t, task in enumerate(tasks):
            rows = (single["task"] == t) & (single["corruption"] == c) & \
                   (single["performance"] <= 100.0 - T)
            sets_[task] = {f"{l}.{h}" for l, h in zip(single["component_layer"][rows, 0],
                                                       single["component_index"][rows, 0])}
        group = next(g for g in s["circuit_groups"] if g["kind"] == "single_ablation"
                     and g["setting"]["corruption"] == corr)
        all3 = sets_[tasks[0]] & sets_[tasks[1]] & sets_[tasks[2]]
        check(set(group["heads"]["venn"]["&".join(tasks)]["members"]) == all3,
              f"{corr}: three-way region")
        only0 = sets_[tasks[0]] - sets_[tasks[1]] - sets_[tasks[2]]
        check(set(group["heads"]["venn"][tasks[0]]["members"]) == only0, f"{corr}: only-{tasks[0]}")
        entry = next(e for e in s["figures"] if e["kind"] == "venn"
                     and e["ref"]["circuit_group"] == group["id"])
        drawn = figures.read_venn(report_figures.draw(s, entry))
        for key, region in group["heads"]["venn"].items():
            check(drawn[key][0] == region["count"], f"{corr}: drawn count of {key}")

    # ---- every figure: PDF + PNG + caption ----
    for e in s["figures"]:
        for ext in (".pdf", ".png", ".txt"):
            check(os.path.getsize(os.path.join(out, "figures", e["name"] + ext)) > (20 if ext == ".txt" else 500),
                  f"{e['name']}{ext} written")
    kinds = {e["kind"] for e in s["figures"]}
    for k in ("venn", "jaccard", "heatmap", "position_heatmap", "by_size", "correlation",
              "corruptions"):
        check(k in kinds, f"figure kind {k} drawn")
    for e in s["tables"]:
        check(os.path.exists(os.path.join(out, e["csv"])), f"table {e['name']} csv")
        with open(os.path.join(out, e["tex"])) as fh:
            tex = fh.read()
        check("\\toprule" in tex and "\\bottomrule" in tex, f"table {e['name']} booktabs")

    # ---- export: tidy long CSV read with pandas ----
    exp_dir = os.path.join(work, "export")
    run([csweep, "export", results, "--format", "csv", "--out", exp_dir])
    df = pd.read_csv(os.path.join(exp_dir, "head_pairs.csv"))
    metrics = ["logit_diff", "performance", "normalized", "kl"]
    check(len(df) == len(pairs["task"]) * len(metrics), "one row per intervention x metric")
    check(sorted(df["metric"].unique()) == sorted(metrics), "only the requested metrics")
    i = 5
    label = "+".join(f"{pairs['component_layer'][i, k]}.{pairs['component_index'][i, k]}"
                     for k in range(2))
    row = df[(df["task"] == tasks[pairs["task"][i]]) &
             (df["corruption"] == corrs[pairs["corruption"][i]]) &
             (df["components"] == label) & (df["metric"] == "kl")]
    check(len(row) == 1 and abs(row["value"].iloc[0] - pairs["kl"][i]) < 1e-12,
          f"export row {label} kl")
    pos = pd.read_csv(os.path.join(exp_dir, "heads_per_position.csv"))
    check(set(pos["position"].dropna()) == {"S4", "end"}, "positions by name")
    b = pd.read_csv(os.path.join(exp_dir, "baselines.csv"))
    check(set(b["quantity"]) >= {"clean_logit_diff", "corrupted_logit_diff"}, "baselines export")
    run([csweep, "export", results, "--format", "parquet", "--out", exp_dir + "_pq"],
        expect=EXIT_INPUT)

    # ---- the results file opens in xarray (h5netcdf) with named dimensions ----
    import check_netcdf
    nc_failures, groups = check_netcdf.check(results)
    for msg in nc_failures:
        check(False, msg)
    check("tables/single_heads" in groups, "xarray opened the tables")
    import xarray as xr
    ds = xr.open_dataset(results, group="tables/single_heads", engine="h5netcdf")
    check(set(ds.dims) == {"row", "component"}, f"single_heads dims {dict(ds.dims)}")
    check(list(ds["performance"].values) == list(single["performance"]), "xarray values")
    ds.close()

    # ---- errors ----
    bad = os.path.join(work, "not_results.h5")
    with h5py.File(bad, "w") as f:
        f["x"] = np.arange(3)
    p = run([csweep, "analyze", bad, "--out", os.path.join(work, "bad")], expect=EXIT_INPUT)
    check("not_results.h5" in p.stderr and "/tables" in p.stderr, "not a results file: named")
    check(not os.path.exists(os.path.join(work, "bad")), "no output folder after an error")
    partial = os.path.join(work, "partial.h5")
    shutil.copy(results, partial)
    with h5py.File(partial, "r+") as f:
        f.attrs["complete"] = np.int64(0)
    p = run([csweep, "analyze", partial, "--out", os.path.join(work, "p")], expect=EXIT_INCOMPLETE)
    check("INCOMPLETE" in p.stderr, "incomplete file refused")
    env = dict(os.environ, CSWEEP_PYTHON="/nonexistent/python3")
    p = run([csweep, "analyze", results, "--out", os.path.join(work, "x")], expect=EXIT_INPUT,
            env=env)
    check("/nonexistent/python3" in p.stderr and "CSWEEP_PYTHON" in p.stderr, "no interpreter")
    # An interpreter without the site packages (-S) lacks numpy/h5py/pandas/matplotlib.
    with tempfile.NamedTemporaryFile("w", suffix=".sh", dir=work, delete=False) as fh:
        fh.write('#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n')
    os.chmod(fh.name, 0o755)
    env = dict(os.environ, CSWEEP_PYTHON=fh.name)
    p = run([csweep, "analyze", results, "--out", os.path.join(work, "y"), "--figures"],
            expect=EXIT_INPUT, env=env)
    check("python3-h5py" in p.stderr and "python3-matplotlib-venn" in p.stderr,
          "missing modules named with their Debian packages")
    p = run([csweep, "analyze", "--help"])
    check("--circuits" in p.stdout and "example" in p.stdout, "analyze --help")

    # ---- the study's circuits through the binary ----
    study = os.path.join(work, "study")
    run([csweep, "analyze", "--circuits", STUDY, "--out", study, "--figures"])
    with open(os.path.join(study, "summary.json")) as fh:
        v = json.load(fh)["circuit_groups"][0]["heads"]["venn"]
    check(v["numerals&number_words&months"]["members"] ==
          ["0.1", "4.4", "6.1", "6.6", "6.10", "7.11", "8.8", "9.1"], "study: three-way")
    check(v["number_words&months"]["members"] == ["7.6"], "study: number words & months only")

    if failures:
        raise SystemExit(f"{len(failures)} checks failed")
    print(f"analysis e2e: all checks passed ({len(s['figures'])} figures, {len(s['tables'])} "
          "tables)")


if __name__ == "__main__":
    main()
