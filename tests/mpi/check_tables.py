"""Independent reader of csweep results files (h5py + numpy only, nothing of ours).

expected_rows(job_toml) enumerates the grid of a job spec with itertools and computes the
metrics of tests/mpi/hash_evaluator.hpp from that enumeration; table_rows(path) reads a results
file into the same shape. Comparing the two checks, independently of the C++ grid code, that
every intervention of the grid is in the file exactly once with the right values.
"""
import itertools
import json
import math
import tomllib

import h5py
import numpy as np

MASK64 = (1 << 64) - 1


def fnv1a64(text):
    h = 1469598103934665603
    for b in text.encode():
        h ^= b
        h = (h * 1099511628211) & MASK64
    return h


def component_name(kind, layer, index):
    return {0: f"{layer}.{index}", 1: f"mlp{layer}", 2: f"n{layer}.{index}"}[kind]


def component_key(name):
    """(layer, kind, index) order of a component name."""
    if name.startswith("mlp"):
        return (int(name[3:]), 1, 0)
    if name.startswith("n"):
        layer, idx = name[1:].split(".")
        return (int(layer), 2, int(idx))
    layer, idx = name.split(".")
    return (int(layer), 0, int(idx))


RECEIVER_KINDS = {0: "q", 1: "k", 2: "v"}


def receiver_name(kind, layer, head):
    if kind < 0:
        return ""
    if kind <= 2:
        return f"{layer}.{head}{RECEIVER_KINDS[kind]}"
    return f"mlp{layer}" if kind == 3 else "resid_final"


def receiver_time(name, n_layers):
    if name == "resid_final":
        return 2 * n_layers
    if name.startswith("mlp"):
        return 2 * int(name[3:]) + 1
    return 2 * int(name.split(".")[0])


def sender_time(name):
    layer, kind, _ = component_key(name)
    return 2 * layer + (1 if kind == 1 else 0)


def pool(fam, cfg, key="pool"):
    if "components" in fam:
        return sorted(fam["components"], key=component_key)
    kind = fam.get("pool", "heads")
    first, last = fam.get("layers", [0, cfg["n_layers"] - 1])
    out = []
    for layer in range(first, last + 1):
        if kind == "mlps":
            out.append(f"mlp{layer}")
        elif kind == "heads":
            for h in fam.get("heads", range(cfg["n_heads"])):
                out.append(f"{layer}.{h}")
        else:
            for n in fam.get("neurons", range(cfg["d_mlp"])):
                out.append(f"n{layer}.{n}")
    return sorted(out, key=component_key)


def members(fam, cfg):
    """(components tuple, positions text, receiver) for every member of a family."""
    positions = fam.get("positions", "all")
    pos_text = "all" if positions == "all" else ",".join(
        [str(p) for p in positions if isinstance(p, int)] + [p for p in positions if isinstance(p, str)])
    if fam["kind"] == "combinations":
        p = pool(fam, cfg)
        for k in fam["k"]:
            for c in itertools.combinations(p, k):
                yield c, pos_text, ""
    elif fam["kind"] == "subsets":
        p = pool(fam, cfg)
        for k in range(0 if fam.get("include_empty") else 1, len(p) + 1):
            for c in itertools.combinations(p, k):
                yield c, pos_text, ""
    elif fam["kind"] == "positions":
        for comp in pool(fam, cfg):
            for pos in fam["positions"]:
                yield (comp,), str(pos), ""
    elif fam["kind"] == "paths":
        senders = fam["senders"]
        senders = pool({"components": senders} if isinstance(senders, list) else senders, cfg)
        receivers = fam["receivers"]
        for s in senders:
            for r in receivers:
                if receiver_time(r, cfg["n_layers"]) > sender_time(s):
                    yield (s,), pos_text, r


def baseline(model, seed, task, corruption):
    h = fnv1a64(f"baseline|{model}|{seed}|{task}|{corruption}")
    clean = 3.0 + (h % 1000) / 1000.0
    corrupt = ((h >> 16) % 1000) / 1000.0 - 0.5
    return clean, corrupt


