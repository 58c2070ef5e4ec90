"""`csweep analyze`: results files (and/or a circuits file) -> summary.json, tables, figures.

Output folder layout (written into a temporary sibling folder and renamed into place at the
end, so a failed run never leaves a folder that looks complete; summary.json is the marker):

    DIR/summary.json          every number, Venn regions keyed by task set ("digits&months")
    DIR/tables/<name>.csv     one CSV per table (full precision)
    DIR/tables/<name>.tex     the same table for the paper (booktabs)
    DIR/figures/<name>.pdf    with --figures: PDF (vector) + PNG + caption (.txt)
"""
import json
import math
import os
import re
import sys
import tomllib

import numpy as np
import pandas as pd

from . import circuit_stages
from . import circuits as circuits_mod
from . import components, effects, outdir, pruning, sets, tables
from .errors import input_error
from .results import load_all

SUMMARY_FORMAT = 1


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "all"


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _records(df):
    return _jsonable(df.to_dict(orient="records")) if not df.empty else []


def job_thresholds(results):
    """Pruning thresholds T (percent) of the job specs ([experiments] thresholds)."""
    out = []
    for r in results:
        text = r.attrs.get("job_spec")
        if not text:
            continue
        try:
            spec = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            continue
        for t in spec.get("experiments", {}).get("thresholds", []):
            if t not in out:
                out.append(t)
    return out


def single_ablation_sets(singles, thresholds):
    """Per (model, seed, corruption, ablation, T) and task: the heads whose ablation alone costs
    at least T pp of performance. Not a circuit (pruning ablates heads together); a quick,
    documented overlap of the heads each task depends on most."""
    out = []
    if singles.empty:
        return out
    for t in thresholds:
        for key, g in singles.groupby(["model", "seed", "corruption", "ablation"], sort=False):
            setting = dict(zip(["model", "seed", "corruption", "ablation"], key))
            setting.update({"rule": f"single-head ablation costs >= {t:g} pp", "threshold": t,
                            "source": "single heads"})
            for task, tg in g.groupby("task", sort=False):
                heads = tg.loc[tg["effect"] <= -t, "head"].tolist()
                out.append(circuits_mod.make(task, setting, heads, []))
    return out


def overlap(group_circuits, what):
    """Venn regions, intersections, union, pairwise and Jaccard of one group's circuits."""
    by_task = {c["task"]: set(c["heads"] if what == "heads" else c["components"])
               for c in group_circuits}
    regions = sets.venn_regions(by_task)
    names, jac = sets.jaccard_matrix(by_task)
    return {
        "venn": {sets.region_key(r["sets"]): r for r in regions},
        "intersections": {sets.region_key(r["sets"]): r for r in sets.intersections(by_task)},
        "union": {"count": len(sets.union(by_task)), "members": sets.union(by_task)},
        "pairwise": sets.pairwise(by_task),
        "jaccard": {"tasks": names, "matrix": jac},
    }


def _is_random(order):
    return str(order).startswith("random")


def _pool_shape(runs):
    """(pool or None, {"n_layers", "n_heads"} or None) of circuits read from a results file."""
    pool = runs[0].get("pool")
    if not pool:
        return None, None
    parsed = [components.parse(p) for p in pool]
    return list(pool), {"n_layers": max(p[1] for p in parsed) + 1,
                        "n_heads": max([p[2] + 1 for p in parsed if p[0] == components.HEAD]
                                       or [0])}


def survival_groups(cs):
    """Survival frequency of each component across the random removal orders of one setting
    (all but task and order), per task: how many of the N seeded random orders keep it. The
    reference (and reversed) order is one fixed order, not a sample, so it is not counted; a task
    needs at least two random orders."""
    out = []
    for key, members in circuits_mod.group(cs, drop=("task", "order")).items():
        setting = {k: v for k, v in members[0]["setting"].items() if k != "order"}
        per_task = {}
        for c in members:
            if _is_random(c["setting"].get("order")):
                per_task.setdefault(c["task"], []).append(c)
        tasks = {}
        for task, runs in per_task.items():
            if len(runs) < 2:
                continue
            surv = sets.survival([set(r["components"]) for r in runs])
            pool, shape = _pool_shape(runs)
            tasks[task] = {"n_runs": len(runs),
                           "orders": [r["setting"].get("order") for r in runs],
                           "components": surv,
                           # across orders: kept by every run / by any run
                           "intersection": components.sort(r["component"] for r in surv
                                                           if r["count"] == len(runs)),
                           "union": components.sort(r["component"] for r in surv),
                           "sizes": [len(r["components"]) for r in runs],
                           "pool": pool, "shape": shape}
        if tasks:
            label = circuits_mod.setting_label(setting)
            out.append({"id": _slug("survival_" + label.replace(" / ", "_").replace("T = ", "T")),
                        "setting": setting, "label": label, "tasks": tasks})
    return out


