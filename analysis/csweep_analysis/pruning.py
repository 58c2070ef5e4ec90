"""Circuits of pruning families, read from a results file's /circuits, /pruning_steps and
/cross_task tables (reducers/schema.hpp: kCircuitColumns, kPruningStepColumns, kCrossTaskColumns;
docs/SWEEPS.md "Pruning results").

Each /circuits row becomes a circuit (circuits.make) whose setting is {source: "pruning", model,
seed, corruption, ablation, family, threshold, order} (plus metric_set when the file has several
metric sets), so pruning circuits feed the same Venn, survival and size groups as a --circuits
file. Every row is checked against what else the file says about it, and a disagreement is an
InputError naming the file, the dataset, the row and both values:

* the kept mask against the components string, n_heads and n_mlps, and the family's pool
  (group /tables/<family> attribute spec: resolved[model].pool);
* threshold, threshold_index, order and the circuit index against the spec's ascending
  thresholds and its orders (circuit = order * n_thresholds + threshold_index);
* the circuit against its /tables/<family> row (components there = what the run removed);
* the removals of /pruning_steps against the circuit (the start set minus the removed
  candidates = the circuit; the start set is the pool, or for nested runs the previous
  threshold's circuit);
* each /cross_task circuit against /circuits (a task's circuit, or the intersection / union of
  all tasks' circuits).
"""
import json
import math

import h5py
import numpy as np

from . import circuits as circuits_mod
from . import components
from .errors import input_error
from .results import EXPERIMENT_COLUMNS, METRICS, NAME_LISTS, name_list

SOURCE = "pruning"
ORDER_KINDS = {0: "reference", 1: "reversed", 2: "random"}
INTERSECTION, UNION = -1, -2  # /cross_task circuit_task (schema.hpp kCrossTaskIntersection/Union)
CROSS_ROW_NAMES = {INTERSECTION: "intersection", UNION: "union"}

CIRCUIT_COLUMNS = EXPERIMENT_COLUMNS + [
    "family", "circuit", "threshold", "threshold_index", "order_kind", "order_seed", "order",
    "nested", "kept", "components", "n_heads", "n_mlps", "passes", "evaluations"] + METRICS
STEP_COLUMNS = EXPERIMENT_COLUMNS + [
    "family", "circuit", "step", "pass", "position", "component_kind", "component_layer",
    "component_index", "component", "performance", "removed"]
CROSS_COLUMNS = EXPERIMENT_COLUMNS + [
    "family", "circuit", "circuit_task", "components", "n_components"] + METRICS
STRING_COLUMNS = {"order", "components", "component"}
TWO_D = {"kept"}


def is_random(order):
    return str(order).startswith("random")


def _split(text):
    return [c for c in text.split("+")] if text else []


def _float(v):
    v = float(v)
    return v if math.isfinite(v) else None


