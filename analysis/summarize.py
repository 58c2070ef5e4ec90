#!/usr/bin/python3
"""Prints the largest effects of a circuitsweep results file, per experiment and family.

    analysis/summarize.py RESULTS.h5 [--top N] [--metric performance] [--allow-incomplete]

Reads the file with h5py only (the schema is documented in docs/SWEEPS.md and
reducers/schema.hpp): for each (model, task, corruption, ablation) experiment it shows the clean
and corrupted logit differences and, for every intervention family, the N interventions that
lower the metric most (performance 100 % = no effect; 0 % = the task's logit difference is gone).
Metrics an experiment's metric set did not request are NaN in the file and are not ranked.

A file whose root attribute "complete" is not 1 (an interrupted run, an unfinished shard) holds
only part of the grid: summarize prints "INCOMPLETE: x of y units" on stderr and exits 3, unless
--allow-incomplete is given (then it warns and summarises what is there).
"""
import argparse
import json
import sys

import h5py
import numpy as np


def names(root, attr):
    value = root.attrs.get(attr)
    if value is None:
        return []
    if isinstance(value, (bytes, str)):
        value = value.decode() if isinstance(value, bytes) else value
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return [value]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in value]


EXIT_INCOMPLETE = 3


def shard_coverage(f):
    """(units of the file's shard in its ledger, units of the shard): shard i of N of a T-unit
    grid is units [T*i//N, T*(i+1)//N) (docs/SWEEPS.md)."""
    if "ledger" not in f:
        return 0, None
    attrs = f["ledger"].attrs
    total = int(attrs.get("total_units", 0))
    index, count = int(attrs.get("shard_index", 0)), int(attrs.get("shard_count", 1))
    first, last = total * index // count, total * (index + 1) // count
    units = np.unique(f["ledger/unit"][...]) if "ledger/unit" in f else np.array([], dtype=np.uint64)
    return int(((units >= first) & (units < last)).sum()), last - first


def component_label(kind, layer, index):
    if kind == 0:
        return f"{layer}.{index}"
    if kind == 1:
        return f"mlp{layer}"
    if kind == 2:
        return f"n{layer}.{index}"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--top", type=int, default=5, help="interventions shown per family (default 5)")
    ap.add_argument("--metric", default="performance",
                    help="column to rank by, ascending (default performance)")
    ap.add_argument("--allow-incomplete", action="store_true",
                    help="summarise a partial file (complete != 1) instead of exiting 3")
    args = ap.parse_args()

    try:
        f = h5py.File(args.results, "r")
    except OSError as e:
        sys.exit(f"summarize: cannot open {args.results}: {e}")
    with f:
        tasks = names(f, "task_names")
        corruptions = names(f, "corruption_names")
        ablations = names(f, "ablation_names")
        models = names(f, "model_names")
        done, expected = shard_coverage(f)
        complete = f.attrs.get("complete")
        if complete is None or int(complete) != 1:
            print(f"summarize: INCOMPLETE: {done} of {expected} units in {args.results} "
                  f"(root attribute complete = {complete}); rerun the same `csweep run` to finish it"
                  + (", or merge all shards" if "ledger" in f and int(f["ledger"].attrs.get("shard_count", 1)) > 1 else ""),
                  file=sys.stderr)
            if not args.allow_incomplete:
                sys.exit(EXIT_INCOMPLETE)
        print(f"{args.results}: {done} of {expected} work units")
        base = f["baselines"]
        bkey = np.stack([base[c][...] for c in ("model", "task", "corruption", "ablation")], axis=1)
        for fam in f["tables"]:
            t = f["tables"][fam]
            kind = t.attrs.get("kind", b"")
            if (kind.decode() if isinstance(kind, bytes) else str(kind)) == "pruning":
                continue  # circuits: print_circuits below
            if args.metric not in t:
                sys.exit(f"summarize: family '{fam}' has no column '{args.metric}'")
            key = np.stack([t[c][...] for c in ("model", "task", "corruption", "ablation")], axis=1)
            metric = t[args.metric][...]
            kinds, layers, idx = (t["component_kind"][...], t["component_layer"][...],
                                  t["component_index"][...])
            # "9.1+4.4" per row (format 2); older files: built from the component_* columns.
            names_col = t["components"].asstr()[...] if "components" in t else None
            position = t["position"][...]
            labels = [p.decode() if isinstance(p, bytes) else str(p)
                      for p in t.attrs.get("position_labels", [])]
            for exp in np.unique(key, axis=0):
                rows = np.nonzero((key == exp).all(axis=1))[0]
                m, ti, ci, ai = (int(v) for v in exp)
                b = np.nonzero((bkey == exp).all(axis=1))[0]
                head = (f"[{models[m] if m < len(models) else m}] {tasks[ti]} / "
                        f"{corruptions[ci]} / {ablations[ai]} / {fam}")
                if len(b):
                    head += (f"  (clean LD {base['clean_logit_diff'][b[0]]:.3f}, corrupted LD "
                             f"{base['corrupted_logit_diff'][b[0]]:.3f}, clean acc "
                             f"{base['clean_accuracy'][b[0]]:.2f})")
                print(head)
                # Metrics an experiment did not request are stored as NaN (reducers/schema.hpp):
                # leave them out of the ranking, and say so when nothing is left.
                rows = rows[~np.isnan(metric[rows])]
                if len(rows) == 0:
                    print(f"    ({args.metric} was not requested by this experiment's metric set: "
                          f"all NaN; choose another --metric)")
                    continue
                order = rows[np.argsort(metric[rows], kind="stable")][: args.top]
                for r in order:
                    if names_col is not None:
                        text = names_col[r] or "(none)"
                    else:
                        comps = [component_label(k, l, i) for k, l, i in zip(kinds[r], layers[r], idx[r])]
                        text = "+".join(c for c in comps if c)
                    if position[r] >= 0:
                        text += f" @ {labels[position[r]] if position[r] < len(labels) else position[r]}"
                    print(f"    {text:<24} {args.metric} = {metric[r]:8.2f}")
        if "circuits" in f:
            print_circuits(f, models, tasks, corruptions, ablations)


