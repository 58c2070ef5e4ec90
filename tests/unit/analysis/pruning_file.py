"""Writes synthetic results files with pruning tables, column by column as reducers/writer.cpp
does: every column of reducers/schema.hpp's kCircuitColumns / kPruningStepColumns /
kCrossTaskColumns (read from the header, so a column added there fails here until written),
with its dims, unit and doc attributes; strings fixed-length UTF-8."""
import json
import os
import re

import h5py
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DTYPES = {"kInt8": np.int8, "kInt32": np.int32, "kInt64": np.int64, "kUInt64": np.uint64,
          "kFloat32": np.float32, "kFloat64": np.float64, "kString": None}
EXPERIMENT = ["model", "seed", "task", "corruption", "ablation", "metric_set"]
METRICS = ["logit_diff", "performance", "normalized", "kl", "prob_correct", "accuracy",
           "prob_diff"]


def schema(array):
    with open(os.path.join(ROOT, "reducers", "schema.hpp"), encoding="utf-8") as f:
        text = f.read()
    body = re.search(r"Column " + array + r"\[\] = \{(.*?)\n\};", text, re.S).group(1)
    out = []
    for m in re.finditer(r'\{"(\w+)", DType::(\w+), "([^"]*)", "([^"]*)",\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\}',
                         body):
        doc = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(5))).replace('\\"', '"')
        out.append((m.group(1), m.group(2), m.group(3), m.group(4), doc))
    return out


def write_group(f, name, array, data):
    """One table: the experiment columns, then `array`'s columns, each from data[column]."""
    g = f.create_group(name)
    cols = schema("kExperimentColumns") + schema(array)
    for col, dt, dims, unit, doc in cols:
        v = data[col]  # KeyError = a schema column the test did not write
        if DTYPES[dt] is None:
            width = max([1] + [len(x.encode()) for x in v])
            # H5T_C_S1, NUL-padded, UTF-8, as wide as the longest value (writer.cpp)
            tid = h5py.h5t.C_S1.copy()
            tid.set_size(width)
            tid.set_strpad(h5py.h5t.STR_NULLPAD)
            tid.set_cset(h5py.h5t.CSET_UTF8)
            space = h5py.h5s.create_simple((len(v),))
            ds = h5py.Dataset(h5py.h5d.create(g.id, col.encode(), tid, space))
            if len(v):
                ds.id.write(h5py.h5s.ALL, h5py.h5s.ALL,
                            np.array([x.encode() for x in v], dtype=f"S{width}"), mtype=tid)
        else:
            ds = g.create_dataset(col, data=np.asarray(v, dtype=DTYPES[dt]))
        ds.attrs["dims"], ds.attrs["unit"], ds.attrs["doc"] = dims, unit, doc
    return g


