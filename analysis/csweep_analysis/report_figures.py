"""Which figures the analysis draws, and how each is drawn from summary.json alone.

plan(summary) lists the figures the data allows ({"name", "kind", "ref", "caption"}); draw(summary,
entry) returns the matplotlib Figure of one entry. draw_all writes them, and tests redraw any
entry from the summary.json on disk to compare what is drawn with the numbers.
"""
import numpy as np

from . import components
from . import figures as F

EXP_KEYS = ["model", "seed", "corruption", "ablation"]


def _exp(d, keys=EXP_KEYS):
    """'default / seed 0 / randAll / mean'."""
    return " / ".join((f"seed {d[k]}" if k == "seed" else str(d[k]))
                      for k in keys if k in d and d[k] is not None)


def _slug(text):
    import re
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")


def _same(d, ref):
    return all(d.get(k) == v for k, v in ref.items())


def _experiments(rows, keys=EXP_KEYS):
    out = []
    for r in rows:
        k = {key: r.get(key) for key in keys}
        if k not in out:
            out.append(k)
    return out


def plan(s):
    out = []
    add = out.append
    for g in s["circuit_groups"]:
        if str(g["setting"].get("order", "")).startswith("random"):
            continue  # one figure per random order would bury the rest: see survival figures
        n = len(g["tasks"])
        what = ("single-ablation sets" if g["kind"] == "single_ablation" else "circuits")
        mlp_note = ""
        mlps = {t: c["mlps"] for t, c in g["circuits"].items() if c["mlps"]}
        if mlps:
            shared = g["components"]["union"]["count"] - g["heads"]["union"]["count"]
            mlp_note = f" MLPs are not drawn ({shared} in the union; see summary.json 'components')."
        rule = f" ({g['setting']['rule']})" if "rule" in g["setting"] else ""
        if n in (2, 3):
            add({"name": f"venn_{g['id']}", "kind": "venn", "ref": {"circuit_group": g["id"]},
                 "caption": f"Heads shared by the {what} of {', '.join(g['tasks'])}{rule}; "
                            f"{g['label']}. Each region gives the number of heads in exactly those "
                            f"{what} and lists them." + mlp_note})
        elif n > 3:
            add({"name": f"upset_{g['id']}", "kind": "upset", "ref": {"circuit_group": g["id"]},
                 "caption": f"UpSet plot of the heads of the {what} of {n} tasks{rule}; "
                            f"{g['label']}: bars count the heads in exactly the marked sets."})
        if n >= 2:
            add({"name": f"jaccard_{g['id']}", "kind": "jaccard", "ref": {"circuit_group": g["id"]},
                 "caption": f"Jaccard index |A∩B|/|A∪B| of the heads of the {what} of each pair "
                            f"of tasks{rule}; {g['label']}."})
        if g["kind"] != "single_ablation":
            with_edges = any("edges" in c for c in g["circuits"].values())
            add({"name": f"diagram_{g['id']}", "kind": "diagram", "ref": {"circuit_group": g["id"]},
                 "caption": f"Circuit diagrams ({g['label']}): every head at (head, layer), the "
                            "MLP of each layer at the right; filled = in the circuit. "
                            + ("Arrows: kept edges, sender to receiver (solid q, dashed k, dotted "
                               "v; MLP and final-residual receivers solid)." if with_edges else
                               "No edges given: components only.")})
    for sv in s.get("survival", []):
        ns = sorted({d["n_runs"] for d in sv["tasks"].values()})
        n_text = "/".join(str(n) for n in ns)
        add({"name": sv["id"], "kind": "survival", "ref": {"survival": sv["id"]},
             "caption": f"Survival frequency ({sv['label']}): for each task, how many of the "
                        f"N = {n_text} seeded random removal orders end in a circuit that keeps "
                        "each head (grid: layer x head) and each MLP (right column); the "
                        "reference order is not counted. '-': not a pruning candidate."})
    for sz in s.get("size_vs_threshold", []):
        for task, rows in sz["tasks"].items():
            n_random = len({r["order"] for r in rows if str(r["order"]).startswith("random")})
            named = sorted({r["order"] for r in rows if not str(r["order"]).startswith("random")})
            add({"name": f"{sz['id']}_{_slug(task)}", "kind": "size_vs_threshold",
                 "ref": {"size_vs_threshold": sz["id"], "task": task},
                 "caption": f"Circuit size of {task} against the pruning threshold T "
                            f"({sz['label']}): heads (left) and MLPs (right) kept when a removal "
                            "may cost at most T pp of performance"
                            + (f"; the {', '.join(named)} order{'s' if len(named) > 1 else ''} "
                               "marked" if named else "")
                            + (f"; dots: each of {n_random} random orders, bar: their range, "
                               "tick: their median" if n_random else "") + "."})
    for tr in s.get("trajectories", []):
        add({"name": tr["id"], "kind": "trajectory", "ref": {"trajectory": tr["id"]},
             "caption": f"Pruning trajectory ({tr['label']}): every candidate evaluation of the "
                        "run in order, with the performance (% of the clean logit difference) "
                        "when the candidate is ablated on top of everything removed before it "
                        "(filled: removed, hollow: kept); the line is the circuit's performance "
                        "after each step, the dashed line 100 - T (a candidate is removed when "
                        "its point lies above it), dotted lines separate the passes."})
    for ec in s.get("edge_circuits", []):
        add({"name": ec["id"], "kind": "edge_graph", "ref": {"edge_circuit": ec["id"]},
             "caption": f"Kept edges of the {ec['task']} circuit ({ec['label']}): {ec['n_kept']} "
                        f"of {ec['n_candidates']} candidate edges, components by layer (circles "
                        "heads, squares MLPs), arrows from sender to receiver coloured and styled "
                        "by what the receiver reads (q, k, v, MLP input, logits), wider for a "
                        "larger |effect| of patching the edge; grey: circuit components with no kept "
                        "edge. Circuit performance "
                        f"{_pct(ec['circuit_performance'])} with every edge, "
                        f"{_pct(ec['recheck_performance'])} with only the kept edges."})
    for fg in s.get("faithfulness", []):
        add({"name": fg["id"], "kind": "faithfulness", "ref": {"faithfulness": fg["id"]},
             "caption": f"Faithfulness curves ({fg['label']}): keeping the top-k of the N ranked "
                        "components (the rest ablated), f(k) = (m(C_k) - m(empty)) / (m(full) - "
                        "m(empty)) against k / N; squares: the MIB fraction points p (k = "
                        "floor(p N), so a square has the height of the nearest dot at or left of "
                        "it), whose trapezoid area (shaded) is CPR; CMD is the area between f and "
                        "1."})
    for ct in s.get("cross_task", []):
        if str(ct["setting"].get("order", "")).startswith("random"):
            continue  # random orders: in summary.json and the tables
        add({"name": ct["id"], "kind": "cross_task", "ref": {"cross_task": ct["id"]},
             "caption": f"Cross-task performance ({ct['label']}): the circuit found on each task "
                        "(rows; last rows the intersection and the union of all tasks' circuits, "
                        "with their number of components) kept alone and evaluated on each task "
                        "(columns), in % of that task's clean logit difference; 100 = the full "
                        "model."})
    for ref in _experiments(s["effect_grids"]):
        add({"name": "heads_" + _slug(_exp(ref)), "kind": "heatmap", "ref": {"effect_grids": ref},
             "caption": f"Effect of mean-ablating each head alone ({_exp(ref)}): performance - 100 "
                        "in pp of the clean logit difference; negative (red) = the head matters. "
                        "Cells print the value."})
    for ref in _experiments(s["position_grids"]):
        add({"name": "positions_" + _slug(_exp(ref)), "kind": "position_heatmap",
             "ref": {"position_grids": ref},
             "caption": f"Effect of ablating each head at one position ({_exp(ref)}), pp of "
                        "performance; rows are positions, columns heads."})
    for ref in _experiments(s["performance_by_components"]):
        add({"name": "performance_vs_components_" + _slug(_exp(ref)), "kind": "by_size",
             "ref": {"performance_by_components": ref},
             "caption": f"Performance against the number of heads ablated together ({_exp(ref)}): "
                        "median over every combination of that size, shaded from the least to the "
                        "most harmful."})
    for ref in _experiments(s["effect_correlation"]):
        add({"name": "task_correlation_" + _slug(_exp(ref)), "kind": "correlation",
             "ref": {"effect_correlation": ref},
             "caption": f"Pearson correlation between tasks of the single-head effects "
                        f"({_exp(ref)})."})
    for ref in _experiments(s["baselines"], ["model", "seed"]):
        add({"name": "corruptions_" + _slug(_exp(ref, ["model", "seed"])), "kind": "corruptions",
             "ref": {"baselines": ref},
             "caption": "Corrupted logit difference as % of the clean one, per task and "
                        f"corruption ({_exp(ref, ['model', 'seed'])}); a bar at or below the "
                        f"dashed line ({s['erase_below_percent']:g} %) marks a corruption that "
                        "erases the task."})
    return out