class _Table:
    """The columns of one group (/circuits, ...) as arrays, experiment indices as names."""

    def __init__(self, path, f, group, columns, names):
        self.path, self.where = path, f"{path}: /{group}"
        g = f[group]
        if not isinstance(g, h5py.Group):
            raise input_error(self.where, "is not a group", type(g).__name__,
                              "a group of column datasets (reducers/schema.hpp)")
        self.cols = {}
        n = None
        for c in columns:
            if c not in g or not isinstance(g[c], h5py.Dataset):
                raise input_error(f"{self.where}/{c}", "missing column", "no such dataset",
                                  f"the columns {', '.join(columns)} (reducers/schema.hpp)")
            ds = g[c]
            if c in STRING_COLUMNS:
                if ds.dtype.kind not in ("S", "O"):
                    raise input_error(f"{self.where}/{c}", "is not a string column",
                                      str(ds.dtype), "fixed-length UTF-8 strings")
                v = np.array(ds.asstr()[()], dtype=object).reshape(-1)
            else:
                v = ds[()]
            want = 2 if c in TWO_D else 1
            if np.ndim(v) != want:
                raise input_error(f"{self.where}/{c}", "has the wrong rank", f"shape {v.shape}",
                                  f"{want}-D (dims {ds.attrs.get('dims', '?')!r})")
            if n is None:
                n = len(v)
            elif len(v) != n:
                raise input_error(f"{self.where}/{c}", "length differs from the other columns",
                                  f"{len(v)} rows", f"{n} rows (as /{group}/{columns[0]})")
            self.cols[c] = v
        self.n = n or 0
        for c in EXPERIMENT_COLUMNS:
            idx = self.cols[c].astype(np.int64)
            lst = names.get(c) or []
            if c == "metric_set":
                self.cols[c] = idx
                continue
            bad = idx[(idx < 0) | (idx >= len(lst))]
            if bad.size:
                raise input_error(f"{self.where}/{c}", "index outside its name list", int(bad[0]),
                                  f"0..{len(lst) - 1} (root attribute {NAME_LISTS[c]})")
            self.cols[c] = [lst[i] for i in idx]

    def row_where(self, col, i):
        return f"{self.where}/{col} row {i}"

    def exp(self, i):
        return tuple(self.cols[c][i] for c in EXPERIMENT_COLUMNS)


