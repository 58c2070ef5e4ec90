"""Reads circuitsweep results files (HDF5, reducers/schema.hpp; docs/SWEEPS.md) into pandas.

Only h5py is used to read, so the analysis depends on the documented layout and nothing of the
C++ code. Index columns become names (task "digits", corruption "randAll"), components become
readable names ("9.1", "mlp3") and a label per row ("9.1+4.4", with "@S2" for a position).
"""
import json

import h5py
import numpy as np
import pandas as pd

from . import components
from .errors import IncompleteError, input_error

EXPERIMENT_COLUMNS = ["model", "seed", "task", "corruption", "ablation", "metric_set"]
NAME_LISTS = {"model": "model_names", "seed": "seeds", "task": "task_names",
              "corruption": "corruption_names", "ablation": "ablation_names",
              "metric_set": "metric_sets"}
METRICS = ["logit_diff", "performance", "normalized", "kl", "prob_correct", "accuracy",
           "prob_diff"]
BASELINE_COLUMNS = ["clean_logit_diff", "corrupted_logit_diff", "clean_accuracy",
                    "corrupted_accuracy", "clean_prob_correct", "n_prompts"]
RECEIVER_KINDS = {0: "q", 1: "k", 2: "v", 3: "mlp_in", 4: "resid_final"}
# Tables of the generic intervention layout; other tables (circuits, pruning steps, edges, ...)
# have their own readers in the modules that use them.
INTERVENTION_KEY_COLUMNS = ("component_kind", "component_layer", "component_index", "position")


def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def name_list(obj, attr):
    """A name list attribute: a string array, or a JSON list in one string."""
    value = obj.attrs.get(attr)
    if value is None:
        return []
    if isinstance(value, (bytes, str)):
        value = _text(value)
        try:
            parsed = json.loads(value)
            return [_text(x) if isinstance(x, (bytes, str)) else x for x in parsed] \
                if isinstance(parsed, list) else [value]
        except json.JSONDecodeError:
            return [value]
    return [_text(v) if isinstance(v, (bytes, str)) else v.item() if hasattr(v, "item") else v
            for v in np.atleast_1d(value)]


def _coverage(f):
    if "ledger" not in f:
        return 0, None
    a = f["ledger"].attrs
    total = int(a.get("total_units", 0))
    i, n = int(a.get("shard_index", 0)), int(a.get("shard_count", 1))
    first, last = total * i // n, total * (i + 1) // n
    units = f["ledger/unit"][...] if "ledger/unit" in f else np.array([], dtype=np.uint64)
    units = np.unique(units)
    return int(((units >= first) & (units < last)).sum()), last - first


