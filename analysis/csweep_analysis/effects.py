"""Tables derived from the intervention tables of results files (single heads, head pairs, heads
per position, any combination family) and from the baselines.

Effect of an intervention = performance - 100, in percentage points (pp) of the clean logit
difference: 0 = no effect, -100 = the task's logit difference is gone, > 0 = the ablation helps.
"""
import numpy as np
import pandas as pd

from . import components

EXPERIMENT = ["model", "seed", "task", "corruption", "ablation"]


def interventions(results):
    """All intervention rows of all files, one DataFrame (column `source` = file)."""
    frames = []
    for r in results:
        for fam, df in r.tables.items():
            # A pruning family's rows are circuits (components = what a run removed), not
            # interventions of a sweep: read by pruning.py.
            if r.table_attrs.get(fam, {}).get("kind") == "pruning":
                continue
            frames.append(df.assign(source=r.path))
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    if "receiver" not in df:
        df["receiver"] = ""
    df["receiver"] = df["receiver"].fillna("")
    df["effect"] = df["performance"] - 100.0
    return df


def _plain(df):
    """Rows of plain ablations: every position, no path-patching receiver."""
    return df[(df["position"] == "") & (df["receiver"] == "")]


def _heads_only(df):
    return df[[all(components.is_head(c) for c in cs) for cs in df["components"]]]


def _dedupe(df, note, notes, what):
    """One row per (experiment, components): a combination evaluated by two families is the same
    intervention; keep the first family's row and say so."""
    key = EXPERIMENT + ["label"]
    dup = df.duplicated(key, keep="first")
    if dup.any():
        fams = sorted(set(df.loc[dup, "family"]))
        notes.append(f"{what}: {int(dup.sum())} rows also evaluated by family "
                     f"{', '.join(fams)}; the first family's rows are used")
    return df[~dup]


def single_heads(df, notes):
    """One row per (experiment, head): plain single-head ablations."""
    if df.empty:
        return df
    s = _heads_only(_plain(df[df["n_components"] == 1]))
    s = _dedupe(s, "", notes, "single heads")
    s = s.copy()
    s["head"] = [c[0] for c in s["components"]]
    parsed = [components.parse(h) for h in s["head"]]
    s["layer"] = [p[1] for p in parsed]
    s["head_index"] = [p[2] for p in parsed]
    return s


def head_pairs(df, singles, notes):
    """Plain two-head ablations with the pair's interaction: effect(pair) - effect(a) - effect(b)
    (0 when the two heads' effects add up; NaN when a single-head row is missing)."""
    if df.empty:
        return df
    p = _heads_only(_plain(df[df["n_components"] == 2]))
    p = _dedupe(p, "", notes, "head pairs").copy()
    if p.empty:
        return p
    single = {}
    if not singles.empty:
        for row in singles[EXPERIMENT + ["head", "effect"]].itertuples(index=False):
            single[tuple(row[:5]) + (row[5],)] = row[6]
    inter = []
    for row in p[EXPERIMENT + ["components", "effect"]].itertuples(index=False):
        exp = tuple(row[:5])
        a, b = row[5]
        ea, eb = single.get(exp + (a,)), single.get(exp + (b,))
        inter.append(row[6] - ea - eb if ea is not None and eb is not None else np.nan)
    p["interaction"] = inter
    return p


def positions(df):
    """Single components at one named position."""
    if df.empty:
        return df
    return df[(df["n_components"] == 1) & (df["position"] != "") & (df["receiver"] == "")]


def top(df, n, by="effect", columns=None):
    """The n rows of each experiment with the most negative `by`."""
    if df.empty:
        return df
    df = df[df[by].notna()]  # metrics an experiment did not request are NaN (schema.hpp)
    out = (df.sort_values(EXPERIMENT + [by], kind="stable")
           .groupby(EXPERIMENT, sort=False, dropna=False).head(n))
    cols = columns or (EXPERIMENT + ["family", "label", "performance", "effect"])
    return out[[c for c in cols if c in out]].reset_index(drop=True)


