"""Circuit stages of a results file, read with h5py: the edges of node circuits (/edge_circuits,
/edges; kind edge_pruning) and faithfulness curves (/faithfulness_curves, /faithfulness; kind
faithfulness). Schema: reducers/schema.hpp kEdgeCircuitColumns, kEdgeColumns,
kFaithfulnessCurveColumns, kFaithfulnessColumns; written by pipeline/circuit_stages.cpp.

Every row is checked against what else the file says about it, and a disagreement is an
InputError naming the file, the dataset, the row and both values:

* an edge's MIB names (`edge`, `sender`, `receiver`) against its integer columns (sender kind,
  layer and index; receiver layer and head; channel);
* each /edges row names a circuit of /edge_circuits, whose n_candidates and n_kept count its
  rows and kept rows, and whose components include every sender;
* each /faithfulness row names a curve of /faithfulness_curves, and its faithfulness equals
  (score - m_empty) / (m_full - m_empty) within 1e-9 relative to the curve's span (both float64
  from the same three numbers).
"""
import math
import re

import h5py
import numpy as np

from . import circuits as circuits_mod
from . import components
from .errors import input_error
from .results import EXPERIMENT_COLUMNS, NAME_LISTS

CHANNELS = ("q", "k", "v", "mlp", "resid")
EDGE_CIRCUIT_COLUMNS = ["stage", "circuit", "source", "threshold", "order", "components",
                        "n_components", "n_candidates", "n_kept", "inside", "ratio_rule",
                        "effect_rule", "clean_logit_diff", "corrupted_logit_diff",
                        "circuit_logit_diff", "circuit_performance", "recheck_logit_diff",
                        "recheck_performance", "recheck_normalized"]
EDGE_COLUMNS = ["stage", "circuit", "edge", "sender", "sender_kind", "sender_layer",
                "sender_index", "receiver", "channel", "receiver_layer", "receiver_head",
                "logit_diff", "ratio", "effect", "kept"]
CURVE_COLUMNS = ["stage", "curve", "source", "level", "n_items", "metric", "m_full", "m_empty",
                 "cpr", "cmd", "average", "ranking"]
POINT_COLUMNS = ["stage", "curve", "size", "fraction", "mib", "score", "faithfulness"]
FAITHFULNESS_TOL = 1e-9

_MIB_HEAD = re.compile(r"^a(\d+)\.h(\d+)$")
_MIB_MLP = re.compile(r"^m(\d+)$")
_MIB_RECEIVER = re.compile(r"^a(\d+)\.h(\d+)<([qkv])>$")


def _float(v):
    v = float(v)
    return v if math.isfinite(v) else None


def from_mib(name):
    """Our spelling of a MIB node name: "a0.h1" -> "0.1", "m3" -> "mlp3"; None otherwise."""
    m = _MIB_HEAD.match(name)
    if m:
        return f"{int(m.group(1))}.{int(m.group(2))}"
    m = _MIB_MLP.match(name)
    if m:
        return f"mlp{int(m.group(1))}"
    return None


def _columns(path, f, group, columns, names):
    where = f"{path}: /{group}"
    g = f[group]
    if not isinstance(g, h5py.Group):
        raise input_error(where, "is not a group", type(g).__name__,
                          "a group of column datasets (reducers/schema.hpp)")
    cols, n = {}, None
    for c in EXPERIMENT_COLUMNS + columns:
        if c not in g or not isinstance(g[c], h5py.Dataset):
            raise input_error(f"{where}/{c}", "missing column", "no such dataset",
                              f"the columns {', '.join(columns)} after the experiment columns "
                              "(reducers/schema.hpp)")
        ds = g[c]
        v = (np.array(ds.asstr()[()], dtype=object) if ds.dtype.kind in ("S", "O")
             else ds[()]).reshape(-1) if ds.shape else np.array([])
        if ds.ndim != 1:
            raise input_error(f"{where}/{c}", "has the wrong rank", f"shape {ds.shape}",
                              f"1-D (dims {ds.attrs.get('dims', '?')!r})")
        if n is None:
            n = len(v)
        elif len(v) != n:
            raise input_error(f"{where}/{c}", "length differs from the other columns",
                              f"{len(v)} rows", f"{n} rows (as /{group}/model)")
        cols[c] = v
    for c in EXPERIMENT_COLUMNS:
        idx = cols[c].astype(np.int64)
        if c == "metric_set":
            cols[c] = idx
            continue
        lst = names.get(c) or []
        bad = idx[(idx < 0) | (idx >= len(lst))]
        if bad.size:
            raise input_error(f"{where}/{c}", "index outside its name list", int(bad[0]),
                              f"0..{len(lst) - 1} (root attribute {NAME_LISTS[c]})")
        cols[c] = [lst[i] for i in idx]
    return where, cols, n or 0