def size_groups(cs):
    """Circuit size per threshold and removal order, per task, for each setting (all but task,
    threshold and order): one row per circuit {threshold, order, heads, mlps, components,
    performance}, sorted by threshold then order. Kept where a task has circuits at two or more
    thresholds or of two or more orders."""
    out = []
    for key, members in circuits_mod.group(cs, drop=("task", "threshold", "order")).items():
        setting = {k: v for k, v in members[0]["setting"].items()
                   if k not in ("threshold", "order")}
        tasks = {}
        for c in members:
            t = c["setting"].get("threshold")
            if t is None:
                continue
            tasks.setdefault(c["task"], []).append(
                {"threshold": t, "order": c["setting"].get("order", "given"),
                 "heads": len(c["heads"]), "mlps": len(c["mlps"]),
                 "components": len(c["components"]), "performance": c["performance"]})
        tasks = {t: sorted(v, key=lambda r: (r["threshold"], _is_random(r["order"]),
                                             _order_key(r["order"])))
                 for t, v in tasks.items()
                 if len({r["threshold"] for r in v}) >= 2 or len({r["order"] for r in v}) >= 2}
        if tasks:
            label = circuits_mod.setting_label(setting)
            out.append({"id": _slug("size_" + label.replace(" / ", "_")), "setting": setting,
                        "label": label, "tasks": tasks})
    return out


def _order_key(order):
    """random#10 after random#9; named orders by name."""
    m = re.match(r"^random[#:](\d+)$", str(order))
    return (0, int(m.group(1)), "") if m else (1, 0, str(order))


