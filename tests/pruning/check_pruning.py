#!/usr/bin/python3
"""Pruning end to end, read back with Debian's h5py only (registered by tests/pruning/suite.cmake).

  check_pruning.py --csweep BIN --mpirun MPIRUN --job prune.toml --workdir DIR

Runs `csweep run` on the job under mpirun (-np 2), then replays every pruning run from the file
alone, following the semantics of docs/PRUNING.md written out here independently:

  * the visiting sequence of each pass (reference: layers L-1..0 with the MLP first then heads
    0..H-1, then layers 0..L-1 with heads 0..H-1 then the MLP; reversed: back to front; random:
    Fisher-Yates over the pool with a SplitMix64 stream seeded with the order's seed), restricted
    to the components kept when the pass starts, skipping any removed earlier in the same pass;
  * the removal rule 100 - performance < T of every stored step;
  * passes until one removes nothing (one pass with one_iter), nested thresholds each from the
    previous circuit;
  * the circuit (kept mask, names, the table row's removed set), its kept-alone performance (that
    of the run's last removal, and above 100 - T), and the cross-task table (each circuit on its
    own task equals its own score; intersection and union are the set operations).
Then 2 shards merged with `csweep merge` must hold identical datasets, and `csweep cross-task` on
a shard is refused.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_pml="ob1", OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1")
MASK64 = (1 << 64) - 1
# The circuit kept alone is evaluated in another batch than the step that produced it; float32
# sums of a different batch composition differ by a few ulps of LD (~1e-6 relative), far below
# this bound in percent.
TOL_PP = 1e-3
EXP_COLS = ["model", "seed", "task", "corruption", "ablation", "metric_set"]


def fail(msg):
    print(f"[check_pruning] FAIL: {msg}", flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def log(msg):
    print(f"[check_pruning] {msg}", flush=True)


# ---- the loop's semantics, independently -----------------------------------------------------

def parse(name):
    """(layer, kind, index) with kind 0 head, 1 mlp: the pool's sort key."""
    if name.startswith("mlp"):
        return (int(name[3:]), 1, 0)
    layer, head = name.split(".")
    return (int(layer), 0, int(head))


def reference_sequence(pool):
    keys = [parse(c) for c in pool]
    layers = sorted({k[0] for k in keys})
    pos = {k: i for i, k in enumerate(keys)}
    heads = lambda l: [pos[k] for k in sorted(k for k in keys if k[0] == l and k[1] == 0)]
    mlp = lambda l: [pos[(l, 1, 0)]] if (l, 1, 0) in pos else []
    seq = []
    for l in reversed(layers):
        seq += mlp(l) + heads(l)
    for l in layers:
        seq += heads(l) + mlp(l)
    return seq


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def bounded(state, bound):
    # Reject draws below 2^64 mod bound, then reduce: exact, unbiased.
    threshold = (1 << 64) % bound
    while True:
        state, x = splitmix64(state)
        if x >= threshold:
            return state, x % bound