class File:
    """The pruning tables of one results file (results.Results r)."""

    def __init__(self, r):
        self.path = r.path
        self.circuits = []      # circuits.make dicts, one per /circuits row
        self.records = []       # the same rows with every column, for tables
        self.steps = {}         # circuit key -> list of step dicts (evaluation order)
        self.cross_task = []    # one dict per (experiment but task, family, circuit)
        self.has_cross_task = False
        with h5py.File(self.path, "r") as f:
            pruning_fams = [fam for fam, a in r.table_attrs.items() if a.get("kind") == "pruning"]
            self.present = "circuits" in f
            if not self.present:
                if pruning_fams:
                    raise input_error(f"{self.path}: /circuits", "missing",
                                      f"pruning family {pruning_fams[0]} but no /circuits group",
                                      "/circuits beside every pruning family's table "
                                      "(reducers/schema.hpp kCircuitColumns)")
                return
            self.family_names = name_list(f, "family_names")
            self.task_names = r.names["task"]
            self.multi_metric_sets = len(r.names["metric_set"]) > 1
            self._specs = {}
            self._read_circuits(r, _Table(self.path, f, "circuits", CIRCUIT_COLUMNS, r.names))
            if "pruning_steps" in f:
                self._read_steps(_Table(self.path, f, "pruning_steps", STEP_COLUMNS, r.names))
            if "cross_task" in f:
                self.has_cross_task = True
                self._read_cross(_Table(self.path, f, "cross_task", CROSS_COLUMNS, r.names))

    # -- the family's spec ----------------------------------------------------------------------

    def _spec(self, r, t, i):
        fi = int(t.cols["family"][i])
        if not 0 <= fi < len(self.family_names):
            raise input_error(t.row_where("family", i), "unknown family index", fi,
                              f"0..{len(self.family_names) - 1} (root attribute family_names "
                              f"= {self.family_names})")
        fam = self.family_names[fi]
        if fam in self._specs:
            return fam, self._specs[fam]
        attrs = r.table_attrs.get(fam)
        where = f"{self.path}: /tables/{fam}"
        if attrs is None:
            raise input_error(t.row_where("family", i), "names a family without a table", fam,
                              "a family with a group /tables/<family>")
        if attrs.get("kind") != "pruning":
            raise input_error(f"{where} attribute kind", "is not a pruning family",
                              repr(attrs.get("kind")), '"pruning" for a family with circuits')
        try:
            spec = json.loads(attrs.get("spec", ""))
            thresholds = [float(x) for x in spec["thresholds"]]
            orders = [str(x) for x in spec["orders"]]
            pools = {e["model"]: [str(x) for x in e["pool"]] for e in spec["resolved"]}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise input_error(f"{where} attribute spec", "is not a pruning family spec",
                              f"{type(e).__name__}: {e}",
                              "JSON with thresholds, orders and resolved[].{model, pool}")
        for p in pools.values():
            for name in p:
                try:
                    components.parse(name)
                except ValueError as e:
                    raise input_error(f"{where} attribute spec resolved[].pool", "names no "
                                      "component", repr(name), str(e))
        table = r.tables.get(fam)
        rows = {}
        if table is not None:
            for row in table[EXPERIMENT_COLUMNS + ["intervention", "components"]].itertuples(
                    index=False):
                rows[tuple(row[:6]) + (int(row[6]),)] = list(row[7])
        s = {"name": fam, "thresholds": thresholds, "orders": orders, "pools": pools,
             "nested": bool(spec.get("nested", False)), "rows": rows, "where": where}
        self._specs[fam] = s
        return fam, s

    # -- /circuits ------------------------------------------------------------------------------

    def _read_circuits(self, r, t):
        self.by_key = {}
        c = t.cols
        for i in range(t.n):
            fam, spec = self._spec(r, t, i)
            model = c["model"][i]
            if model not in spec["pools"]:
                raise input_error(f"{spec['where']} attribute spec resolved", "has no pool for "
                                  "the model", repr(model), "one entry per model of the grid")
            pool = spec["pools"][model]
            kept = np.asarray(c["kept"][i]).astype(int)
            if kept.shape[0] < len(pool) or np.any(kept[len(pool):] != -1):
                raise input_error(t.row_where("kept", i), "does not fit the pool",
                                  f"{kept.tolist()}",
                                  f"{len(pool)} flags (pool {'+'.join(pool)}), then -1 padding")
            flags = kept[:len(pool)]
            if np.any((flags != 0) & (flags != 1)):
                raise input_error(t.row_where("kept", i), "holds a flag other than 0/1 inside "
                                  "the pool", flags.tolist(), "1 kept, 0 removed")
            names = [p for p, k in zip(pool, flags) if k == 1]
            text = c["components"][i]
            if _split(text) != names:
                raise input_error(t.row_where("kept", i), "disagrees with /circuits/components",
                                  f"kept mask {'+'.join(names) or '(empty)'} vs components "
                                  f"{text or '(empty)'}", "the kept pool components, '+'-joined "
                                  "in pool order")
            heads = [n for n in names if components.is_head(n)]
            mlps = [components.parse(n)[1] for n in names
                    if components.parse(n)[0] == components.MLP]
            for col, count in (("n_heads", len(heads)), ("n_mlps", len(mlps))):
                if int(c[col][i]) != count:
                    raise input_error(t.row_where(col, i), "disagrees with the kept mask",
                                      int(c[col][i]), f"{count} ({'+'.join(names) or 'empty'})")
            thr, tix = float(c["threshold"][i]), int(c["threshold_index"][i])
            n_thr = len(spec["thresholds"])
            if not 0 <= tix < n_thr or not math.isclose(thr, spec["thresholds"][tix],
                                                          rel_tol=1e-12):
                raise input_error(t.row_where("threshold", i), "not the family's threshold",
                                  f"T = {thr:g} at threshold_index {tix}",
                                  f"thresholds {spec['thresholds']} (spec, ascending)")
            circuit = int(c["circuit"][i])
            order = c["order"][i]
            oi = circuit // n_thr
            if circuit % n_thr != tix or oi >= len(spec["orders"]) or spec["orders"][oi] != order:
                raise input_error(t.row_where("circuit", i), "disagrees with order and threshold",
                                  f"circuit {circuit}, order {order!r}, threshold_index {tix}",
                                  f"order_index * {n_thr} + threshold_index, orders "
                                  f"{spec['orders']}")
            okind, oseed = int(c["order_kind"][i]), int(c["order_seed"][i])
            expect = ORDER_KINDS.get(okind)
            if expect is None or (order != expect if okind != 2 else order != f"random#{oseed}"):
                raise input_error(t.row_where("order_kind", i), "disagrees with /circuits/order",
                                  f"kind {okind} seed {oseed} vs {order!r}",
                                  "0 reference, 1 reversed, 2 random#<order_seed>")
            exp = t.exp(i)
            key = exp + (fam, circuit)
            if key in self.by_key:
                raise input_error(t.row_where("circuit", i), "repeats a circuit",
                                  f"{'/'.join(map(str, exp[:5]))} {fam} circuit {circuit}",
                                  "one row per (experiment, family, circuit)")
            removed_row = spec["rows"].get(exp + (circuit,))
            if spec["rows"] and removed_row is None:
                raise input_error(t.row_where("circuit", i), f"has no row in /tables/{fam}",
                                  f"{'/'.join(map(str, exp[:5]))} intervention {circuit}",
                                  "the family table's row of every circuit")
            if removed_row is not None:
                expect_removed = [p for p, k in zip(pool, flags) if k == 0]
                if sorted(removed_row) != sorted(expect_removed):
                    raise input_error(t.row_where("kept", i), f"disagrees with /tables/{fam}",
                                      f"removed {'+'.join(expect_removed) or '(none)'} by the "
                                      f"mask vs {'+'.join(removed_row) or '(none)'} in the table",
                                      "the table row's components = the pool minus the circuit")
            setting = {"source": SOURCE, "model": model, "seed": int(exp[1]),
                       "corruption": exp[3], "ablation": exp[4], "family": fam,
                       "threshold": thr, "order": order}
            if self.multi_metric_sets:
                setting["metric_set"] = int(exp[5])
            perf = _float(c["performance"][i])
            circ = circuits_mod.make(exp[2], setting, heads, mlps, perf)
            circ["pool"] = list(pool)  # the candidates: survival grids mark the rest
            self.circuits.append(circ)
            rec = {"file": self.path, "model": model, "seed": int(exp[1]), "task": exp[2],
                   "corruption": exp[3], "ablation": exp[4], "metric_set": int(exp[5]),
                   "family": fam, "circuit": circuit, "threshold": thr, "threshold_index": tix,
                   "order": order, "nested": bool(int(c["nested"][i])),
                   "n_heads": len(heads), "n_mlps": len(mlps), "passes": int(c["passes"][i]),
                   "evaluations": int(c["evaluations"][i]),
                   **{m: _float(c[m][i]) for m in METRICS},
                   "components": names, "pool": pool, "setting": setting}
            self.records.append(rec)
            self.by_key[key] = rec

    # -- /pruning_steps -------------------------------------------------------------------------

    def _read_steps(self, t):
        c = t.cols
        for i in range(t.n):
            fi = int(c["family"][i])
            if not 0 <= fi < len(self.family_names):
                raise input_error(t.row_where("family", i), "unknown family index", fi,
                                  f"0..{len(self.family_names) - 1} (root attribute "
                                  "family_names)")
            key = t.exp(i) + (self.family_names[fi], int(c["circuit"][i]))
            rec = self.by_key.get(key)
            if rec is None:
                raise input_error(t.row_where("circuit", i), "names no row of /circuits",
                                  f"{'/'.join(map(str, key[:5]))} {key[6]} circuit {key[7]}",
                                  "the circuit this step led to")
            name = components.name(c["component_kind"][i], c["component_layer"][i],
                                   c["component_index"][i])
            if name is None or name != c["component"][i] or name not in rec["pool"]:
                raise input_error(t.row_where("component", i), "is not a pool component given "
                                  "by component_kind/layer/index",
                                  f"{c['component'][i]!r} vs {name!r}",
                                  "one of the pool " + "+".join(rec["pool"]))
            removed = int(c["removed"][i])
            if removed not in (0, 1):
                raise input_error(t.row_where("removed", i), "is not a flag", removed, "0 or 1")
            self.steps.setdefault(key, []).append(
                {"step": int(c["step"][i]), "pass": int(c["pass"][i]),
                 "position": int(c["position"][i]), "component": name,
                 "performance": _float(c["performance"][i]), "removed": bool(removed)})
        for key, steps in self.steps.items():
            steps.sort(key=lambda s: s["step"])
            rec = self.by_key[key]
            prev = self._previous(key, rec)
            start = list(rec["pool"]) if prev is None else prev["components"]
            gone = {s["component"] for s in steps if s["removed"]}
            left = [p for p in start if p not in gone]
            if left != rec["components"]:
                raise input_error(f"{t.where}/removed", "disagrees with /circuits",
                                  f"{'/'.join(map(str, key[:5]))} {key[6]} circuit {key[7]}: "
                                  f"start minus removed = {'+'.join(left) or '(empty)'}, circuit "
                                  f"{'+'.join(rec['components']) or '(empty)'}",
                                  "the circuit = its start set minus the removed candidates")
            rec["start_performance"] = 100.0 if prev is None else prev["performance"]

    def _previous(self, key, rec):
        """The circuit a nested run started from (the previous threshold's), else None."""
        if not rec["nested"] or rec["threshold_index"] == 0:
            return None
        prev = self.by_key.get(key[:-1] + (key[-1] - 1,))
        if prev is None:
            raise input_error(f"{self.path}: /circuits", "a nested circuit lacks its "
                              "predecessor", f"{key[6]} circuit {key[7]} of "
                              f"{'/'.join(map(str, key[:5]))}", f"circuit {key[7] - 1}")
        return prev

    # -- /cross_task ----------------------------------------------------------------------------

    def _read_cross(self, t):
        c = t.cols
        groups = {}
        n_tasks = len(self.task_names)
        for i in range(t.n):
            fi = int(c["family"][i])
            if not 0 <= fi < len(self.family_names):
                raise input_error(t.row_where("family", i), "unknown family index", fi,
                                  f"0..{len(self.family_names) - 1} (root attribute "
                                  "family_names)")
            fam = self.family_names[fi]
            exp = t.exp(i)
            circuit = int(c["circuit"][i])
            ct = int(c["circuit_task"][i])
            if not (ct in CROSS_ROW_NAMES or 0 <= ct < n_tasks):
                raise input_error(t.row_where("circuit_task", i), "is no task index", ct,
                                  f"0..{n_tasks - 1} (task_names), -1 intersection or -2 union")
            base = (exp[0], exp[1], exp[3], exp[4], exp[5], fam, circuit)
            mine = [r for k, r in self.by_key.items()
                    if (k[0], k[1], k[3], k[4], k[5], k[6], k[7]) == base]
            if not mine:
                raise input_error(t.row_where("circuit", i), "names no circuit of /circuits",
                                  f"{fam} circuit {circuit} of "
                                  f"{'/'.join(map(str, (exp[0], exp[1], exp[3], exp[4])))}",
                                  "a circuit index of the same model, seed, corruption, ablation")
            if ct >= 0:
                own = [r for r in mine if r["task"] == self.task_names[ct]]
                if not own:
                    raise input_error(t.row_where("circuit_task", i), "names a task without "
                                      "that circuit", self.task_names[ct],
                                      "a task with a row in /circuits")
                expect = set(own[0]["components"])
            else:
                sets_ = [set(r["components"]) for r in mine]
                expect = set.intersection(*sets_) if ct == INTERSECTION else set.union(*sets_)
            got = _split(c["components"][i])
            if set(got) != expect or len(got) != int(c["n_components"][i]):
                raise input_error(t.row_where("components", i), "disagrees with /circuits",
                                  f"{c['components'][i] or '(empty)'} ({int(c['n_components'][i])}"
                                  f" components)", f"{'+'.join(components.sort(expect))} (the "
                                  f"{self._row_name(ct)} circuit in /circuits)")
            g = groups.setdefault(base, {"rows": {}, "mine": mine})
            g["rows"][(ct, exp[2])] = {"components": components.sort(got),
                                       **{m: _float(c[m][i]) for m in METRICS}}
        for base, g in groups.items():
            rec = g["mine"][0]
            setting = {k: v for k, v in rec["setting"].items()}
            row_ids = [k for k in range(n_tasks) if any(ct == k for ct, _ in g["rows"])] + [
                k for k in (INTERSECTION, UNION) if any(ct == k for ct, _ in g["rows"])]
            cols = [tn for tn in self.task_names if any(on == tn for _, on in g["rows"])]
            perf = [[g["rows"].get((ct, on), {}).get("performance") for on in cols]
                    for ct in row_ids]
            comps = {}
            for ct in row_ids:
                hit = next(v for (k, _), v in g["rows"].items() if k == ct)
                comps[self._row_name(ct)] = hit["components"]
            self.cross_task.append({
                "setting": setting, "rows": [self._row_name(ct) for ct in row_ids],
                "columns": cols, "performance": perf,
                "n_components": [len(comps[self._row_name(ct)]) for ct in row_ids],
                "components": comps,
                "metrics": {m: [[g["rows"].get((ct, on), {}).get(m) for on in cols]
                                for ct in row_ids] for m in METRICS}})

    def _row_name(self, ct):
        return CROSS_ROW_NAMES.get(ct) or self.task_names[ct]