def write(path, tasks, pool, spec, circuits, steps, cross, model="m"):
    """circuits: [{task, circuit, threshold, threshold_index, order, kept (list), performance}];
    steps: [{task, circuit, step, pass, position, component, performance, removed}];
    cross: [{task (evaluated on), circuit, circuit_task, components (list), performance}]."""
    spec = dict(spec, name="circuits", kind="pruning",
                resolved=[{"model": model, "size": 0, "pool": pool}])
    with h5py.File(path, "w") as f:
        f.attrs["format_version"] = 3
        f.attrs["complete"] = 1
        for attr, v in [("model_names", [model]), ("task_names", tasks),
                        ("corruption_names", ["randAll"]), ("ablation_names", ["mean"]),
                        ("metric_sets", [json.dumps(["logit_diff", "performance"])]),
                        ("family_names", ["circuits"])]:
            f.attrs.create(attr, v, dtype=h5py.string_dtype())
        f.attrs["seeds"] = np.array([0], dtype=np.int64)
        b = f.create_group("baselines")
        for c in EXPERIMENT:
            b[c] = np.array([tasks.index(t) if c == "task" else 0 for t in tasks], np.int32)
        for col, dt, dims, unit, doc in schema("kBaselineColumns"):
            b[col] = np.full(len(tasks), -1.0 if col.startswith("corrupted") else 1.0,
                             dtype=DTYPES[dt])
        t = f.create_group("tables").create_group("circuits")
        t.attrs["kind"], t.attrs["spec"] = "pruning", json.dumps(spec)
        n = len(circuits)
        for c in EXPERIMENT:
            t[c] = np.array([tasks.index(r["task"]) if c == "task" else 0 for r in circuits],
                            np.int32)
        removed = [[p for p, k in zip(pool, r["kept"]) if k == 0] for r in circuits]
        w = max([1] + [len(x) for x in removed])
        kind = np.full((n, w), -1, np.int8)
        layer = np.full((n, w), -1, np.int32)
        index = np.full((n, w), -1, np.int32)
        for i, rm in enumerate(removed):
            for j, name in enumerate(rm):
                if name.startswith("mlp"):
                    kind[i, j], layer[i, j], index[i, j] = 1, int(name[3:]), 0
                else:
                    kind[i, j], layer[i, j], index[i, j] = 0, *map(int, name.split("."))
        t["component_kind"], t["component_layer"], t["component_index"] = kind, layer, index
        t["intervention"] = np.array([r["circuit"] for r in circuits], np.uint64)
        t["position"] = np.full(n, -1, np.int32)
        t["performance"] = np.array([r["performance"] for r in circuits])
        nan = lambda k: [float("nan")] * k  # noqa: E731
        cd = {"model": [0] * n, "seed": [0] * n, "task": [tasks.index(r["task"]) for r in circuits],
              "corruption": [0] * n, "ablation": [0] * n, "metric_set": [0] * n,
              "family": [0] * n, "circuit": [r["circuit"] for r in circuits],
              "threshold": [r["threshold"] for r in circuits],
              "threshold_index": [r["threshold_index"] for r in circuits],
              "order_kind": [0 if r["order"] == "reference" else 1 if r["order"] == "reversed"
                             else 2 for r in circuits],
              "order_seed": [int(r["order"].split("#")[1]) if "#" in r["order"] else 0
                             for r in circuits],
              "order": [r["order"] for r in circuits],
              "nested": [int(spec.get("nested", False))] * n,
              "kept": [r["kept"] for r in circuits],
              "components": [r.get("components_text", "+".join(
                  p for p, k in zip(pool, r["kept"]) if k == 1)) for r in circuits],
              "n_heads": [sum(k == 1 and not p.startswith("mlp") for p, k in zip(pool, r["kept"]))
                          for r in circuits],
              "n_mlps": [sum(k == 1 and p.startswith("mlp") for p, k in zip(pool, r["kept"]))
                         for r in circuits],
              "passes": [2] * n, "evaluations": [len(pool) * 2] * n,
              **{m: nan(n) for m in METRICS}}
        cd["performance"] = [r["performance"] for r in circuits]
        cd["family"] = [r.get("family", 0) for r in circuits]
        write_group(f, "circuits", "kCircuitColumns", cd)
        n = len(steps)
        sd = {**{c: [0] * n for c in EXPERIMENT}, "task": [tasks.index(s["task"]) for s in steps],
              "family": [0] * n, **{k: [s[k] for s in steps] for k in
                                    ("circuit", "step", "pass", "position", "component",
                                     "performance", "removed")},
              "component_kind": [1 if s["component"].startswith("mlp") else 0 for s in steps],
              "component_layer": [int(s["component"][3:]) if s["component"].startswith("mlp")
                                  else int(s["component"].split(".")[0]) for s in steps],
              "component_index": [0 if s["component"].startswith("mlp")
                                  else int(s["component"].split(".")[1]) for s in steps]}
        write_group(f, "pruning_steps", "kPruningStepColumns", sd)
        if cross:
            n = len(cross)
            xd = {**{c: [0] * n for c in EXPERIMENT},
                  "task": [tasks.index(x["task"]) for x in cross], "family": [0] * n,
                  "circuit": [x["circuit"] for x in cross],
                  "circuit_task": [x["circuit_task"] for x in cross],
                  "components": ["+".join(x["components"]) for x in cross],
                  "n_components": [len(x["components"]) for x in cross],
                  **{m: nan(n) for m in METRICS}}
            xd["performance"] = [x["performance"] for x in cross]
            write_group(f, "cross_task", "kCrossTaskColumns", xd)