def random_permutation(n, seed):
    p, state = list(range(n)), seed & MASK64
    for i in range(n - 1, 0, -1):
        state, j = bounded(state, i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def order_sequence(pool, order):
    if order == "reference":
        return reference_sequence(pool)
    if order == "reversed":
        return reference_sequence(pool)[::-1]
    check(order.startswith("random#"), f"unknown order name {order!r}")
    return random_permutation(len(pool), int(order[len("random#"):]))


# ---- reading --------------------------------------------------------------------------------

def text(ds):
    return list(ds.asstr()[()])


def columns(g):
    return {k: (text(g[k]) if h5py.check_string_dtype(g[k].dtype) else g[k][()]) for k in g}


def check_metadata(f):
    """Every dataset of the pruning tables says what it is: dims, unit, doc."""
    for group in ("circuits", "pruning_steps", "cross_task"):
        check(group in f, f"/{group} missing")
        for name, ds in f[group].items():
            for a in ("dims", "unit", "doc"):
                check(a in ds.attrs, f"/{group}/{name} has no attribute {a}")
            dims = ds.attrs["dims"]
            dims = dims.decode() if isinstance(dims, bytes) else str(dims)
            check(len(dims.split(" ")) == ds.ndim, f"/{group}/{name}: dims {dims!r} for {ds.ndim}-D")


def replay(path):
    with h5py.File(path, "r") as f:
        check(int(f.attrs["complete"]) == 1, f"{path} not complete")
        check_metadata(f)
        tasks = text_attr(f, "task_names")
        families = text_attr(f, "family_names")
        specs = {}
        for fam in families:
            g = f["tables"][fam]
            kind = g.attrs["kind"]
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind != "pruning":
                continue
            spec = g.attrs["spec"]
            spec = json.loads(spec.decode() if isinstance(spec, bytes) else spec)
            table = columns(g)
            specs[families.index(fam)] = (spec, table)
        C = columns(f["circuits"])
        S = columns(f["pruning_steps"])
        X = columns(f["cross_task"])
    n_c = len(C["circuit"])
    check(n_c > 0, "no circuits")

    def exp_of(cols, i):
        return tuple(int(cols[c][i]) for c in EXP_COLS)

    steps = {}
    for i in range(len(S["circuit"])):
        key = (exp_of(S, i), int(S["family"][i]), int(S["circuit"][i]))
        steps.setdefault(key, []).append(i)
    circuits = {}
    for i in range(n_c):
        circuits[(exp_of(C, i), int(C["family"][i]), int(C["circuit"][i]))] = i

    expected_circuits = 0
    for fam, (spec, table) in specs.items():
        pool = spec["resolved"][0]["pool"]
        thresholds = spec["thresholds"]
        orders = spec["orders"]
        nested, one_iter = spec["nested"], spec["one_iter"]
        n_t = len(thresholds)
        check(thresholds == sorted(thresholds), f"family {fam}: thresholds not ascending")
        rows_of = {}
        for i in range(len(table["intervention"])):
            rows_of[(exp_of(table, i), int(table["intervention"][i]))] = i
        exps = sorted({e for (e, _) in rows_of})
        expected_circuits += len(exps) * len(orders) * n_t
        for exp in exps:
            for o, order in enumerate(orders):
                full = order_sequence(pool, order)
                check(sorted(set(full)) == list(range(len(pool))), f"{order}: not covering the pool")
                kept = set(range(len(pool)))
                last_removal_perf = 100.0
                runs = [list(range(n_t))] if nested else [[t] for t in range(n_t)]
                for run in runs:
                    if not nested:
                        kept = set(range(len(pool)))
                        last_removal_perf = 100.0
                    for t in run:
                        T = thresholds[t]
                        cid = o * n_t + t
                        key = (exp, fam, cid)
                        check(key in circuits, f"no /circuits row for {key}")
                        ci = circuits[key]
                        st = sorted(steps.get(key, []), key=lambda i: int(S["step"][i]))
                        k, passes = 0, 0
                        while True:
                            seq = [p for p in full if p in kept]  # kept when the pass starts
                            removed_any = False
                            for pos, p in enumerate(seq):
                                if p not in kept:  # removed earlier in this pass
                                    continue
                                check(k < len(st), f"{key}: steps end early (pass {passes}, position {pos})")
                                i = st[k]
                                k += 1
                                where = f"{key} step {int(S['step'][i])}"
                                check(int(S["pass"][i]) == passes, f"{where}: pass {S['pass'][i]} != {passes}")
                                check(int(S["position"][i]) == pos, f"{where}: position {S['position'][i]} != {pos}")
                                check(S["component"][i] == pool[p],
                                      f"{where}: candidate {S['component'][i]} != {pool[p]} ({order})")
                                perf = float(S["performance"][i])
                                removed = 100.0 - perf < T
                                check(bool(S["removed"][i]) == removed,
                                      f"{where}: removed={S['removed'][i]} but 100 - {perf} vs T = {T}")
                                if removed:
                                    kept.discard(p)
                                    removed_any = True
                                    last_removal_perf = perf
                            passes += 1
                            if one_iter or not removed_any:
                                break
                        check(k == len(st), f"{key}: {len(st) - k} steps beyond the replayed loop")
                        check(int(C["passes"][ci]) == passes, f"{key}: passes {C['passes'][ci]} != {passes}")
                        check(int(C["evaluations"][ci]) == len(st), f"{key}: evaluations")
                        mask = [int(x) for x in C["kept"][ci][: len(pool)]]
                        check(mask == [int(j in kept) for j in range(len(pool))], f"{key}: kept mask")
                        check(all(int(x) == -1 for x in C["kept"][ci][len(pool):]), f"{key}: padding")
                        names = "+".join(pool[j] for j in sorted(kept))
                        check(C["components"][ci] == names, f"{key}: components {C['components'][ci]!r} != {names!r}")
                        check(int(C["n_heads"][ci]) == sum(not pool[j].startswith("mlp") for j in kept), "n_heads")
                        check(int(C["n_mlps"][ci]) == sum(pool[j].startswith("mlp") for j in kept), "n_mlps")
                        check(float(C["threshold"][ci]) == T and int(C["threshold_index"][ci]) == t, f"{key}: threshold")
                        check(C["order"][ci] == order, f"{key}: order {C['order'][ci]} != {order}")
                        row = rows_of[(exp, cid)]
                        removed_names = "+".join(pool[j] for j in range(len(pool)) if j not in kept)
                        check(table["components"][row] == removed_names,
                              f"{key}: table row ablates {table['components'][row]!r}, expected {removed_names!r}")
                        perf = float(C["performance"][ci])
                        check(abs(perf - float(table["performance"][row])) == 0, f"{key}: table/circuit perf")
                        check(abs(perf - last_removal_perf) < TOL_PP,
                              f"{key}: kept alone {perf} != last removal's {last_removal_perf}")
                        check(perf > 100.0 - T - TOL_PP, f"{key}: circuit performance {perf} below 100 - T")
    check(n_c == expected_circuits, f"{n_c} circuits, expected {expected_circuits}")

    # Cross-task: every circuit on every task of its setting, plus intersection and union.
    by_setting = {}
    for key, ci in circuits.items():
        exp, fam, cid = key
        setting = (exp[:2] + exp[3:], fam, cid)
        by_setting.setdefault(setting, {})[exp[2]] = ci
    xrows = {}
    for i in range(len(X["circuit"])):
        e = exp_of(X, i)
        xrows[(e[:2] + e[3:], int(X["family"][i]), int(X["circuit"][i]), e[2], int(X["circuit_task"][i]))] = i
    n_expected = 0
    for setting, own in by_setting.items():
        sets = {t: set(filter(None, C["components"][ci].split("+"))) for t, ci in own.items()}
        sources = dict(sets)
        if len(sets) >= 2:
            sources[-1] = set.intersection(*sets.values())
            sources[-2] = set.union(*sets.values())
        for on in own:
            for src, comps in sources.items():
                key = setting + (on, src)
                check(key in xrows, f"/cross_task lacks circuit of {src} on task {on} for {setting}")
                i = xrows[key]
                got = set(filter(None, X["components"][i].split("+")))
                check(got == comps, f"/cross_task {key}: components {got} != {comps}")
                check(int(X["n_components"][i]) == len(comps), f"/cross_task {key}: n_components")
                if src == on:
                    a, b = float(X["performance"][i]), float(C["performance"][own[on]])
                    check(abs(a - b) < TOL_PP, f"/cross_task {key}: own-task score {a} != circuit's {b}")
                n_expected += 1
    check(len(X["circuit"]) == n_expected, f"/cross_task has {len(X['circuit'])} rows, expected {n_expected}")
    log(f"{path}: {n_c} circuits, {len(S['circuit'])} steps and {n_expected} cross-task rows replayed "
        f"({', '.join(tasks)})")
    return C


def text_attr(f, name):
    v = f.attrs[name]
    if isinstance(v, (bytes, str)):
        v = v.decode() if isinstance(v, bytes) else v
        return json.loads(v) if v.startswith("[") else [v]
    return [x.decode() if isinstance(x, bytes) else str(x) for x in np.atleast_1d(v)]


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def strs(v):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in np.atleast_1d(v)]


