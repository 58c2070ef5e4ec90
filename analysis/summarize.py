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


if __name__ == "__main__":
    main()