def write_stages(path, tasks, edge_circuits=(), edges=(), curves=(), points=()):
    """Appends the circuit-stage groups to a file written by write():
    edge_circuits: [{task, stage, circuit, source, threshold, order, components (list),
    circuit_performance, recheck_performance}] (n_candidates / n_kept counted from edges unless
    given); edges: [{task, stage, circuit, edge (MIB, "a0.h1->a1.h0<q>"), effect, kept}] (the
    integer columns are parsed from the MIB name here); curves: [{task, stage, curve, source,
    n_items, m_full, m_empty, cpr, cmd}]; points: [{task, stage, curve, size, fraction, mib,
    score, faithfulness}]."""
    def exp(rows):
        return {**{c: [0] * len(rows) for c in EXPERIMENT},
                "task": [tasks.index(r["task"]) for r in rows]}

    def node(name):
        m = re.match(r"^a(\d+)\.h(\d+)$", name)
        return (0, int(m.group(1)), int(m.group(2))) if m else (1, int(name[1:]), 0)

    with h5py.File(path, "a") as f:
        if edge_circuits:
            n = len(edge_circuits)
            key = lambda r: (r["task"], r["stage"], r["circuit"])  # noqa: E731
            cand = {key(c): [e for e in edges if key(e) == key(c)] for c in edge_circuits}
            d = {**exp(edge_circuits), **{k: [c[k] for c in edge_circuits] for k in
                                          ("stage", "circuit", "source", "threshold", "order",
                                           "circuit_performance", "recheck_performance")},
                 "components": ["+".join(c["components"]) for c in edge_circuits],
                 "n_components": [len(c["components"]) for c in edge_circuits],
                 "n_candidates": [c.get("n_candidates", len(cand[key(c)]))
                                  for c in edge_circuits],
                 "n_kept": [c.get("n_kept", sum(e["kept"] for e in cand[key(c)]))
                            for c in edge_circuits],
                 "inside": [1] * n, "ratio_rule": [0.8] * n, "effect_rule": [0.0] * n,
                 "clean_logit_diff": [2.0] * n, "corrupted_logit_diff": [-1.0] * n,
                 "circuit_logit_diff": [1.6] * n, "recheck_logit_diff": [1.2] * n,
                 "recheck_normalized": [0.7] * n}
            write_group(f, "edge_circuits", "kEdgeCircuitColumns", d)
            rows = []
            for e in edges:
                s, r = e["edge"].split("->")
                sk, sl, si = node(s)
                m = re.match(r"^a(\d+)\.h(\d+)<([qkv])>$", r)
                if m:
                    ch, rl, rh = m.group(3), int(m.group(1)), int(m.group(2))
                elif r == "logits":
                    ch, rl, rh = "resid", -1, -1
                else:
                    ch, rl, rh = "mlp", int(r[1:]), -1
                rows.append({"sender": s, "sender_kind": sk, "sender_layer": sl,
                             "sender_index": si, "receiver": r, "channel": ch,
                             "receiver_layer": rl, "receiver_head": rh})
            d = {**exp(list(edges)), **{k: [e[k] for e in edges] for k in
                                        ("stage", "circuit", "edge", "effect", "kept")},
                 **{k: [r[k] for r in rows] for k in (rows[0] if rows else {})},
                 "logit_diff": [1.6 + e["effect"] * 3 for e in edges],
                 "ratio": [(1.6 + e["effect"] * 3) / 1.6 for e in edges]}
            write_group(f, "edges", "kEdgeColumns", d)
        if curves:
            n = len(curves)
            d = {**exp(curves), **{k: [c[k] for c in curves] for k in
                                   ("stage", "curve", "source", "n_items", "m_full", "m_empty",
                                    "cpr", "cmd")},
                 "level": ["nodes"] * n, "metric": ["logit_diff"] * n,
                 "average": [0.5] * n, "ranking": [c.get("ranking", "a0.h0") for c in curves]}
            write_group(f, "faithfulness_curves", "kFaithfulnessCurveColumns", d)
            d = {**exp(points), **{k: [p[k] for p in points] for k in
                                   ("stage", "curve", "size", "fraction", "mib", "score",
                                    "faithfulness")}}
            write_group(f, "faithfulness", "kFaithfulnessColumns", d)