def node_name(c):
    """MIB spelling of a component name ("0.1" -> "a0.h1", "mlp3" -> "m3")."""
    return "m" + c[3:] if c.startswith("mlp") else "a{}.h{}".format(*c.split("."))


def expected_edges(components, n_heads):
    """Every edge among a circuit's nodes, enumerated here from the graph's definition
    (docs/ENGINE.md "Edges"): a head sends to later heads' q/k/v, to MLPs of its own and later
    layers and to the logits; an MLP to later heads, later MLPs and the logits. The default model
    has one key-value head per head."""
    nodes = []
    for c in components:
        if c.startswith("mlp"):
            nodes.append(("m", int(c[3:]), 0))
        else:
            l, h = c.split(".")
            nodes.append(("a", int(l), int(h)))
    out = set()
    for s in nodes:
        sn = f"a{s[1]}.h{s[2]}" if s[0] == "a" else f"m{s[1]}"
        for r in nodes:
            if r[0] == "a" and r[1] > s[1]:
                for ch in "qkv":
                    out.add(f"{sn}->a{r[1]}.h{r[2]}<{ch}>")
            if r[0] == "m" and (r[1] > s[1] or (s[0] == "a" and r[1] == s[1])):
                out.add(f"{sn}->m{r[1]}")
        out.add(f"{sn}->logits")
    return out