def _group(s, gid):
    return next(g for g in s["circuit_groups"] if g["id"] == gid)


def _pct(v):
    return "n/a" if v is None else f"{v:.1f} %"


def _has_mlps(d):
    if d.get("pool") is not None:
        return any(not p[:1].isdigit() for p in d["pool"])
    return any(r["component"].startswith("mlp") for r in d["components"])


def survival_shape(s, sv):
    """Layers and heads of a survival grid: the pools' extent, at least the model shape."""
    n_layers, n_heads = s["model_shape"]["n_layers"], s["model_shape"]["n_heads"]
    for d in sv["tasks"].values():
        if d.get("shape"):
            n_layers = max(n_layers, d["shape"]["n_layers"])
            n_heads = max(n_heads, d["shape"]["n_heads"])
        for r in d["components"]:
            kind, layer, idx = components.parse(r["component"])
            n_layers = max(n_layers, layer + 1)
            if kind == components.HEAD:
                n_heads = max(n_heads, idx + 1)
    return {"n_layers": n_layers, "n_heads": n_heads}


def draw(s, entry):
    kind, ref = entry["kind"], entry["ref"]
    if kind in ("venn", "upset", "jaccard", "diagram"):
        g = _group(s, ref["circuit_group"])
        title = {"single_ablation": "Heads whose single ablation costs >= "
                                    f"{g['setting'].get('threshold', '')} pp"}.get(g["kind"],
                                                                                  "Heads shared by the circuits")
        subtitle = f"{title}\n{g['label']}"
        if kind == "venn":
            return F.venn(g["tasks"], g["heads"]["venn"], subtitle)
        if kind == "upset":
            return F.upset(g["tasks"], {t: g["circuits"][t]["heads"] for t in g["tasks"]},
                           subtitle)
        if kind == "jaccard":
            j = g["heads"]["jaccard"]
            return F.matrix(j["tasks"], j["tasks"], j["matrix"], f"Jaccard index of heads\n"
                            f"{g['label']}", "Jaccard index", row_label="task", col_label="task",
                            vmin=0.0, vmax=1.0)
        shape = s["model_shape"]
        cs = [dict(task=t, **g["circuits"][t]) for t in g["tasks"]]
        edges = {t: g["circuits"][t]["edges"] for t in g["tasks"] if "edges" in g["circuits"][t]}
        return F.circuit_diagram(cs, shape["n_layers"], shape["n_heads"],
                                 f"Circuits: {g['label']}", edges=edges or None)
    if kind == "survival":
        sv = next(x for x in s["survival"] if x["id"] == ref["survival"])
        shape = survival_shape(s, sv)
        mlps = any(_has_mlps(d) for d in sv["tasks"].values())
        panels = [{"title": t, "counts": {r["component"]: r["count"] for r in d["components"]},
                   "n_runs": d["n_runs"], "pool": d.get("pool"), "mlps": mlps}
                  for t, d in sv["tasks"].items()]
        ns = sorted({d["n_runs"] for d in sv["tasks"].values()})
        return F.survival_grid(panels, shape["n_layers"], shape["n_heads"],
                               f"Components kept by N = {'/'.join(map(str, ns))} random removal "
                               f"orders\n{sv['label']}")
    if kind == "size_vs_threshold":
        sz = next(x for x in s["size_vs_threshold"] if x["id"] == ref["size_vs_threshold"])
        return F.circuit_sizes(sz["tasks"][ref["task"]],
                               f"Circuit size of {ref['task']}\n{sz['label']}")
    if kind == "trajectory":
        tr = next(x for x in s["trajectories"] if x["id"] == ref["trajectory"])
        panels = [dict(title=t, **d) for t, d in tr["tasks"].items()]
        return F.trajectory(panels, f"Pruning trajectory, {tr['setting'].get('order', '')} "
                                    f"order\n{tr['label']}")
    if kind == "edge_graph":
        ec = next(x for x in s["edge_circuits"] if x["id"] == ref["edge_circuit"])
        return F.edge_graph(ec, s["model_shape"]["n_layers"],
                            f"{ec['task']}: {ec['n_kept']} of {ec['n_candidates']} candidate "
                            f"edges kept; performance {_pct(ec['circuit_performance'])} with "
                            f"every edge, {_pct(ec['recheck_performance'])} with the kept edges "
                            f"only\n{ec['label']}")
    if kind == "faithfulness":
        fg = next(x for x in s["faithfulness"] if x["id"] == ref["faithfulness"])
        panels = [dict(title=t, **d) for t, d in fg["tasks"].items()]
        level = {"nodes": "components", "edges": "edges"}.get(fg["setting"].get("level"),
                                                               "items")
        metrics = sorted({d["metric"] for d in fg["tasks"].values()})
        return F.faithfulness(panels, f"Faithfulness of the {fg['setting'].get('source', '')} "
                                      f"ranking\n{fg['label']}",
                              f"fraction of the {{n}} ranked {level} kept (k / N)",
                              f"faithfulness f(k) of m = {', '.join(metrics)}")
    if kind == "cross_task":
        ct = next(x for x in s["cross_task"] if x["id"] == ref["cross_task"])
        rows = [(f"{r} circuit" if r not in ("intersection", "union") else
                 ("∩ of all tasks" if r == "intersection" else "∪ of all tasks")) + f" ({n})"
                for r, n in zip(ct["rows"], ct["n_components"])]
        vals = [[np.nan if v is None else v for v in r] for r in ct["performance"]]
        fig = F.matrix(rows, [f"on {c}" for c in ct["columns"]], vals,
                       f"Circuits evaluated on every task\n{ct['label']}",
                       "performance (% of the task's clean LD)", fmt="{:.0f} %", center=100.0,
                       row_label="circuit (components)", col_label="evaluated on task")
        n_task_rows = sum(r not in ("intersection", "union") for r in ct["rows"])
        if n_task_rows < len(ct["rows"]):
            fig.axes[0].axhline(n_task_rows - 0.5, color="black", linewidth=1.5)
        return fig
    if kind == "heatmap":
        rows = [r for r in s["effect_grids"] if _same(r, ref["effect_grids"])]
        panels = [{"title": r["task"], "grid": np.array(r["effect"], dtype=float)} for r in rows]
        return F.effect_heatmaps(panels, f"Single-head ablation: {_exp(ref['effect_grids'])}",
                                 "layer", "head")
    if kind == "position_heatmap":
        rows = [r for r in s["position_grids"] if _same(r, ref["position_grids"])]
        panels = [{"title": r["task"], "grid": np.array(r["effect"], dtype=float)} for r in rows]
        return F.effect_heatmaps(panels, f"Head ablation per position: "
                                 f"{_exp(ref['position_grids'])}", "position", "head",
                                 row_ticks=[r["positions"] for r in rows],
                                 col_ticks=[r["components"] for r in rows])
    if kind == "by_size":
        rows = [r for r in s["performance_by_components"]
                if _same(r, ref["performance_by_components"])]
        series = []
        for task in dict.fromkeys(r["task"] for r in rows):
            tr = sorted((r for r in rows if r["task"] == task), key=lambda r: r["n_components"])
            series.append({"label": task, "x": [r["n_components"] for r in tr],
                           "y": [r["median_performance"] for r in tr],
                           "lo": [r["min_performance"] for r in tr],
                           "hi": [r["max_performance"] for r in tr]})
        return F.lines(series, f"Performance vs heads ablated: "
                       f"{_exp(ref['performance_by_components'])}",
                       "number of heads ablated together", "performance (% of clean LD)",
                       band=100.0)
    if kind == "correlation":
        r = next(r for r in s["effect_correlation"] if _same(r, ref["effect_correlation"]))
        return F.matrix(r["tasks"], r["tasks"], r["matrix"], "Correlation of single-head effects"
                        f"\n{_exp(ref['effect_correlation'])} ({r['n_heads']} heads)",
                        "Pearson r", center=0.0, row_label="task", col_label="task")
    if kind == "corruptions":
        rows = [r for r in s["baselines"] if _same(r, ref["baselines"])]
        tasks = list(dict.fromkeys(r["task"] for r in rows))
        corr = list(dict.fromkeys(r["corruption"] for r in rows))
        val = {(r["task"], r["corruption"]): r["corrupted_performance"] for r in rows}
        values = [[val.get((t, c), np.nan) for t in tasks] for c in corr]
        return F.grouped_bars(tasks, corr, values, "Which corruptions erase each task\n"
                              f"{_exp(ref['baselines'], ['model', 'seed'])}",
                              "corrupted LD (% of clean LD)", "task",
                              hline=s["erase_below_percent"],
                              hline_label=f"erased at <= {s['erase_below_percent']:g} %")
    raise ValueError(f"unknown figure kind {kind!r}")


def draw_all(s, out_dir):
    entries = []
    for e in plan(s):
        fig = draw(s, e)
        e["files"] = F.save(fig, out_dir, e["name"], e["caption"])
        entries.append(e)
    return entries