class Results:
    """One results file: root names, baselines and every table as a DataFrame."""

    def __init__(self, path, allow_incomplete=False):
        self.path = str(path)
        try:
            f = h5py.File(self.path, "r")
        except (OSError, ValueError) as e:
            raise input_error(self.path, "cannot open as an HDF5 results file", str(e),
                              "a file written by csweep run or csweep merge")
        with f:
            if "tables" not in f or "baselines" not in f:
                raise input_error(self.path, "is not a csweep results file",
                                  "groups " + ", ".join(sorted(f.keys())),
                                  "groups /baselines and /tables (docs/SWEEPS.md)")
            done, expected = _coverage(f)
            complete = f.attrs.get("complete")
            self.complete = complete is not None and int(complete) == 1
            self.coverage = (done, expected)
            if not self.complete and not allow_incomplete:
                raise IncompleteError(
                    f"{self.path}: INCOMPLETE: {done} of {expected} units (root attribute "
                    f"complete = {complete}); rerun the same `csweep run` to finish it, or pass "
                    f"--allow-incomplete to analyse what is there")
            self.names = {col: name_list(f, attr) for col, attr in NAME_LISTS.items()}
            # Each metric set is a JSON list of metric names (one string per set).
            self.metric_set_names = [json.loads(m) if isinstance(m, str) else list(m)
                                     for m in self.names["metric_set"]]
            self.attrs = {k: _text(v) if isinstance(v, (bytes, str)) else
                          (v.item() if hasattr(v, "item") and np.ndim(v) == 0 else v)
                          for k, v in f.attrs.items()}
            self.baselines = self._frame(f["baselines"], BASELINE_COLUMNS)
            self.tables = {}
            self.table_attrs = {}
            self.raw_tables = {}
            for fam, g in f["tables"].items():
                attrs = {k: (_text(v) if isinstance(v, (bytes, str)) else v)
                         for k, v in g.attrs.items()}
                if "position_labels" in g.attrs:
                    attrs["position_labels"] = name_list(g, "position_labels")
                self.table_attrs[fam] = attrs
                if all(c in g for c in INTERVENTION_KEY_COLUMNS):
                    self.tables[fam] = self._interventions(g, fam, attrs)
                else:
                    # A table of another layout (circuits, pruning steps, edges, ...): its columns
                    # as they are, for the readers that know it.
                    self.raw_tables[fam] = {c: g[c][...] for c in g if isinstance(g[c], h5py.Dataset)}

    def _index(self, g):
        out = {}
        for col in EXPERIMENT_COLUMNS:
            if col not in g:
                continue
            idx = g[col][...].astype(np.int64)
            names = self.names.get(col) or []
            if col == "metric_set" or not names:
                out[col] = idx
                continue
            bad = idx[(idx < 0) | (idx >= len(names))]
            if bad.size:
                raise input_error(f"{self.path}: {g.name}/{col}", "index outside its name list",
                                  int(bad[0]), f"0..{len(names) - 1} ({NAME_LISTS[col]})")
            out[col] = np.asarray(names, dtype=object)[idx]
        return out

    def _frame(self, g, columns):
        data = self._index(g)
        for c in columns:
            if c in g:
                data[c] = g[c][...]
        return pd.DataFrame(data)

    def _interventions(self, g, fam, attrs):
        data = self._index(g)
        n = len(next(iter(data.values()))) if data else 0
        if "components" in g:
            # Format 2: the writer names each row's components (vocab::components_name).
            comps = [tuple(x.split("+")) if x else () for x in g["components"].asstr()[...]]
        else:
            kinds = g["component_kind"][...]
            layers = g["component_layer"][...]
            idx = g["component_index"][...]
            comps = [tuple(c for c in (components.name(k, l, i) for k, l, i in zip(kr, lr, ir))
                           if c is not None)
                     for kr, lr, ir in zip(kinds, layers, idx)]
        labels = attrs.get("position_labels", [])
        pos = g["position"][...]
        pos_names = np.array([labels[p] if 0 <= p < len(labels) else ("" if p < 0 else str(p))
                              for p in pos], dtype=object)
        data["intervention"] = g["intervention"][...] if "intervention" in g else np.arange(n)
        data["components"] = comps
        data["n_components"] = np.array([len(c) for c in comps])
        data["position"] = pos_names
        if "receiver_kind" in g:
            rk, rl, rh = g["receiver_kind"][...], g["receiver_layer"][...], g["receiver_head"][...]
            data["receiver"] = np.array([_receiver(k, l, h) for k, l, h in zip(rk, rl, rh)],
                                        dtype=object)
        for m in METRICS:
            if m in g:
                data[m] = g[m][...]
        df = pd.DataFrame(data)
        df["label"] = [_label(c, p, r) for c, p, r in
                       zip(df["components"], df["position"],
                           df["receiver"] if "receiver" in df else [""] * len(df))]
        df.insert(0, "family", fam)
        return df


def _receiver(kind, layer, head):
    kind, layer, head = int(kind), int(layer), int(head)
    if kind < 0:
        return ""
    if kind <= 2:
        return f"{layer}.{head}{RECEIVER_KINDS[kind]}"
    return f"mlp{layer}" if kind == 3 else "resid_final"


def _label(comps, position, receiver):
    text = components.join(comps)
    if receiver:
        text += "->" + receiver
    if position:
        text += "@" + position
    return text


def load_all(paths, allow_incomplete=False):
    """Reads several results files; refuses two files that hold the same experiment of a family
    (the same numbers twice, or two runs mixed up)."""
    out = [Results(p, allow_incomplete) for p in paths]
    seen = {}
    for r in out:
        for fam, df in r.tables.items():
            keys = df[[c for c in ("model", "seed", "task", "corruption", "ablation")
                       if c in df]].drop_duplicates()
            for key in keys.itertuples(index=False):
                k = (fam,) + tuple(key)
                if k in seen:
                    raise input_error(r.path, f"table {fam} repeats an experiment of {seen[k]}",
                                      "/".join(str(x) for x in key),
                                      "each (model, seed, task, corruption, ablation) in one file")
                seen[k] = r.path
    return out