def check_stages(path):
    """The circuit stages' tables against the definitions and the other tables of the file."""
    with h5py.File(path, "r") as f:
        ec, ed = f["edge_circuits"], f["edges"]
        circ = f["circuits"]
        fam_names = strs(f.attrs["family_names"])
        n_heads = 4  # the default model: 4 layers of 4 heads (models/default/config.json)
        # /circuits rows by (experiment, circuit index) of family "nested"
        exp_cols = ["model", "seed", "task", "corruption", "ablation", "metric_set"]
        def exps(g):
            return list(zip(*[g[c][()] for c in exp_cols]))
        c_rows = {}
        fam = circ["family"][()]
        for i, e in enumerate(exps(circ)):
            if fam_names[fam[i]] == "nested":
                c_rows[(e, int(circ["circuit"][i]))] = i
        edge_names = strs(ed["edge"][()])
        e_exps = exps(ed)
        n_circuits = 0
        for i, e in enumerate(exps(ec)):
            cid = int(ec["circuit"][i])
            comps = strs(ec["components"][i])[0].split("+")
            sel = [j for j in range(len(edge_names)) if e_exps[j] == e and int(ed["circuit"][j]) == cid]
            names = {edge_names[j] for j in sel}
            want = expected_edges(comps, n_heads)
            check(names == want and len(sel) == len(want),
                  f"edge circuit {comps}: /edges holds {sorted(names ^ want)} beyond/short of the graph")
            check(int(ec["n_candidates"][i]) == len(want), "n_candidates")
            ld_c = ec["circuit_logit_diff"][i]
            # The circuit with every edge is the circuit kept alone: /circuits' own evaluation.
            j = c_rows[(e, cid)]
            check(abs(ld_c - circ["logit_diff"][j]) <= 1e-4 * max(1.0, abs(ld_c)),
                  f"circuit LD {ld_c} vs /circuits {circ['logit_diff'][j]}")
            check(strs(circ["components"][j])[0] == "+".join(comps), "edge circuit = its pruning circuit")
            span = ec["clean_logit_diff"][i] - ec["corrupted_logit_diff"][i]
            kept = 0
            for k in sel:
                ld = ed["logit_diff"][k]
                check(abs(ed["ratio"][k] - ld / ld_c) <= 1e-12 * max(1, abs(ld / ld_c)), "ratio")
                check(abs(ed["effect"][k] - (ld - ld_c) / span) <= 1e-12 * max(1, abs(ed["effect"][k])), "effect")
                rule = ed["ratio"][k] < ec["ratio_rule"][i]
                check(bool(ed["kept"][k]) == rule, f"keep decision of {edge_names[k]}")
                kept += int(ed["kept"][k])
            check(kept == int(ec["n_kept"][i]), "n_kept")
            check(0 < kept < len(want), f"{comps}: {kept} of {len(want)} edges kept (a non-trivial pruning)")
            n_circuits += 1
        check(n_circuits == 2 * 2, f"{n_circuits} edge circuits (2 tasks x reference, reversed at T = 20)")

        fc, fp = f["faithfulness_curves"], f["faithfulness"]
        singles = f["tables/singles"]
        base = f["baselines"]
        b_ld = {e: base["clean_logit_diff"][i] for i, e in enumerate(exps(base))}
        s_exps = exps(singles)
        p_exps = exps(fp)
        for i, e in enumerate(exps(fc)):
            # The ranking: heads by |LD_clean - LD ablated|, from the single-ablation table.
            rows = [j for j in range(len(s_exps)) if s_exps[j] == e]
            comp_names = strs(singles["components"][()])
            scores = []
            for j in rows:
                scores.append((comp_names[j], abs(b_ld[e] - singles["logit_diff"][j])))
            order = [node_name(c) for c, _ in sorted(scores, key=lambda t: -t[1])]
            check(strs(fc["ranking"][i])[0].split(" ") == order, "ranking != |single-head effect| order")
            n = int(fc["n_items"][i])
            check(n == len(rows), "n_items")
            pts = [j for j in range(len(p_exps)) if p_exps[j] == e]
            size = {int(fp["size"][j]): fp["faithfulness"][j] for j in pts}
            check(size[n] == 1.0 and size[0] == 0.0, f"f(full) {size[n]}, f(empty) {size[0]}: not 1 and 0")
            check(abs(fc["m_full"][i] - b_ld[e]) <= 1e-4 * abs(b_ld[e]), "m(M) != clean LD")
            for j in pts:
                f_ = (fp["score"][j] - fc["m_empty"][i]) / (fc["m_full"][i] - fc["m_empty"][i])
                check(abs(fp["faithfulness"][j] - f_) <= 1e-12, "f != (m - m_empty) / (m_full - m_empty)")
            mib = sorted((fp["fraction"][j], fp["faithfulness"][j]) for j in pts if fp["mib"][j])
            check([round(x, 6) for x, _ in mib] == [.001, .002, .005, .01, .02, .05, .1, .2, .5, 1],
                  "MIB fractions")
            x = np.array([p for p, _ in mib]); y = np.array([v for _, v in mib])
            cpr = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
            cmd = float(np.sum(np.diff(x) * (np.abs(1 - y[1:]) + np.abs(1 - y[:-1])) / 2))
            check(abs(cpr - fc["cpr"][i]) <= 1e-12 and abs(cmd - fc["cmd"][i]) <= 1e-12,
                  f"CPR/CMD {fc['cpr'][i]}/{fc['cmd'][i]} != recomputed {cpr}/{cmd}")
        check(len(fc["stage"]) == 2, "one curve per task")
    mib_json = path[:-3] + ".faithfulness.json"
    with open(mib_json) as fh:
        doc = json.load(fh)
    check(len(doc["curves"]) == 2 and all("area_under" in c and "faithfulnesses" in c for c in doc["curves"]),
          f"{mib_json}: MIB layout")
    log(f"{n_circuits} edge circuits and 2 faithfulness curves consistent with the graph, /circuits, "
        f"/baselines and the single-head table; CPR/CMD recomputed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csweep", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--job", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)

    def run(*args, np_=2, ok=True):
        cmd = ([a.mpirun, "-np", str(np_), a.csweep] if np_ else [a.csweep]) + list(args)
        p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=500, cwd=a.workdir)
        if ok:
            check(p.returncode == 0, f"{' '.join(cmd)}: exit {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    out = os.path.join(a.workdir, "prune.h5")
    run("run", a.job, "--output", out)
    replay(out)
    check_stages(out)

    s0, s1 = os.path.join(a.workdir, "s0.h5"), os.path.join(a.workdir, "s1.h5")
    run("run", a.job, "--output", s0, "--shard", "0/2", np_=1)
    run("run", a.job, "--output", s1, "--shard", "1/2")
    with h5py.File(s0, "r") as f:
        check("cross_task" not in f, "a shard holds cross-task scores")
    p = run("cross-task", s0, np_=0, ok=False)
    check(p.returncode != 0 and "whole grid" in p.stderr, f"cross-task on a shard: exit {p.returncode}\n{p.stderr}")
    merged = os.path.join(a.workdir, "merged.h5")
    run("merge", merged, s0, s1, np_=0)
    replay(merged)
    da, db = datasets(out), datasets(merged)
    check(sorted(da) == sorted(db), f"datasets differ: {sorted(set(da) ^ set(db))}")
    for k in da:
        check(np.array_equal(da[k], db[k], equal_nan=da[k].dtype.kind == "f"), f"merged {k} differs from -np 2")
    log("2 merged shards == one run, dataset by dataset")


if __name__ == "__main__":
    main()