def print_circuits(f, models, tasks, corruptions, ablations):
    """Per pruning family and experiment: the reference-order circuit at each threshold, how many
    orders keep each component at the lowest-performance threshold, and the cross-task table."""
    c = f["circuits"]
    families = names(f, "family_names")
    col = {k: (c[k].asstr()[...] if h5py.check_string_dtype(c[k].dtype) else c[k][...]) for k in c}
    setting = np.stack([col[k] for k in ("model", "corruption", "ablation", "family")], axis=1)
    for s in np.unique(setting, axis=0):
        m, ci, ai, fi = (int(v) for v in s)
        rows = np.nonzero((setting == s).all(axis=1))[0]
        print(f"[{models[m]}] circuits of family {families[fi]} ({corruptions[ci]} / {ablations[ai]}): "
              f"kept alone, performance in % of the clean LD")
        thresholds = sorted(set(float(x) for x in col["threshold"][rows]))
        for ti in sorted(set(int(x) for x in col["task"][rows])):
            tr = rows[col["task"][rows] == ti]
            for T in thresholds:
                ref = [r for r in tr if col["order"][r] == "reference" and float(col["threshold"][r]) == T]
                for r in ref:
                    print(f"    {tasks[ti]:<14} T = {T:<4g} {int(col['n_heads'][r]):3d} heads "
                          f"{int(col['n_mlps'][r]):2d} MLPs  perf {col['performance'][r]:7.2f}  "
                          f"{col['components'][r] or '(empty)'}")
            low = [r for r in tr if float(col["threshold"][r]) == thresholds[-1]]
            if len(low) > 1:
                counts = {}
                for r in low:
                    for comp in filter(None, col["components"][r].split("+")):
                        counts[comp] = counts.get(comp, 0) + 1
                top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                print(f"    {tasks[ti]:<14} T = {thresholds[-1]:g}: kept by k of {len(low)} orders: "
                      + " ".join(f"{k}:{v}" for k, v in top))
    if "cross_task" not in f:
        return
    x = f["cross_task"]
    xc = {k: (x[k].asstr()[...] if h5py.check_string_dtype(x[k].dtype) else x[k][...]) for k in x}
    # The reference order's circuits at each threshold (circuit index of the first order).
    for fi in sorted(set(int(v) for v in xc["family"])):
        g = f["tables"][families[fi]]
        spec = json.loads(g.attrs["spec"])
        n_t = len(spec["thresholds"])
        if spec["orders"][0] != "reference":
            continue
        for t, T in enumerate(spec["thresholds"]):
            sel = (xc["family"] == fi) & (xc["circuit"] == t)
            if not sel.any():
                continue
            on = sorted(set(int(v) for v in xc["task"][sel]))
            src = sorted(set(int(v) for v in xc["circuit_task"][sel]), key=lambda v: (v < 0, -v if v < 0 else v))
            label = lambda v: tasks[v] if v >= 0 else ("intersection" if v == -1 else "union")
            print(f"    cross-task ({families[fi]}, reference order, T = {T:g}): circuit of (rows) on task (columns)")
            print("    " + " " * 16 + "".join(f"{tasks[o][:12]:>13}" for o in on))
            for sv in src:
                vals = []
                for o in on:
                    r = np.nonzero(sel & (xc["task"] == o) & (xc["circuit_task"] == sv))[0]
                    vals.append(f"{xc['performance'][r[0]]:13.1f}" if len(r) else " " * 13)
                print(f"    {label(sv):<16}" + "".join(vals))


if __name__ == "__main__":
    main()