def _exp(cols, i):
    return tuple(cols[c][i] for c in EXPERIMENT_COLUMNS)


def _setting(exp, extra, multi_metric_sets):
    s = {"model": exp[0], "seed": int(exp[1]), "corruption": exp[3], "ablation": exp[4]}
    if multi_metric_sets:
        s["metric_set"] = int(exp[5])
    s.update(extra)
    return s


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "all"


class File:
    """The circuit-stage tables of one results file (results.Results r)."""

    def __init__(self, r):
        self.path = r.path
        self.edge_circuits = []  # one dict per /edge_circuits row
        self.faithfulness = []   # one dict per /faithfulness_curves row
        multi = len(r.names["metric_set"]) > 1
        with h5py.File(self.path, "r") as f:
            if "edge_circuits" in f:
                if "edges" not in f:
                    raise input_error(f"{self.path}: /edges", "missing",
                                      "/edge_circuits without /edges",
                                      "both groups (reducers/schema.hpp kEdgeColumns)")
                self._read_edges(f, r.names, multi)
            if "faithfulness_curves" in f:
                if "faithfulness" not in f:
                    raise input_error(f"{self.path}: /faithfulness", "missing",
                                      "/faithfulness_curves without /faithfulness",
                                      "both groups (reducers/schema.hpp kFaithfulnessColumns)")
                self._read_faithfulness(f, r.names, multi)

    # -- edges ----------------------------------------------------------------------------------

    def _read_edges(self, f, names, multi):
        where, c, n = _columns(self.path, f, "edge_circuits", EDGE_CIRCUIT_COLUMNS, names)
        by_key = {}
        for i in range(n):
            exp = _exp(c, i)
            key = exp + (c["stage"][i], int(c["circuit"][i]))
            if key in by_key:
                raise input_error(f"{where}/circuit row {i}", "repeats a circuit",
                                  f"stage {key[6]} circuit {key[7]}",
                                  "one row per (experiment, stage, circuit)")
            comps = [x for x in c["components"][i].split("+") if x]
            for x in comps:
                try:
                    components.parse(x)
                except ValueError as e:
                    raise input_error(f"{where}/components row {i}", "names no component",
                                      repr(x), str(e))
            if len(comps) != int(c["n_components"][i]):
                raise input_error(f"{where}/n_components row {i}", "disagrees with components",
                                  int(c["n_components"][i]),
                                  f"{len(comps)} ({c['components'][i] or 'empty'})")
            extra = {"stage": c["stage"][i], "source": c["source"][i]}
            if _float(c["threshold"][i]) is not None:
                extra["threshold"] = float(c["threshold"][i])
            if c["order"][i]:
                extra["order"] = c["order"][i]
            setting = _setting(exp, extra, multi)
            rec = {"task": exp[2], "setting": setting, "circuit": int(c["circuit"][i]),
                   "components": components.sort(comps),
                   **{k: _float(c[k][i]) for k in ("ratio_rule", "effect_rule",
                                                   "clean_logit_diff", "corrupted_logit_diff",
                                                   "circuit_logit_diff", "circuit_performance",
                                                   "recheck_logit_diff", "recheck_performance",
                                                   "recheck_normalized")},
                   "inside": bool(int(c["inside"][i])),
                   "n_candidates": int(c["n_candidates"][i]), "n_kept": int(c["n_kept"][i]),
                   "edges": []}
            by_key[key] = rec
            self.edge_circuits.append(rec)
        ewhere, e, m = _columns(self.path, f, "edges", EDGE_COLUMNS, names)
        for i in range(m):
            key = _exp(e, i) + (e["stage"][i], int(e["circuit"][i]))
            rec = by_key.get(key)
            if rec is None:
                raise input_error(f"{ewhere}/circuit row {i}", "names no row of /edge_circuits",
                                  f"{'/'.join(map(str, key[:5]))} stage {key[6]} circuit "
                                  f"{key[7]}", "a circuit of the same experiment and stage")
            rec["edges"].append(self._edge(ewhere, e, i, rec))
        for key, rec in by_key.items():
            kept = sum(x["kept"] for x in rec["edges"])
            if len(rec["edges"]) != rec["n_candidates"] or kept != rec["n_kept"]:
                raise input_error(f"{where}/n_candidates", "disagrees with /edges",
                                  f"{'/'.join(map(str, key[:5]))} stage {key[6]} circuit "
                                  f"{key[7]}: n_candidates {rec['n_candidates']}, n_kept "
                                  f"{rec['n_kept']}",
                                  f"{len(rec['edges'])} rows in /edges, {kept} of them kept")

    def _edge(self, where, e, i, rec):
        w = lambda col: f"{where}/{col} row {i}"  # noqa: E731
        kind, layer, idx = (int(e["sender_kind"][i]), int(e["sender_layer"][i]),
                            int(e["sender_index"][i]))
        sender = components.name(kind, layer, idx) if kind in (components.HEAD,
                                                               components.MLP) else None
        if sender is None or from_mib(e["sender"][i]) != sender:
            raise input_error(w("sender"), "disagrees with sender_kind/layer/index",
                              f"{e['sender'][i]!r} vs kind {kind} layer {layer} index {idx}",
                              '"a<L>.h<H>" for a head (kind 0), "m<L>" for an MLP (kind 1)')
        if sender not in rec["components"]:
            raise input_error(w("sender"), "is not in the circuit", sender,
                              "one of " + "+".join(rec["components"]))
        channel, rl, rh = e["channel"][i], int(e["receiver_layer"][i]), int(e["receiver_head"][i])
        if channel not in CHANNELS:
            raise input_error(w("channel"), "unknown channel", repr(channel),
                              "one of " + ", ".join(CHANNELS))
        expect = {"q": f"a{rl}.h{rh}<q>", "k": f"a{rl}.h{rh}<k>", "v": f"a{rl}.h{rh}<v>",
                  "mlp": f"m{rl}", "resid": "logits"}[channel]
        if e["receiver"][i] != expect or (channel == "resid") != (rl == -1):
            raise input_error(w("receiver"), "disagrees with channel/receiver_layer/head",
                              f"{e['receiver'][i]!r} vs channel {channel} layer {rl} head {rh}",
                              repr(expect))
        if e["edge"][i] != f"{e['sender'][i]}->{e['receiver'][i]}":
            raise input_error(w("edge"), "disagrees with sender and receiver", repr(e["edge"][i]),
                              repr(f"{e['sender'][i]}->{e['receiver'][i]}"))
        kept = int(e["kept"][i])
        if kept not in (0, 1):
            raise input_error(w("kept"), "is not a flag", kept, "0 or 1")
        # receivers in our spelling: a head (q; k/v name the key-value head), "mlpL", "logits"
        receiver = (f"{rl}.{rh}" if channel in ("q", "k", "v") else
                    f"mlp{rl}" if channel == "mlp" else "logits")
        return {"edge": e["edge"][i], "sender": sender, "receiver": receiver, "channel": channel,
                "logit_diff": _float(e["logit_diff"][i]), "ratio": _float(e["ratio"][i]),
                "effect": _float(e["effect"][i]), "kept": bool(kept)}

    # -- faithfulness ---------------------------------------------------------------------------

    def _read_faithfulness(self, f, names, multi):
        where, c, n = _columns(self.path, f, "faithfulness_curves", CURVE_COLUMNS, names)
        by_key = {}
        for i in range(n):
            exp = _exp(c, i)
            key = exp + (c["stage"][i], int(c["curve"][i]))
            if key in by_key:
                raise input_error(f"{where}/curve row {i}", "repeats a curve",
                                  f"stage {key[6]} curve {key[7]}",
                                  "one row per (experiment, stage, curve)")
            m_full, m_empty = float(c["m_full"][i]), float(c["m_empty"][i])
            rec = {"task": exp[2],
                   "setting": _setting(exp, {"stage": c["stage"][i], "source": c["source"][i],
                                             "level": c["level"][i]}, multi),
                   "curve": int(c["curve"][i]), "metric": c["metric"][i],
                   "n_items": int(c["n_items"][i]), "m_full": m_full, "m_empty": m_empty,
                   "cpr": _float(c["cpr"][i]), "cmd": _float(c["cmd"][i]),
                   "average": _float(c["average"][i]),
                   "ranking": [from_mib(x) or x for x in c["ranking"][i].split()],
                   "points": []}
            by_key[key] = rec
            self.faithfulness.append(rec)
        pwhere, p, m = _columns(self.path, f, "faithfulness", POINT_COLUMNS, names)
        for i in range(m):
            key = _exp(p, i) + (p["stage"][i], int(p["curve"][i]))
            rec = by_key.get(key)
            if rec is None:
                raise input_error(f"{pwhere}/curve row {i}", "names no row of "
                                  "/faithfulness_curves", f"{'/'.join(map(str, key[:5]))} "
                                  f"stage {key[6]} curve {key[7]}",
                                  "a curve of the same experiment and stage")
            score, faith = float(p["score"][i]), float(p["faithfulness"][i])
            span = rec["m_full"] - rec["m_empty"]
            if span != 0 and math.isfinite(score):
                expect = (score - rec["m_empty"]) / span
                if not abs(faith - expect) <= FAITHFULNESS_TOL * max(1.0, abs(expect)):
                    raise input_error(f"{pwhere}/faithfulness row {i}", "disagrees with score, "
                                      "m_full and m_empty", f"{faith!r}",
                                      f"(score - m_empty) / (m_full - m_empty) = {expect!r}")
            size = int(p["size"][i])
            if not 0 <= size <= rec["n_items"]:
                raise input_error(f"{pwhere}/size row {i}", "outside the curve's items", size,
                                  f"0..{rec['n_items']} (n_items)")
            rec["points"].append({"size": size, "fraction": float(p["fraction"][i]),
                                  "mib": bool(int(p["mib"][i])), "score": score,
                                  "faithfulness": _float(faith)})


