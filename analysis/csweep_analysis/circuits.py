"""Circuits: sets of components per task, from a JSON file or from a results file's pruning runs.

A circuit is a dict {"task", "setting", "heads", "mlps", "components", "performance"}: `setting`
names everything but the task (model, corruption, ablation, threshold, order, ...), so circuits
of one setting are compared across tasks (Venn regions) and circuits that differ only in the
removal order give each component's survival frequency.

JSON layout (`--circuits FILE`), one entry per task:

    {"digits": {"heads": ["9.1", "4.4"], "mlps": [0, 11]}, "months": {...}}

Optional per task: "performance" (number, percent), "threshold" (number), "order" (string,
e.g. "reference", "random:3") and "edges" (a list of {"sender": "0.1", "receiver": "1.2",
"channel": "q" | "k" | "v" | "mlp" | "resid"}; receivers "mlpL" take "mlp", "resid_final" takes
"resid"), drawn in circuit diagrams. A task may also map to a list of such objects, one circuit per
(threshold, order): circuit size vs threshold and survival frequency across orders then come from
the file as from pruning runs. Top-level keys that start with "_" are metadata (e.g. "_source":
where the circuits come from; "_model": {"n_layers": 12, "n_heads": 12} for diagrams).
"""
import json
import os

from . import components
from .errors import input_error

TASK_KEYS = {"heads", "mlps", "performance", "threshold", "order", "edges"}
CHANNELS = ("q", "k", "v", "mlp", "resid")


def make(task, setting, heads, mlps, performance=None, edges=None):
    heads = components.sort(set(heads))
    mlps = sorted(set(int(m) for m in mlps))
    out = {"task": task, "setting": dict(setting), "heads": heads, "mlps": mlps,
           "components": components.sort(heads + [f"mlp{m}" for m in mlps]),
           "performance": performance}
    if edges is not None:
        out["edges"] = edges
    return out


def _edges(where, edges):
    if not isinstance(edges, list):
        raise input_error(f"{where}.edges", "is not a list", json.dumps(edges)[:60],
                          'a list of {"sender", "receiver", "channel"} objects')
    out = []
    for i, e in enumerate(edges):
        w = f"{where}.edges[{i}]"
        if not isinstance(e, dict) or set(e) != {"sender", "receiver", "channel"}:
            raise input_error(w, "is not an edge", json.dumps(e)[:80],
                              '{"sender": "0.1", "receiver": "1.2", "channel": "k"}')
        try:
            components.parse(e["sender"])
            if e["receiver"] != "resid_final":
                components.parse(e["receiver"])
        except (ValueError, TypeError) as err:
            raise input_error(w, "names no component", json.dumps(e)[:80], str(err))
        if e["channel"] not in CHANNELS:
            raise input_error(f"{w}.channel", "unknown channel", json.dumps(e["channel"]),
                              "one of " + ", ".join(CHANNELS))
        out.append(dict(e))
    return out


