#!/usr/bin/python3
"""End-to-end test of `csweep analyze` and `csweep export` on a real sweep.

    check_analyze.py CSWEEP WORKDIR

Runs the real csweep on tests/analysis/jobs/analysis.toml (embedded default model), then
`csweep analyze --figures` and `csweep export`, and checks every output against the results file
read with h5py/numpy here (nothing of the analysis package computes the expected numbers):
the layer x head grids (summary.json and the heatmap images), the top single heads, the pair
interactions, the corruption bars, the single-ablation Venn, the tidy CSV (pandas), the results
file opened with xarray + h5netcdf (check_netcdf.py), and the command's errors (incomplete file,
not a results file, no interpreter, missing modules). Then a circuits sweep
(jobs/analysis_circuits.toml: pruning, edges, faithfulness) whose trajectory, survival, size,
edge-graph and faithfulness figures are read back and compared with its rows.
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
CIRCUITS_JOB = os.path.join(HERE, "jobs", "analysis_circuits.toml")
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

    check_circuits(csweep, work)

    if failures:
        raise SystemExit(f"{len(failures)} checks failed")
    print(f"analysis e2e: all checks passed ({len(s['figures'])} figures, {len(s['tables'])} "
          "tables)")


def _strings(g, c):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in g[c][...]]


def _mib(name):
    """'a0.h1' -> '0.1', 'm3' -> 'mlp3' (the analysis' spelling), 'a1.h0<q>' -> '1.0'."""
    name = name.split("<")[0]
    if name == "logits":
        return name
    if name.startswith("a"):
        layer, head = name[1:].split(".h")
        return f"{int(layer)}.{int(head)}"
    return f"mlp{int(name[1:])}"


def check_circuits(csweep, work):
    """Pruning trajectories, survival grids, circuit sizes, edge graphs and faithfulness curves
    of a real circuits sweep, each compared with the file's rows read here with h5py."""
    results = os.path.join(work, "circuits.h5")
    run([csweep, "run", CIRCUITS_JOB, "--output", results, "--no-summary"])
    out = os.path.join(work, "circuits_analysis")
    run([csweep, "analyze", results, "--out", out, "--figures"])
    with open(os.path.join(out, "summary.json")) as fh:
        s = json.load(fh)
    figs = {}
    for e in s["figures"]:
        figs.setdefault(e["kind"], []).append(e)
    with h5py.File(results, "r") as f:
        tasks = names(f, "task_names")
        c = {k: f["circuits"][k][...] for k in f["circuits"]}
        order = _strings(f["circuits"], "order")
        st = {k: f["pruning_steps"][k][...] for k in f["pruning_steps"]}
        st_comp = _strings(f["pruning_steps"], "component")
        spec = json.loads(f["tables/circuits"].attrs["spec"])
        pool = spec["resolved"][0]["pool"]
        ec = {k: f["edge_circuits"][k][...] for k in f["edge_circuits"]}
        ed = {k: f["edges"][k][...] for k in f["edges"]}
        ed_edge = _strings(f["edges"], "edge")
        ed_ch = _strings(f["edges"], "channel")
        fc = {k: f["faithfulness_curves"][k][...] for k in f["faithfulness_curves"]}
        fp = {k: f["faithfulness"][k][...] for k in f["faithfulness"]}
    L = max(int(p[3:]) if p.startswith("mlp") else int(p.split(".")[0]) for p in pool) + 1
    H = max(int(p.split(".")[1]) for p in pool if not p.startswith("mlp")) + 1
    thresholds = sorted(set(float(t) for t in c["threshold"]))

    # trajectories: one figure per threshold (reference order), one panel per task
    check(len(figs.get("trajectory", [])) == len(thresholds), "one trajectory figure per T")
    for e in figs.get("trajectory", []):
        T = next(tr for tr in s["trajectories"] if tr["id"] == e["ref"]["trajectory"])
        T = T["setting"]["threshold"]
        fig = report_figures.draw(s, e)
        panels = [ax for ax in fig.axes if ax.collections]
        check(len(panels) == len(tasks), f"{e['name']}: one panel per task")
        for ax, task in zip(panels, tasks):
            row = np.nonzero((c["task"] == tasks.index(task)) & (c["threshold"] == T) &
                             (np.array(order) == "reference"))[0][0]
            sel = np.nonzero((st["task"] == tasks.index(task)) &
                             (st["circuit"] == c["circuit"][row]))[0]
            sel = sel[np.argsort(st["step"][sel])]
            perf, rem = st["performance"][sel], st["removed"][sel] == 1
            drawn = {col.get_gid(): np.asarray(col.get_offsets()) for col in ax.collections}
            k = np.arange(len(sel))
            check(np.allclose(drawn["removed"], np.c_[k[rem], perf[rem]], atol=TOL) and
                  np.allclose(drawn["kept"], np.c_[k[~rem], perf[~rem]], atol=TOL),
                  f"{e['name']}/{task}: removed and kept points are the steps")
            lines = {ln.get_gid(): ln for ln in ax.get_lines()}
            check(np.allclose(lines["threshold"].get_ydata(), 100.0 - T),
                  f"{e['name']}: threshold line at 100 - T")
            n_bound = int((np.diff(st["pass"][sel]) != 0).sum())
            check(sum(ln.get_gid() == "pass_boundary" for ln in ax.get_lines()) == n_bound,
                  f"{e['name']}/{task}: one separator per new pass")
            check([t.get_text() for t in ax.get_xticklabels()][1:] ==
                  [st_comp[i] for i in sel], f"{e['name']}/{task}: candidates as x ticks")

    # survival: counts over the random orders only, layer x head grid + MLP column
    random_rows = np.array([o.startswith("random") for o in order])
    check(len(figs.get("survival", [])) == len(thresholds), "one survival figure per T")
    for e in figs.get("survival", []):
        T = next(sv for sv in s["survival"] if sv["id"] == e["ref"]["survival"])
        T = T["setting"]["threshold"]
        fig = report_figures.draw(s, e)
        n = int(random_rows.sum() // len(tasks) // len(thresholds))
        check(f"N = {n}" in fig._suptitle.get_text(), f"{e['name']}: N = {n} in the title")
        for task in tasks:
            rows = np.nonzero(random_rows & (c["task"] == tasks.index(task)) &
                              (c["threshold"] == T))[0]
            counts = (c["kept"][rows, :len(pool)] == 1).sum(axis=0)
            want = np.full((L, H + 2), np.nan)
            for name, k in zip(pool, counts):
                if name.startswith("mlp"):
                    want[int(name[3:]), H + 1] = k
                else:
                    layer, head = map(int, name.split("."))
                    want[layer, head] = k
            im = [i for ax in fig.axes for i in ax.images if i.get_gid() == "survival:" + task]
            check(len(im) == 1 and np.array_equal(
                np.ma.filled(im[0].get_array().astype(float), np.nan), want, equal_nan=True),
                f"{e['name']}/{task}: grid = kept counts over {len(rows)} random orders")

    # sizes: one figure per task, reference line and random dots from /circuits
    check(sorted(e["ref"]["task"] for e in figs.get("size_vs_threshold", [])) == sorted(tasks),
          "one size figure per task")
    for e in figs.get("size_vs_threshold", []):
        task = e["ref"]["task"]
        fig = report_figures.draw(s, e)
        axes = [ax for ax in fig.axes if ax.get_ylabel()]
        for ax, col in zip(axes, ("n_heads", "n_mlps")):
            what = "heads" if col == "n_heads" else "mlps"
            mine = c["task"] == tasks.index(task)
            ref = [int(c[col][np.nonzero(mine & (c["threshold"] == T) &
                                         (np.array(order) == "reference"))[0][0]])
                   for T in thresholds]
            ln = [x for x in ax.get_lines() if x.get_gid() == f"order:reference:{what}"]
            check(len(ln) == 1 and list(ln[0].get_ydata()) == ref,
                  f"{e['name']}: reference {what} per threshold")
            for T in thresholds:
                want = sorted(int(v) for v in c[col][mine & random_rows & (c["threshold"] == T)])
                dots = [x for x in ax.collections if x.get_gid() == f"random:{what}:{T:g}"]
                check(len(dots) == 1 and sorted(int(y) for _, y in dots[0].get_offsets()) == want,
                      f"{e['name']}: random orders' {what} at T = {T:g}")

    # edges: the kept /edges rows of each circuit, in the analysis' names
    check(len(figs.get("edge_graph", [])) == len(ec["task"]), "one edge graph per edge circuit")
    for i in range(len(ec["task"])):
        task = tasks[ec["task"][i]]
        e = next(x for x in figs.get("edge_graph", [])
                 if x["ref"]["edge_circuit"].startswith(f"edges_{task}_"))
        rows = np.nonzero((ed["task"] == ec["task"][i]) & (ed["circuit"] == ec["circuit"][i]) &
                          (ed["kept"] == 1))[0]
        want = {f"{_mib(ed_edge[r].split('->')[0])}->{_mib(ed_edge[r].split('->')[1])}:"
                f"{ed_ch[r]}" for r in rows}
        got = figures.read_edge_graph(report_figures.draw(s, e))
        check(got == want and len(want) == int(ec["n_kept"][i]),
              f"{e['name']}: the {len(want)} kept edges drawn")

    # faithfulness: integer-size points as the line, MIB points as squares, CPR / CMD printed
    (e,) = figs.get("faithfulness", [None])
    fig = report_figures.draw(s, e)
    panels = [ax for ax in fig.axes if ax.get_lines()]
    for ax, task in zip(panels, tasks):
        t = tasks.index(task)
        line = np.nonzero((fp["task"] == t) & (fp["mib"] == 0))[0]
        line = line[np.argsort(fp["size"][line])]
        (curve,) = [x for x in ax.get_lines() if x.get_gid() == "curve"]
        check(np.allclose(curve.get_ydata(), fp["faithfulness"][line], atol=TOL) and
              np.allclose(curve.get_xdata(), fp["fraction"][line], atol=TOL),
              f"faithfulness/{task}: curve = the file's points")
        mib = np.nonzero((fp["task"] == t) & (fp["mib"] == 1))[0]
        mib = mib[np.argsort(fp["fraction"][mib])]
        (sq,) = [x for x in ax.collections if x.get_gid() == "mib"]
        check(np.allclose(sq.get_offsets(), np.c_[fp["fraction"][mib], fp["faithfulness"][mib]],
                          atol=TOL), f"faithfulness/{task}: MIB points")
        k = np.nonzero(fc["task"] == t)[0][0]
        text = next(x.get_text() for x in ax.texts if x.get_gid() == "scores")
        check(f"CPR = {fc['cpr'][k]:.3f}" in text and f"CMD = {fc['cmd'][k]:.3f}" in text,
              f"faithfulness/{task}: CPR and CMD printed")
    print(f"analysis e2e: circuits sweep, {len(s['figures'])} figures checked against the file")


if __name__ == "__main__":
    main()