def read(results):
    return [File(r) for r in results]


def edge_circuit_entries(files):
    """summary.json 'edge_circuits': one entry per /edge_circuits row, every candidate edge."""
    out = []
    for f in files:
        for rec in f.edge_circuits:
            # the source ("circuits/reference/T20") already names threshold and order
            label = circuits_mod.setting_label(rec["setting"], drop=("threshold", "order"))
            out.append({"id": _slug(f"edges_{rec['task']}_{label}".replace(" / ", "_")),
                        "label": label, **rec})
    return out


def faithfulness_groups(files):
    """summary.json 'faithfulness': per setting (all but the task) the curve of each task."""
    groups = {}
    for f in files:
        for rec in f.faithfulness:
            sk = circuits_mod.setting_key(rec["setting"])
            # the figure's title names the ranking (source)
            label = circuits_mod.setting_label(rec["setting"], drop=("source",))
            g = groups.setdefault(sk, {"id": _slug("faithfulness_" + rec["setting"]["source"]
                                                   + "_" + label.replace(" / ", "_")),
                                       "setting": rec["setting"], "label": label, "tasks": {}})
            if rec["task"] in g["tasks"]:
                raise input_error(f"{f.path}: /faithfulness_curves", "two curves of one task in "
                                  "one setting", f"{rec['task']}, {label}",
                                  "one curve per task, stage and experiment")
            pts = sorted(rec["points"], key=lambda x: (x["fraction"], x["size"], x["mib"]))
            g["tasks"][rec["task"]] = {k: v for k, v in rec.items()
                                       if k not in ("task", "setting", "points")}
            g["tasks"][rec["task"]]["points"] = {
                k: [x[k] for x in pts] for k in ("size", "fraction", "mib", "score",
                                                 "faithfulness")}
    return list(groups.values())