def load_json(path):
    """(circuits, metadata) of a --circuits file; InputError naming the file, task and field."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise input_error(path, "cannot read the circuits file", e.strerror, "a readable JSON file")
    except json.JSONDecodeError as e:
        raise input_error(f"{path}:{e.lineno}:{e.colno}", "not valid JSON", repr(e.msg),
                          'an object {"task": {"heads": ["9.1", ...], "mlps": [0, ...]}}')
    if not isinstance(data, dict):
        raise input_error(path, "top level is not an object", type(data).__name__,
                          'an object {"task": {"heads": [...], "mlps": [...]}}')
    meta = {k: v for k, v in data.items() if k.startswith("_")}
    out = []
    for task, value in data.items():
        if task.startswith("_"):
            continue
        entries = value if isinstance(value, list) else [value]
        for k, entry in enumerate(entries):
            where = f"{path}: {task}" + (f"[{k}]" if isinstance(value, list) else "")
            out.append(_entry(path, where, task, entry))
    seen = {}
    for c in out:
        key = (c["task"], setting_key(c["setting"]))
        if key in seen:
            raise input_error(f"{path}: {c['task']}", "two circuits with the same threshold and "
                              "order", setting_label(c["setting"]),
                              "one circuit per task, threshold and order")
        seen[key] = True
    if not out:
        raise input_error(path, "holds no task", "only metadata keys",
                          'at least one task {"heads": [...], "mlps": [...]}')
    return out, meta


def _entry(path, where, task, entry):
    if not isinstance(entry, dict):
        raise input_error(where, "is not an object", json.dumps(entry)[:60],
                          '{"heads": [...], "mlps": [...]}')
    unknown = sorted(set(entry) - TASK_KEYS)
    if unknown:
        raise input_error(f"{where}.{unknown[0]}", "unknown key", repr(unknown[0]),
                          "one of " + ", ".join(sorted(TASK_KEYS)))
    heads = entry.get("heads", [])
    if not isinstance(heads, list):
        raise input_error(f"{where}.heads", "is not a list", json.dumps(heads)[:60],
                          'a list of head names such as ["9.1", "4.4"]')
    for i, h in enumerate(heads):
        try:
            ok = isinstance(h, str) and components.is_head(h)
        except ValueError:
            ok = False
        if not ok:
            raise input_error(f"{where}.heads[{i}]", "is not a head name", json.dumps(h),
                              'a string "layer.head" such as "9.1"')
    mlps = entry.get("mlps", [])
    if not isinstance(mlps, list):
        raise input_error(f"{where}.mlps", "is not a list", json.dumps(mlps)[:60],
                          "a list of layer numbers such as [0, 11]")
    for i, m in enumerate(mlps):
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise input_error(f"{where}.mlps[{i}]", "is not a layer number", json.dumps(m),
                              "a non-negative integer")
    dup = sorted({h for h in heads if heads.count(h) > 1})
    if dup:
        raise input_error(f"{where}.heads", "lists a head twice", dup[0], "each head once")
    for key in ("performance", "threshold"):
        v = entry.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise input_error(f"{where}.{key}", "is not a number", json.dumps(v),
                              "a number (percent)" if key == "performance" else "a threshold T")
    order = entry.get("order")
    if order is not None and not isinstance(order, str):
        raise input_error(f"{where}.order", "is not a string", json.dumps(order),
                          'an order name such as "reference" or "random:3"')
    setting = {"source": os.path.splitext(os.path.basename(path))[0]}
    if entry.get("threshold") is not None:
        setting["threshold"] = entry["threshold"]
    if order is not None:
        setting["order"] = order
    edges = _edges(where, entry["edges"]) if "edges" in entry else None
    return make(task, setting, heads, mlps, entry.get("performance"), edges)


def setting_key(setting, drop=()):
    """Hashable, readable key of a setting without the fields in `drop`."""
    return tuple((k, setting[k]) for k in sorted(setting) if k not in drop)


LABEL_ORDER = ["source", "model", "seed", "corruption", "ablation", "threshold", "order"]


def setting_label(setting, drop=()):
    """'quickstart / randAll / mean / T = 20' style label of a setting (for titles, captions)."""
    keys = [k for k in LABEL_ORDER if k in setting] + sorted(
        k for k in setting if k not in LABEL_ORDER and k != "rule")
    parts = []
    for k in keys:
        if k in drop or setting[k] is None:
            continue
        v = setting[k]
        if k == "source" and v in ("single heads", "pruning"):
            continue
        parts.append(f"T = {v:g}" if k == "threshold" and isinstance(v, (int, float))
                     else f"seed {v}" if k == "seed" else str(v))
    return " / ".join(parts)


def group(circuits, drop):
    """{setting key without `drop`: [circuits]} in first-seen order."""
    out = {}
    for c in circuits:
        out.setdefault(setting_key(c["setting"], drop), []).append(c)
    return out