def expected_rows(job_path):
    """{family: {(exp tuple, components, position, receiver): (ld, perf, norm, kl, p, acc)}}"""
    with open(job_path, "rb") as f:
        job = tomllib.load(f)
    ex = job["experiments"]
    requested = set(ex.get("metrics", METRICS))
    job_ablations = ex.get("ablations", [])
    fam_ablations = [f.get("ablations", ["path_patch"] if f["kind"] == "paths" else job_ablations)
                     for f in job["families"]]
    ablations = list(job_ablations)
    for fa in fam_ablations:
        ablations += [a for a in fa if a not in ablations]
    out = {}
    for fi, fam in enumerate(job["families"]):
        rows = {}
        for mi, model in enumerate(job["models"]):
            cfg = model["config"]
            mem = list(members(fam, cfg))
            for si in range(len(ex.get("seeds", [0]))):
                for ti in range(len(job["tasks"])):
                    for ci in range(len(ex["corruptions"])):
                        clean, corrupt = baseline(mi, si, ti, ci)
                        for ai, a in enumerate(ablations):
                            if a not in fam_ablations[fi]:
                                continue
                            exp = (mi, si, ti, ci, ai, 0)
                            for comps, pos, rec in mem:
                                text = "|".join(str(x) for x in exp) + "|" + ",".join(comps) + "|" + pos + "|" + rec
                                h = fnv1a64(text)
                                ld = (h % 100000) / 1000.0 - 50.0
                                key = (exp, comps, pos if fam["kind"] == "positions" else "", rec)
                                assert key not in rows, key
                                values = (ld, 100.0 * ld / clean, (ld - corrupt) / (clean - corrupt),
                                          ((h >> 20) % 1000) / 1000.0, ((h >> 30) % 1000) / 1000.0,
                                          float((h >> 40) % 2))
                                # Metrics the spec does not request are stored as NaN.
                                rows[key] = tuple(v if m in requested else float("nan")
                                                  for m, v in zip(METRICS, values))
        out[fam["name"]] = rows
    return out


METRICS = ["logit_diff", "performance", "normalized", "kl", "prob_correct", "accuracy"]
EXP_COLS = ["model", "seed", "task", "corruption", "ablation", "metric_set"]


def table_rows(path):
    """Same shape as expected_rows, read from a results file; raises on duplicate rows."""
    out = {}
    with h5py.File(path, "r") as f:
        for name in f.attrs["family_names"]:
            g = f["tables"][name]
            labels = list(g.attrs["position_labels"])
            n = g["intervention"].shape[0]
            cols = {c: g[c][()] for c in EXP_COLS + METRICS + ["n_components", "component_kind",
                                                               "component_layer", "component_index",
                                                               "position", "receiver_kind",
                                                               "receiver_layer", "receiver_head"]}
            rows = {}
            for i in range(n):
                exp = tuple(int(cols[c][i]) for c in EXP_COLS)
                comps = tuple(component_name(int(cols["component_kind"][i, j]),
                                             int(cols["component_layer"][i, j]),
                                             int(cols["component_index"][i, j]))
                              for j in range(int(cols["n_components"][i])))
                pos = "" if cols["position"][i] < 0 else str(labels[cols["position"][i]])
                rec = receiver_name(int(cols["receiver_kind"][i]), int(cols["receiver_layer"][i]),
                                    int(cols["receiver_head"][i]))
                key = (exp, comps, pos, rec)
                if key in rows:
                    raise AssertionError(f"{path}: duplicate row {key} in {name}")
                rows[key] = tuple(float(cols[m][i]) for m in METRICS)
            out[name] = rows
    return out


def compare_to_expected(path, job_path):
    """Returns (lost, duplicated, wrong) counts; duplicates raise inside table_rows."""
    exp = expected_rows(job_path)
    got = table_rows(path)
    lost = wrong = extra = 0
    for fam, rows in exp.items():
        g = got.get(fam, {})
        lost += len(set(rows) - set(g))
        extra += len(set(g) - set(rows))
        for k in set(rows) & set(g):
            if any((math.isnan(a) != math.isnan(b)) or abs(a - b) > 1e-12 * max(1.0, abs(a))
                   for a, b in zip(rows[k], g[k]) if not (math.isnan(a) and math.isnan(b))):
                wrong += 1
    return lost, extra, wrong


def datasets(path):
    """Every dataset of the tables, baselines and ledger, as numpy arrays (for identity checks)."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
        attrs = {k: f.attrs[k] for k in ["model_names", "task_names", "corruption_names",
                                          "ablation_names", "family_names"]}
    return out, attrs


def identical(path_a, path_b):
    """'' when the two files hold identical tables, else a description of the first difference."""
    a, aa = datasets(path_a)
    b, ba = datasets(path_b)
    if sorted(a) != sorted(b):
        return f"different datasets: {sorted(set(a) ^ set(b))}"
    for k in a:
        if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape:
            return f"{k}: {a[k].dtype}{a[k].shape} vs {b[k].dtype}{b[k].shape}"
        if not np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f"):
            return f"{k}: values differ"
    for k in aa:
        if list(aa[k]) != list(ba[k]):
            return f"attribute {k} differs"
    return ""