def grids(singles):
    """(layer x head) effect grid of each experiment: list of dicts with `effect` [layer][head]
    (NaN where a head was not evaluated)."""
    out = []
    if singles.empty:
        return out
    for exp, g in singles.groupby(EXPERIMENT, sort=False):
        n_layers = int(g["layer"].max()) + 1
        n_heads = int(g["head_index"].max()) + 1
        grid = np.full((n_layers, n_heads), np.nan)
        grid[g["layer"].to_numpy(), g["head_index"].to_numpy()] = g["effect"].to_numpy()
        out.append({**dict(zip(EXPERIMENT, exp)), "n_layers": n_layers, "n_heads": n_heads,
                    "effect": grid})
    return out


def position_grids(pos):
    """(position x head) effect grid of each experiment, heads in forward-pass order."""
    out = []
    if pos.empty:
        return out
    for exp, g in pos.groupby(EXPERIMENT, sort=False):
        heads = components.sort(set(c[0] for c in g["components"]))
        order = list(dict.fromkeys(g["position"]))
        grid = np.full((len(order), len(heads)), np.nan)
        hi = {h: i for i, h in enumerate(heads)}
        pi = {p: i for i, p in enumerate(order)}
        for c, p, e in zip(g["components"], g["position"], g["effect"]):
            grid[pi[p], hi[c[0]]] = e
        out.append({**dict(zip(EXPERIMENT, exp)), "positions": order, "components": heads,
                    "effect": grid})
    return out


def performance_by_size(df):
    """Performance against the number of components ablated together (plain ablations of every
    combination family): count, min, median, mean and max per experiment and size."""
    if df.empty:
        return df
    p = _plain(df)
    p = p[~p.duplicated(EXPERIMENT + ["label"])]
    g = p.groupby(EXPERIMENT + ["n_components"], sort=False)["performance"]
    out = g.agg(["count", "min", "median", "mean", "max"]).reset_index()
    # Experiments in the order of the file (its task order), sizes ascending within each.
    first = {k: i for i, k in enumerate(dict.fromkeys(map(tuple, out[EXPERIMENT].to_numpy())))}
    out["_order"] = [first[tuple(k)] for k in out[EXPERIMENT].to_numpy()]
    out = out.sort_values(["_order", "n_components"], kind="stable").drop(columns="_order")
    return out.rename(columns={"count": "n_interventions", "min": "min_performance",
                               "median": "median_performance", "mean": "mean_performance",
                               "max": "max_performance"})


def effect_correlation(singles):
    """Pearson correlation of single-head effects between tasks (same model, seed, corruption,
    ablation): a cross-task similarity that needs no circuit."""
    out = []
    if singles.empty:
        return out
    for key, g in singles.groupby(["model", "seed", "corruption", "ablation"], sort=False):
        wide = g.pivot_table(index="head", columns="task", values="effect", aggfunc="first")
        tasks = [t for t in dict.fromkeys(g["task"]) if t in wide]
        if len(tasks) < 2:
            continue
        m = wide[tasks].corr().to_numpy()
        out.append({**dict(zip(["model", "seed", "corruption", "ablation"], key)),
                    "tasks": tasks, "matrix": m, "n_heads": int(wide[tasks].dropna().shape[0])})
    return out


def baselines(results, erase_below):
    """Clean vs corrupted logit difference per experiment; a corruption erases a task when the
    corrupted run keeps at most `erase_below` % of the clean logit difference."""
    frames = [r.baselines.assign(source=r.path) for r in results if not r.baselines.empty]
    if not frames:
        return pd.DataFrame()
    b = pd.concat(frames, ignore_index=True)
    keep = [c for c in EXPERIMENT if c in b]
    # One baseline per dataset: the ablation kind does not change clean or corrupted runs.
    b = b.drop_duplicates([c for c in keep if c != "ablation"] + ["source"])
    b = b.drop(columns=[c for c in ("ablation", "metric_set") if c in b])
    b["corrupted_performance"] = 100.0 * b["corrupted_logit_diff"] / b["clean_logit_diff"]
    b["erased"] = b["corrupted_performance"] <= erase_below
    return b.reset_index(drop=True)