def read(results):
    """The pruning tables of every results file: (files with /circuits, every circuit)."""
    files = [File(r) for r in results]
    files = [f for f in files if f.present]
    return files, [c for f in files for c in f.circuits]


def _label(setting):
    return circuits_mod.setting_label(setting)


def _slug(text):
    import re
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "all"


def _id(prefix, setting):
    return _slug(prefix + "_" + _label(setting).replace(" / ", "_").replace("T = ", "T"))


def cross_task_groups(files):
    """summary.json 'cross_task': per setting (model, seed, corruption, ablation, family,
    threshold, order) the performance (%) of each row's circuit (a task's, the intersection,
    the union) on each task (columns)."""
    out = []
    for f in files:
        for g in f.cross_task:
            out.append({"id": _id("cross_task", g["setting"]), "label": _label(g["setting"]),
                        **g})
    return out


def trajectories(files, include_random=False):
    """summary.json 'trajectories': per setting and task, every candidate evaluation of the run
    in order (step, pass, component, performance with it removed, removed?) and the circuit's
    performance after each step (the start performance until the first removal)."""
    groups = {}
    for f in files:
        for key, steps in f.steps.items():
            rec = f.by_key[key]
            if is_random(rec["order"]) and not include_random:
                continue
            current, after = rec.get("start_performance", 100.0), []
            for s in steps:
                if s["removed"]:
                    current = s["performance"]
                after.append(current)
            sk = circuits_mod.setting_key(rec["setting"])
            g = groups.setdefault(sk, {"id": _id("trajectory", rec["setting"]),
                                       "setting": rec["setting"],
                                       "label": _label(rec["setting"]), "tasks": {}})
            g["tasks"][rec["task"]] = {
                "threshold": rec["threshold"], "start_performance": rec.get("start_performance"),
                "circuit_performance": rec["performance"], "n_components": len(rec["components"]),
                "steps": [s["step"] for s in steps], "pass": [s["pass"] for s in steps],
                "component": [s["component"] for s in steps],
                "performance": [s["performance"] for s in steps],
                "removed": [s["removed"] for s in steps], "performance_after": after}
    return list(groups.values())


def circuit_rows(files):
    """One flat row per circuit (the pruning_circuits table)."""
    keep = ["model", "seed", "task", "corruption", "ablation", "metric_set", "family", "circuit",
            "threshold", "order", "nested", "n_heads", "n_mlps", "passes", "evaluations"]
    rows = []
    for f in files:
        for r in f.records:
            rows.append({**{k: r[k] for k in keep}, "performance": r["performance"],
                         "components": " ".join(components.sort(r["components"]))})
    return rows