class Analysis:
    def __init__(self, args):
        self.args = args
        self.notes = []
        self.summary = {"generator": "csweep analyze", "format": SUMMARY_FORMAT}
        self.table_entries = []
        self.figure_entries = []

    def note(self, text):
        self.notes.append(text)
        print(f"csweep analyze: note: {text}", file=sys.stderr)

    # -- inputs ---------------------------------------------------------------------------------

    def load(self):
        a = self.args
        self.results = load_all(a.results, a.allow_incomplete) if a.results else []
        self.summary["inputs"] = [
            {"path": r.path, "complete": r.complete, "units": list(r.coverage),
             "job_spec_path": r.attrs.get("job_spec_path"),
             "csweep_git_revision": r.attrs.get("csweep_git_revision"),
             "tables": sorted(list(r.tables) + list(r.raw_tables))}
            for r in self.results]
        self.given, self.given_meta = ([], {})
        if a.circuits:
            self.given, self.given_meta = circuits_mod.load_json(a.circuits)
        self.summary["circuits_file"] = (
            {"path": a.circuits, **{k.lstrip("_"): v for k, v in self.given_meta.items()}}
            if a.circuits else None)

    # -- computations ---------------------------------------------------------------------------

    def compute(self):
        a = self.args
        df = effects.interventions(self.results)
        self.singles = effects.single_heads(df, self.notes)
        self.pairs = effects.head_pairs(df, self.singles, self.notes)
        self.positions = effects.positions(df)
        self.by_size = effects.performance_by_size(df)
        self.grids = effects.grids(self.singles)
        self.position_grids = effects.position_grids(self.positions)
        self.correlations = effects.effect_correlation(self.singles)
        self.baselines = effects.baselines(self.results, a.erase_below)
        if self.results and df.empty:
            self.note("the results files hold no intervention table")

        thresholds = a.thresholds or job_thresholds(self.results) or [20]
        self.thresholds = thresholds
        groups = []
        if self.given:
            groups.append(("circuits", self.given))
        self.pruning_files, pruned = pruning.read(self.results)
        self.cross_task = pruning.cross_task_groups(self.pruning_files)
        self.trajectories = pruning.trajectories(self.pruning_files)
        stage_files = circuit_stages.read(self.results)
        self.edge_circuits = circuit_stages.edge_circuit_entries(stage_files)
        self.faithfulness = circuit_stages.faithfulness_groups(stage_files)
        for pf in self.pruning_files:
            if not pf.has_cross_task:
                self.note(f"{pf.path}: no /cross_task (a shard or an unfinished grid; csweep "
                          "merge or csweep cross-task FILE writes it): cross-task scores skipped")
        if self.results and not pruned:
            self.note("no circuits table (pruning family) in the results: circuit Venns, "
                      "survival frequencies, circuit size vs threshold and cross-task scores "
                      "come from pruning runs and are skipped")
        for kind, cs in [("pruning", pruned),
                         ("single_ablation", single_ablation_sets(self.singles, thresholds))]:
            if cs:
                groups.append((kind, cs))
        self.survival, self.size_vs_threshold = [], []
        for kind, cs in groups:
            if kind == "single_ablation":
                continue
            self.survival += survival_groups(cs)
            self.size_vs_threshold += size_groups(cs)
        self.groups = []
        for kind, cs in groups:
            for key, members in circuits_mod.group(cs, drop=("task",)).items():
                setting = members[0]["setting"]
                tasks = [c["task"] for c in members]
                if len(set(tasks)) != len(tasks):
                    raise input_error(setting.get("source", ""), "two circuits of one task in one "
                                      "setting", circuits_mod.setting_label(setting),
                                      "one circuit per task and setting")
                self.groups.append({
                    "id": _slug(f"{kind}_{circuits_mod.setting_label(setting)}"
                                .replace(" / ", "_").replace("T = ", "T")),
                    "kind": kind, "setting": setting,
                    "label": circuits_mod.setting_label(setting),
                    "tasks": tasks,
                    "circuits": {c["task"]: {"heads": c["heads"], "mlps": c["mlps"],
                                             "components": c["components"],
                                             "performance": c["performance"],
                                             **({"edges": c["edges"]} if "edges" in c else {})}
                                 for c in members},
                    "heads": overlap(members, "heads"),
                    "components": overlap(members, "components"),
                })

    # -- outputs --------------------------------------------------------------------------------

    def write_tables(self, out):
        t = os.path.join(out, "tables")
        add = self.table_entries.append
        top_cols = effects.EXPERIMENT + ["family", "label", "performance", "effect"]
        if not self.baselines.empty:
            cols = [c for c in effects.EXPERIMENT if c in self.baselines] + [
                "clean_logit_diff", "corrupted_logit_diff", "corrupted_performance",
                "clean_accuracy", "corrupted_accuracy", "n_prompts", "erased"]
            add(tables.write(self.baselines[[c for c in cols if c in self.baselines]], t,
                             "corruptions", "Clean and corrupted logit difference per task and "
                             f"corruption; erased = corrupted run keeps <= "
                             f"{self.args.erase_below:g} % of the clean LD."))
        if not self.singles.empty:
            add(tables.write(effects.top(self.singles, self.args.top, columns=top_cols), t,
                             "top_single_heads", f"The {self.args.top} single heads whose "
                             "ablation lowers performance most, per experiment (effect = "
                             "performance - 100, pp)."))
            grid_rows = self.singles[effects.EXPERIMENT + ["layer", "head_index", "head",
                                                           "performance", "effect"]]
            add(tables.write(grid_rows.sort_values(effects.EXPERIMENT + ["layer", "head_index"]),
                             t, "single_head_grid", "Effect of ablating each head (layer x head), "
                             "per experiment."))
        if not self.pairs.empty:
            add(tables.write(effects.top(self.pairs, self.args.top,
                                         columns=top_cols + ["interaction"]), t,
                             "top_head_pairs", f"The {self.args.top} head pairs whose ablation "
                             "lowers performance most; interaction = effect(pair) - effect(a) - "
                             "effect(b) (pp)."))
        if not self.positions.empty:
            add(tables.write(effects.top(self.positions, self.args.top, columns=top_cols), t,
                             "top_heads_per_position", f"The {self.args.top} (head, position) "
                             "ablations that lower performance most."))
        if not self.by_size.empty:
            add(tables.write(self.by_size, t, "performance_by_components",
                             "Performance (%) against the number of components ablated "
                             "together."))
        prows = pruning.circuit_rows(self.pruning_files)
        if prows:
            add(tables.write(pd.DataFrame(prows), t, "pruning_circuits",
                             "Circuits of the pruning runs: per task, threshold T and removal "
                             "order, the heads and MLPs kept, the circuit's performance kept "
                             "alone (%), passes and candidate evaluations."))
        for ct in self.cross_task:
            rows = [{"circuit_of": r, "n_components": n, "evaluated_on": col, "performance": v}
                    for r, n, vals in zip(ct["rows"], ct["n_components"], ct["performance"])
                    for col, v in zip(ct["columns"], vals)]
            add(tables.write(pd.DataFrame(rows), t, ct["id"],
                             f"Cross-task performance ({ct['label']}): the circuit of one task "
                             "(or the intersection / union of all tasks' circuits) kept alone, "
                             "evaluated on each task, % of that task's clean LD."))
        if self.edge_circuits:
            rows = [{"task": ec["task"], **{k: v for k, v in ec["setting"].items()},
                     "circuit": ec["circuit"], **{k: e[k] for k in ("edge", "sender", "receiver",
                                                                   "channel", "ratio", "effect",
                                                                   "kept")}}
                    for ec in self.edge_circuits for e in ec["edges"]]
            add(tables.write(pd.DataFrame(rows), t, "edges",
                             "Candidate edges of each node circuit (edge_pruning stages): the "
                             "circuit's LD with the edge alone patched, as a ratio of the "
                             "circuit's LD and as an effect in units of LD_clean - LD_corrupt; "
                             "kept by the stage's rule."))
            rows = [{"task": ec["task"], **ec["setting"], "circuit": ec["circuit"],
                     "components": " ".join(ec["components"]), "n_candidates": ec["n_candidates"],
                     "n_kept": ec["n_kept"], "circuit_performance": ec["circuit_performance"],
                     "recheck_performance": ec["recheck_performance"]}
                    for ec in self.edge_circuits]
            add(tables.write(pd.DataFrame(rows), t, "edge_circuits",
                             "Node circuits whose edges were pruned: candidate and kept edges, "
                             "the circuit's performance (%) with every edge and with only its "
                             "kept edges (re-check)."))
        if self.faithfulness:
            rows = [{"task": task, **g["setting"], **{k: d[k] for k in (
                "metric", "n_items", "m_full", "m_empty", "cpr", "cmd", "average")}}
                for g in self.faithfulness for task, d in g["tasks"].items()]
            add(tables.write(pd.DataFrame(rows), t, "faithfulness",
                             "Faithfulness curves (MIB): CPR (area under f, higher is better) and "
                             "CMD (area between f and 1, lower is better) of each ranking.",
                             float_format="%.4f"))
        for sv in self.survival:
            rows = [{"task": task, "component": r["component"], "count": r["count"],
                     "runs": d["n_runs"], "frequency": r["frequency"]}
                    for task, d in sv["tasks"].items() for r in d["components"]]
            add(tables.write(pd.DataFrame(rows), t, sv["id"],
                             f"Survival frequency across the random removal orders "
                             f"({sv['label']}): the fraction of the random orders whose circuit "
                             "keeps the component (the reference order not counted).",
                             float_format="%.3f"))
        for sz in self.size_vs_threshold:
            rows = [{"task": task, **r} for task, v in sz["tasks"].items() for r in v]
            add(tables.write(pd.DataFrame(rows), t, sz["id"],
                             f"Circuit size against the threshold T ({sz['label']})."))
        for g in self.groups:
            rows = []
            for what in ("heads", "components"):
                for key, r in g[what]["venn"].items():
                    rows.append({"what": what, "region": key, "count": r["count"],
                                 "members": " ".join(r["members"])})
            add(tables.write(pd.DataFrame(rows), t, f"venn_{g['id']}",
                             f"Venn regions ({g['label']}): components in exactly these "
                             "circuits."))
            pw = pd.DataFrame([{k: (" ".join(v) if isinstance(v, list) else v)
                                for k, v in p.items()} for p in g["heads"]["pairwise"]])
            if not pw.empty:
                add(tables.write(pw, t, f"pairwise_{g['id']}",
                                 f"Pairwise overlaps of heads ({g['label']}), Jaccard index.",
                                 float_format="%.3f"))
            sizes = pd.DataFrame([{"task": task, "heads": len(c["heads"]), "mlps": len(c["mlps"]),
                                   "performance": c["performance"],
                                   "components": " ".join(c["components"])}
                                  for task, c in g["circuits"].items()])
            add(tables.write(sizes, t, f"circuits_{g['id']}", f"Circuits ({g['label']})."))

    def build_summary(self):
        """Every number as JSON-ready data; the figures are drawn from this alone."""
        s = self.summary
        s["thresholds"] = self.thresholds
        s["erase_below_percent"] = self.args.erase_below
        s["model_shape"] = self.model_shape()
        s["circuit_groups"] = self.groups
        s["survival"] = self.survival
        s["size_vs_threshold"] = self.size_vs_threshold
        s["cross_task"] = self.cross_task
        s["trajectories"] = self.trajectories
        s["edge_circuits"] = self.edge_circuits
        s["faithfulness"] = self.faithfulness
        s["baselines"] = _records(self.baselines)
        s["erased"] = {}
        if not self.baselines.empty:
            for task, g in self.baselines.groupby("task", sort=False):
                s["erased"][task] = sorted(set(g.loc[g["erased"], "corruption"]))
        top_cols = effects.EXPERIMENT + ["family", "label", "performance", "effect"]
        s["top_single_heads"] = _records(effects.top(self.singles, self.args.top,
                                                     columns=top_cols))
        s["top_head_pairs"] = _records(effects.top(self.pairs, self.args.top,
                                                   columns=top_cols + ["interaction"]))
        s["top_heads_per_position"] = _records(effects.top(self.positions, self.args.top,
                                                           columns=top_cols))
        s["effect_grids"] = self.grids
        s["position_grids"] = self.position_grids
        s["performance_by_components"] = _records(self.by_size)
        s["effect_correlation"] = self.correlations
        s["notes"] = self.notes
        self.summary = _jsonable(s)
        return self.summary

    def model_shape(self):
        """(n_layers, n_heads) for circuit diagrams: the circuits file's _model, else the
        single-head grids, else the largest layer and head named by any circuit."""
        m = self.given_meta.get("_model") if self.given_meta else None
        if isinstance(m, dict) and "n_layers" in m and "n_heads" in m:
            return {"n_layers": int(m["n_layers"]), "n_heads": int(m["n_heads"]),
                    "source": "circuits file _model"}
        if self.grids:
            return {"n_layers": max(g["n_layers"] for g in self.grids),
                    "n_heads": max(g["n_heads"] for g in self.grids), "source": "single heads"}
        layers, heads = [0], [0]
        for g in self.groups:
            for c in g["circuits"].values():
                for name in c["components"]:
                    kind, layer, idx = components.parse(name)
                    layers.append(layer)
                    if kind == components.HEAD:
                        heads.append(idx)
        return {"n_layers": max(layers) + 1, "n_heads": max(heads) + 1,
                "source": "largest layer and head in the circuits"}

    def write_summary(self, out):
        s = self.summary
        s["tables"] = self.table_entries
        s["figures"] = self.figure_entries
        s["notes"] = self.notes
        rel = lambda p: os.path.relpath(p, out)  # noqa: E731
        for e in s["tables"]:
            e["csv"], e["tex"] = rel(e["csv"]), rel(e["tex"])
        for e in s["figures"]:
            e["files"] = [rel(p) for p in e["files"]]
        with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(_jsonable(s), f, indent=1, allow_nan=False)
            f.write("\n")


def run(args):
    if not args.results and not args.circuits:
        raise input_error("csweep analyze", "nothing to analyse", "no RESULTS.h5 and no --circuits",
                          "one or more results files and/or --circuits FILE")
    analysis = Analysis(args)
    analysis.load()
    analysis.compute()
    path, tmp = outdir.prepare(args.out, "summary.json")
    try:
        analysis.write_tables(tmp)
        summary = analysis.build_summary()
        if args.figures:
            from . import report_figures
            analysis.figure_entries = report_figures.draw_all(summary, os.path.join(tmp, "figures"))
        analysis.write_summary(tmp)
        outdir.commit(tmp, path)
    except BaseException:
        outdir.discard(tmp)
        raise
    parts = ["summary.json", "tables/*.csv|tex"] + (["figures/*.pdf|png|txt"] if args.figures else [])
    print(f"csweep analyze: wrote {len(analysis.table_entries)} tables"
          + (f" and {len(analysis.figure_entries)} figures" if args.figures else "")
          + f" to {path}/ ({', '.join(parts)})")
    return 0
