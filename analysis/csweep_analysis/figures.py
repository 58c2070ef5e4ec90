"""Figures of the analysis, drawn with Debian's matplotlib, matplotlib-venn and upsetplot.

Every function takes the data exactly as summary.json stores it and returns a matplotlib Figure,
so what is drawn can be read back from the figure object and compared with the JSON (tests do).
save() writes PDF (vector), PNG and a one-line caption in a sidecar .txt.

Greyscale: Venn regions are shaded by how many sets they belong to, bars and lines differ by
hatch, marker and line style, and heatmaps print their values in the cells, so no figure relies
on hue alone.
"""
import math
import os
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

from . import components  # noqa: E402

DIVERGING = "RdBu"  # red = ablation lowers performance, blue = raises it; white = 0
SEQUENTIAL = "Greys"
HATCHES = ["", "//", "..", "xx", "\\\\", "oo", "--", "++", "**", "||"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
LINESTYLES = ["-", "--", ":", "-."]
# Venn region shades by the number of sets the region lies in (light -> dark), black text.
REGION_GREYS = {1: "0.93", 2: "0.78", 3: "0.62"}
MAX_LISTED = 12  # Venn regions with more members show only their count
ANNOTATE_CELLS = 400  # heatmaps with at most this many cells print each value


def save(fig, out_dir, name, caption):
    """Writes <name>.pdf, <name>.png and <name>.txt (the caption); returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, name)
    fig.savefig(base + ".pdf", bbox_inches="tight")
    fig.savefig(base + ".png", dpi=150, bbox_inches="tight")
    with open(base + ".txt", "w", encoding="utf-8") as f:
        f.write(caption.strip() + "\n")
    plt.close(fig)
    return [base + ".pdf", base + ".png", base + ".txt"]


# ---- Venn and UpSet -----------------------------------------------------------------------------

def venn_region_ids(tasks):
    """matplotlib-venn's region id ('100', '011', ...) of each set of tasks."""
    return {tuple(t for t, bit in zip(tasks, ids) if bit == "1"): ids
            for ids in (format(i, f"0{len(tasks)}b") for i in range(1, 2 ** len(tasks)))}


def region_text(region):
    """Text drawn in a Venn region: the count, then the members (when at most MAX_LISTED)."""
    text = str(region["count"])
    if 0 < region["count"] <= MAX_LISTED:
        text += "\n" + "\n".join(textwrap.wrap(" ".join(region["members"]), 15))
    return text


def parse_region_text(text):
    """(count, members or None) of a drawn region label: the inverse of region_text."""
    lines = text.split("\n")
    members = " ".join(lines[1:]).split() if len(lines) > 1 else None
    return int(lines[0]), members


def venn(tasks, regions, title, what="heads"):
    """Two- or three-way Venn diagram (matplotlib-venn, unweighted layout so every region has
    room for its members). `regions`: summary.json's {"a&b": {"sets", "count", "members"}}."""
    from matplotlib_venn import venn2_unweighted, venn3_unweighted

    if len(tasks) not in (2, 3):
        raise ValueError(f"a Venn diagram needs 2 or 3 sets, got {len(tasks)}")
    draw = venn2_unweighted if len(tasks) == 2 else venn3_unweighted
    fig, ax = plt.subplots(figsize=(7.0, 6.0) if len(tasks) == 3 else (7.0, 4.5))
    by_sets = {tuple(r["sets"]): r for r in regions.values()}
    totals = {t: sum(r["count"] for s, r in by_sets.items() if t in s) for t in tasks}
    v = draw(subsets=[1] * (2 ** len(tasks) - 1),
             set_labels=[f"{t}\n({totals[t]} {what})" for t in tasks], ax=ax)
    ids = venn_region_ids(tasks)
    for sets_, rid in ids.items():
        region = by_sets[sets_]
        label = v.get_label_by_id(rid)
        label.set_text(region_text(region))
        label.set_gid("region:" + "&".join(sets_))
        label.set_fontsize(9 if len(tasks) == 3 else 10)
        patch = v.get_patch_by_id(rid)
        if patch is not None:
            patch.set_facecolor(REGION_GREYS[len(sets_)])
            patch.set_alpha(1.0)
            patch.set_edgecolor("black")
            patch.set_linewidth(1.0)
    ax.set_title(title, pad=14)
    return fig


def read_venn(fig):
    """{"a&b": (count, members or None)} as drawn in a Venn figure (for tests and checks)."""
    out = {}
    for t in fig.axes[0].texts:
        gid = t.get_gid() or ""
        if gid.startswith("region:"):
            out[gid[len("region:"):]] = parse_region_text(t.get_text())
    return out


def upset(tasks, memberships, title, what="heads"):
    """UpSet plot (upsetplot) of more than three sets: `memberships` {task: [members]}."""
    import warnings

    import pandas as pd
    with warnings.catch_warnings():
        # upsetplot 0.8 uses APIs that matplotlib 3.6 and setuptools deprecate; harmless here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
        from upsetplot import UpSet, from_contents

        data = from_contents({t: memberships[t] for t in tasks})
        fig = plt.figure(figsize=(max(7.0, 0.5 * 2 ** min(len(tasks), 5)), 5.0))
        with pd.option_context("mode.chained_assignment", None):
            axes = UpSet(data, subset_size="count", show_counts=True, sort_by="cardinality",
                         facecolor="0.2").plot(fig=fig)
    from matplotlib.ticker import MaxNLocator
    axes["intersections"].set_ylabel(f"{what} in exactly these sets")
    axes["intersections"].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes["totals"].set_xlabel(f"{what} per set")
    axes["totals"].xaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
    fig.suptitle(title)
    return fig


def upset_bars(fig):
    """Bar heights of an UpSet figure's intersection plot, left to right."""
    for ax in fig.axes:
        if ax.get_ylabel().endswith("in exactly these sets"):
            return [p.get_height() for p in ax.patches]
    raise ValueError("no intersection axes in this figure")


# ---- heatmaps -----------------------------------------------------------------------------------

def _symmetric_norm(arrays):
    vmax = max((float(np.nanmax(np.abs(a))) for a in arrays if np.isfinite(a).any()), default=1.0)
    vmax = vmax if vmax > 0 else 1.0
    return TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)


def _annotate(ax, grid, fmt="{:.0f}"):
    if grid.size > ANNOTATE_CELLS:
        return
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            text = fmt.format(v)
            ax.text(j, i, "0" if text == "-0" else text, ha="center", va="center", fontsize=7,
                    color="black", bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none",
                                             alpha=0.6))


def effect_heatmaps(panels, title, row_label, col_label, row_ticks=None, col_ticks=None,
                    colorbar_label="effect (pp of clean performance)"):
    """One heatmap per panel ({"title", "grid" [rows][cols]}), one shared diverging colour scale
    centred on 0 effect, values printed in the cells."""
    n = len(panels)
    # Wide grids (positions x many heads) stack vertically; square ones sit side by side.
    cols = 1 if np.asarray(panels[0]["grid"]).shape[1] > 10 else min(n, 3)
    rows = math.ceil(n / cols)
    first = np.asarray(panels[0]["grid"], dtype=float)
    w = max(3.2, 0.45 * first.shape[1] + 1.2)
    h = max(2.8, 0.4 * first.shape[0] + 1.2)
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols + 1.0, h * rows + 0.6), squeeze=False,
                             layout="constrained")
    grids = [np.asarray(p["grid"], dtype=float) for p in panels]
    norm = _symmetric_norm(grids)
    im = None
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_visible(False)
            continue
        g = grids[k]
        im = ax.imshow(np.ma.masked_invalid(g), cmap=DIVERGING, norm=norm, aspect="auto")
        _annotate(ax, g)
        ax.set_title(panels[k]["title"], fontsize=10)
        ax.set_xlabel(col_label)
        ax.set_ylabel(row_label)
        ct = col_ticks[k] if col_ticks else list(range(g.shape[1]))
        rt = row_ticks[k] if row_ticks else list(range(g.shape[0]))
        ax.set_xticks(range(g.shape[1]))
        ax.set_xticklabels([str(c) for c in ct], rotation=90 if len(ct) > 16 else 0, fontsize=8)
        ax.set_yticks(range(g.shape[0]))
        ax.set_yticklabels([str(r) for r in rt], fontsize=8)
    cbar = fig.colorbar(im, ax=list(axes.flat), shrink=0.9)
    cbar.set_label(colorbar_label)
    fig.suptitle(title)
    return fig


def matrix(names_rows, names_cols, values, title, colorbar_label, fmt="{:.2f}", center=None,
           row_label="", col_label="", vmin=None, vmax=None):
    """An annotated matrix (cross-task scores, Jaccard, correlations); sequential greys from
    vmin to vmax, or a diverging map centred on `center`."""
    values = np.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 * len(names_cols) + 2.5, 1.0 * len(names_rows) + 1.8))
    if center is None:
        lo = np.nanmin(values) if vmin is None else vmin
        hi = np.nanmax(values) if vmax is None else vmax
        # Greys stop at 80 % black so the printed values stay readable on the darkest cells.
        cmap = matplotlib.colors.ListedColormap(plt.get_cmap(SEQUENTIAL)(np.linspace(0, 0.8, 256)))
        im = ax.imshow(values, cmap=cmap, vmin=lo, vmax=hi)
    else:
        span = max(float(np.nanmax(np.abs(values - center))), 1e-12)
        im = ax.imshow(values, cmap=DIVERGING, norm=TwoSlopeNorm(center, center - span,
                                                                  center + span))
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=10,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.75))
    ax.set_xticks(range(len(names_cols)))
    ax.set_xticklabels(names_cols, rotation=30, ha="right")
    ax.set_yticks(range(len(names_rows)))
    ax.set_yticklabels(names_rows)
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(title)
    fig.colorbar(im, ax=ax).set_label(colorbar_label)
    return fig


# ---- bars and lines -----------------------------------------------------------------------------

def grouped_bars(groups, series, values, title, ylabel, xlabel, hline=None, hline_label=None):
    """Bars of values[s][g] for each group g (x) and series s (hatch + grey shade)."""
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(groups) * max(1, len(series)) + 2), 4.2))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for k, s in enumerate(series):
        shade = str(0.25 + 0.6 * k / max(1, len(series) - 1)) if len(series) > 1 else "0.5"
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, values[k], width, label=s,
                      color=shade, edgecolor="black", hatch=HATCHES[k % len(HATCHES)])
        ax.bar_label(bars, fmt="%.0f", fontsize=8, padding=2)
    if hline is not None:
        ax.axhline(hline, color="black", linestyle="--", linewidth=1, label=hline_label)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels(groups)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    return fig


def lines(series, title, xlabel, ylabel, band=None, integer_x=True, xticks=None):
    """Lines with markers: series = [{"label", "x", "y", ("lo", "hi")}]; lo/hi draw a range as
    error bars (series side by side, so ranges of different series never cover each other)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    spread = 0.08 if any("lo" in s for s in series) else 0.0
    for k, s in enumerate(series):
        dx = (k - (len(series) - 1) / 2) * spread
        x = np.asarray(s["x"], dtype=float) + dx
        y = np.asarray(s["y"], dtype=float)
        line, = ax.plot(x, y, marker=MARKERS[k % len(MARKERS)],
                        linestyle=LINESTYLES[k % len(LINESTYLES)], color="black",
                        label=s["label"], gid=f"series:{s['label']}")
        if "lo" in s and "hi" in s:
            lo, hi = np.asarray(s["lo"], dtype=float), np.asarray(s["hi"], dtype=float)
            ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="none", ecolor="0.35", capsize=3,
                        linewidth=0.9)
    if band is not None:
        ax.axhline(band, color="0.4", linestyle=":", linewidth=1)
    if xticks is not None:
        ax.set_xticks(xticks)
    elif integer_x:
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, color="0.85")
    return fig


# ---- circuit diagrams ---------------------------------------------------------------------------

def circuit_diagram(circuits, n_layers, n_heads, title, edges=None):
    """One panel per circuit: every head of the model at (head, layer) (hollow), the MLP of each
    layer right of its heads (square), the circuit's components filled and named; edges (a list
    of {"sender", "receiver", "channel"} per task) as arrows from sender to receiver."""
    n = len(circuits)
    fig, axes = plt.subplots(1, n, figsize=(max(3.5, 0.42 * (n_heads + 2)) * n,
                                             max(3.5, 0.42 * n_layers + 1.5)), squeeze=False)
    for ax, c in zip(axes.flat, circuits):
        kept = set(c["components"])
        hx, hy, hk = [], [], []
        for layer in range(n_layers):
            for head in range(n_heads):
                hx.append(head)
                hy.append(layer)
                hk.append(f"{layer}.{head}" in kept)
        hx, hy, hk = np.array(hx), np.array(hy), np.array(hk, dtype=bool)
        ax.scatter(hx[~hk], hy[~hk], s=40, facecolors="none", edgecolors="0.7", marker="o",
                   gid="heads_out")
        ax.scatter(hx[hk], hy[hk], s=80, facecolors="black", edgecolors="black", marker="o",
                   gid="heads_in", zorder=3)
        mlp_in = np.array([f"mlp{layer}" in kept for layer in range(n_layers)], dtype=bool)
        ly = np.arange(n_layers)
        ax.scatter(np.full((~mlp_in).sum(), n_heads + 0.5), ly[~mlp_in], s=60,
                   facecolors="none", edgecolors="0.7", marker="s", gid="mlps_out")
        ax.scatter(np.full(mlp_in.sum(), n_heads + 0.5), ly[mlp_in], s=90, facecolors="black",
                   edgecolors="black", marker="s", gid="mlps_in", zorder=3)
        for name in c["components"]:
            kind, layer, idx = components.parse(name)
            x = idx if kind == components.HEAD else n_heads + 0.5
            ax.annotate(name, (x, layer), xytext=(0, 7), textcoords="offset points",
                        ha="center", fontsize=7)
        for e in (edges or {}).get(c["task"], []):
            (sx, sy), (rx, ry) = _place(e["sender"], n_heads), _place(e["receiver"], n_heads,
                                                                       n_layers)
            arrow = ax.annotate("", xy=(rx, ry), xytext=(sx, sy),
                                arrowprops=dict(arrowstyle="->", color="0.25", lw=0.9,
                                                shrinkA=5, shrinkB=5,
                                                # curved, so collinear edges stay apart
                                                connectionstyle="arc3,rad=0.18",
                                                linestyle={"k": "--", "v": ":"}.get(
                                                    e.get("channel", ""), "-")))
            arrow.set_gid(f"edge:{e['sender']}->{e['receiver']}:{e.get('channel', '')}")
        if edges and any(e["receiver"] == "resid_final" for e in edges.get(c["task"], [])):
            ax.text(n_heads / 2, n_layers + 0.3, "logits (final residual stream)", ha="center",
                    va="bottom", fontsize=7)
        ax.set_xlim(-0.8, n_heads + 1.3)
        ax.set_ylim(-0.8, n_layers - 0.2 + (0.9 if edges else 0.4))
        ax.set_xticks(list(range(n_heads)) + [n_heads + 0.5])
        ax.set_xticklabels([str(h) for h in range(n_heads)] + ["MLP"], fontsize=7)
        ax.set_yticks(range(n_layers))
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_title(f"{c['task']} ({len(c['heads'])} heads, {len(c['mlps'])} MLPs)", fontsize=10)
    if edges:
        from matplotlib.lines import Line2D
        styles = [("q, MLP or final residual", "-"), ("k", "--"), ("v", ":")]
        fig.legend([Line2D([0], [0], color="0.25", linestyle=ls) for _, ls in styles],
                   [f"edge into {name}" for name, _ in styles], fontsize=8, ncol=3,
                   loc="lower center", bbox_to_anchor=(0.5, -0.06), frameon=False)
    fig.suptitle(title)
    return fig


def _place(name, n_heads, n_layers=None):
    if name == "resid_final":
        return (n_heads / 2, (n_layers or 0) + 0.3)
    kind, layer, idx = components.parse(name)
    return (idx if kind == components.HEAD else n_heads + 0.5, layer)


def read_edges(ax):
    """Edges drawn on a circuit-diagram panel: {"sender->receiver:channel"}."""
    return {t.get_gid()[len("edge:"):] for t in ax.texts if (t.get_gid() or "").startswith("edge:")}


# ---- pruning: survival grid, circuit sizes, trajectories ---------------------------------------

def _greys():
    # Greys stop at 80 % black so the printed values stay readable on the darkest cells.
    return matplotlib.colors.ListedColormap(plt.get_cmap(SEQUENTIAL)(np.linspace(0, 0.8, 256)))


def survival_grid_values(counts, n_layers, n_heads, pool=None, mlps=True):
    """The array a survival panel draws: rows = layers, columns = heads 0..H-1, then (mlps) a
    blank separator column and the layer's MLP. A cell holds how many runs keep the component;
    NaN for the separator and for components outside the pool (not candidates)."""
    width = n_heads + (2 if mlps else 0)
    grid = np.full((n_layers, width), np.nan)
    cand = None if pool is None else set(pool)
    for layer in range(n_layers):
        names = [(h, f"{layer}.{h}") for h in range(n_heads)]
        if mlps:
            names.append((n_heads + 1, f"mlp{layer}"))
        for col, name in names:
            if cand is None or name in cand:
                grid[layer, col] = counts.get(name, 0)
    return grid


def survival_grid(panels, n_layers, n_heads, title):
    """One layer x head grid per panel ({"title", "counts": {component: runs keeping it},
    "n_runs", "pool" (None = every head and MLP a candidate), "mlps" (draw the MLP column)}):
    the number of runs keeping each component, printed in the cell; "-" = not a candidate."""
    n = len(panels)
    mlps = any(p["mlps"] for p in panels)
    width = n_heads + (2 if mlps else 0)
    w = max(2.6, 0.42 * width + 1.0)
    h = max(2.4, 0.38 * n_layers + 1.3)
    fig, axes = plt.subplots(1, n, figsize=(w * n + 1.2, h + 0.5), squeeze=False,
                             layout="constrained")
    vmax = max(p["n_runs"] for p in panels)
    im = None
    for ax, p in zip(axes.flat, panels):
        grid = survival_grid_values(p["counts"], n_layers, n_heads, p.get("pool"), mlps)
        im = ax.imshow(np.ma.masked_invalid(grid), cmap=_greys(), vmin=0, vmax=vmax,
                       aspect="auto")
        im.set_gid("survival:" + p["title"])
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                        bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.6))
            elif not (mlps and j == n_heads):
                ax.text(j, i, "-", ha="center", va="center", fontsize=7, color="0.5")
        ticks = list(range(n_heads)) + ([n_heads + 1] if mlps else [])
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in range(n_heads)] + (["MLP"] if mlps else []),
                           fontsize=8, rotation=90 if n_heads > 16 else 0)
        ax.set_yticks(range(n_layers))
        ax.set_yticklabels([str(l) for l in range(n_layers)], fontsize=8)
        ax.tick_params(length=0)
        for s in ax.spines.values():
            s.set_visible(False)
        ax.set_xlabel("head" + (" (right: the layer's MLP)" if mlps else ""))
        ax.set_ylabel("layer")
        ax.set_title(f"{p['title']} (N = {p['n_runs']})", fontsize=10)
    cbar = fig.colorbar(im, ax=list(axes.flat), shrink=0.9)
    cbar.set_label("random orders whose circuit keeps it")
    from matplotlib.ticker import MaxNLocator
    cbar.locator = MaxNLocator(integer=True)
    cbar.update_ticks()
    fig.suptitle(title)
    return fig


def circuit_sizes(rows, title, reference="reference"):
    """Circuit size per threshold, one panel for heads and one for MLPs. rows: [{"threshold",
    "order", "heads", "mlps"}]. Random orders ("random...") are drawn as dots with their range
    (min to max); every other order (the reference, reversed) as a marked line."""
    thresholds = sorted({r["threshold"] for r in rows})
    x_of = {t: i for i, t in enumerate(thresholds)}
    named = list(dict.fromkeys(r["order"] for r in rows
                               if not str(r["order"]).startswith("random")))
    named.sort(key=lambda o: (o != reference, o))
    n_random = len({r["order"] for r in rows if str(r["order"]).startswith("random")})
    fig, axes = plt.subplots(1, 2, figsize=(max(6.5, 1.6 * len(thresholds) + 4), 3.8),
                             layout="constrained")
    handles = {}
    for ax, what in zip(axes, ("heads", "mlps")):
        top = 0
        for t in thresholds:
            vals = sorted(r[what] for r in rows if r["threshold"] == t
                          and str(r["order"]).startswith("random"))
            if not vals:
                continue
            top = max(top, max(vals))
            x = x_of[t]
            # random orders sharing a size sit side by side, so every order stays countable
            uniq, cnt = np.unique(vals, return_counts=True)
            step = min(0.045, 0.32 / max(1, cnt.max() - 1))
            xs, ys = [], []
            for v, c in zip(uniq, cnt):
                for k in range(c):
                    xs.append(x - 0.2 + step * (k - (c - 1) / 2))
                    ys.append(v)
            if len(uniq) > 1:
                ax.vlines(x - 0.2, vals[0], vals[-1], color="0.75", linewidth=5, zorder=1,
                          gid=f"range:{what}:{t:g}")
            sc = ax.scatter(xs, ys, s=22, facecolors="white", edgecolors="0.25", zorder=2,
                            gid=f"random:{what}:{t:g}")
            handles.setdefault("random", sc)
        for k, o in enumerate(named):
            pts = sorted((x_of[r["threshold"]], r[what]) for r in rows if r["order"] == o)
            if not pts:
                continue
            top = max(top, max(p[1] for p in pts))
            ln, = ax.plot([p[0] + 0.2 for p in pts], [p[1] for p in pts],
                          marker=["D", "s", "^", "v"][k % 4], markersize=7,
                          color="black" if k == 0 else "0.4", linestyle=LINESTYLES[k % 4],
                          gid=f"order:{o}:{what}", zorder=3)
            handles.setdefault(o, ln)
        ax.set_xticks(range(len(thresholds)))
        ax.set_xticklabels([f"T = {t:g}\n({100 - t:g} % circuit)" for t in thresholds],
                           fontsize=8)
        ax.set_xlim(-0.6, len(thresholds) - 0.4)
        ax.set_ylim(-0.3, top + 1)
        from matplotlib.ticker import MaxNLocator
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, axis="y", color="0.88")
        ax.set_xlabel("pruning threshold")
        ax.set_ylabel("heads in the circuit" if what == "heads" else "MLPs in the circuit")
        ax.set_title("heads" if what == "heads" else "MLPs", fontsize=10)
    labels = {"random": f"one of the {n_random} random orders"}
    fig.legend(list(handles.values()), [labels.get(k, f"{k} order") for k in handles],
               loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(4, len(handles)), fontsize=8,
               frameon=False)
    fig.suptitle(title)
    return fig


def trajectory(panels, title, max_named=80):
    """One panel per task ({"title", "threshold", "start_performance", "component", "pass",
    "performance", "removed", "performance_after"}): for each candidate evaluation in order,
    the performance with it ablated on top of everything removed so far (filled = removed,
    hollow = kept), the circuit's performance after the step (line), the threshold 100 - T
    (dashed) and the passes (dotted separators)."""
    n = len(panels)
    steps = max(len(p["performance"]) for p in panels)
    fig, axes = plt.subplots(n, 1, figsize=(max(7.0, 0.16 * steps + 2.0), 2.9 * n + 0.6),
                             squeeze=False, layout="constrained")
    for ax, p in zip(axes.flat, panels):
        perf = np.asarray([np.nan if v is None else v for v in p["performance"]], dtype=float)
        removed = np.asarray(p["removed"], dtype=bool)
        x = np.arange(len(perf))
        after = np.asarray(p["performance_after"], dtype=float)
        ax.plot(np.concatenate([[-1], x]), np.concatenate([[p["start_performance"]], after]),
                drawstyle="steps-post", color="black", linewidth=1.4,
                label="circuit after the step", gid="after")
        ax.scatter(x[removed], perf[removed], s=28, color="black", zorder=3,
                   label="candidate removed", gid="removed")
        ax.scatter(x[~removed], perf[~removed], s=28, facecolors="white", edgecolors="0.3",
                   zorder=3, label="candidate kept", gid="kept")
        line = 100.0 - p["threshold"]
        ax.axhline(line, color="0.3", linestyle="--", linewidth=1,
                   label=f"100 - T = {line:g} %: removed when above", gid="threshold")
        ax.axhspan(line, 1000, color="0.93", zorder=0)
        passes = list(p["pass"])
        finite = perf[np.isfinite(perf)]
        ymax = max([100.0] + list(finite))
        ymin = min([100.0 - p["threshold"]] + list(finite))
        for k in range(1, len(passes)):
            if passes[k] != passes[k - 1]:
                ax.axvline(k - 0.5, color="0.5", linestyle=":", linewidth=1, gid="pass_boundary")
        starts = [0] + [k for k in range(1, len(passes)) if passes[k] != passes[k - 1]]
        for k in starts:
            ax.text(k - 0.3, ymax + 3, f"pass {passes[k] + 1}", fontsize=7, va="bottom",
                    ha="left", color="0.25")
        ax.set_ylim(ymin - 8, ymax + 12)
        ax.set_xlim(-1.5, len(perf) - 0.5)
        if len(perf) <= max_named:
            ax.set_xticks(np.concatenate([[-1], x]))
            ax.set_xticklabels(["start"] + list(p["component"]), rotation=90, fontsize=6)
            for lbl, r in zip(ax.get_xticklabels()[1:], removed):
                lbl.set_fontweight("bold" if r else "normal")
            ax.set_xlabel("candidate, in evaluation order (bold: removed)")
        else:
            ax.set_xlabel("candidate evaluation")
        ax.set_ylabel("performance\n(% of clean LD)")
        ax.grid(True, axis="y", color="0.9")
        pct = lambda v: "n/a" if v is None else f"{v:.1f} %"  # noqa: E731
        ax.set_title(f"{p['title']}: {p['n_components'] + int(removed.sum())} components at "
                     f"{pct(p['start_performance'])}, {int(removed.sum())} removed in "
                     f"{len(perf)} evaluations, {p['n_components']} left at "
                     f"{pct(p['circuit_performance'])}", fontsize=9)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=8,
               frameon=False)
    fig.suptitle(title)
    return fig


# ---- circuit stages: edge graphs, faithfulness curves -------------------------------------------

# Okabe-Ito colours (distinct for colour-blind readers) plus a line style per channel, so the
# channels stay apart in greyscale too.
CHANNEL_STYLE = {"q": ("#0072B2", "-"), "k": ("#E69F00", "--"), "v": ("#009E73", ":"),
                 "mlp": ("#CC79A7", "-."), "resid": ("#000000", "-")}
CHANNEL_NAMES = {"q": "into a head's query", "k": "into a head's key", "v": "into a head's value",
                 "mlp": "into an MLP", "resid": "into the logits (final residual)"}
_CHANNEL_RAD = {"q": 0.12, "k": 0.28, "v": 0.44, "mlp": 0.18, "resid": 0.12}


def edge_graph_layout(nodes, n_layers):
    """(x, y) of each node of a layered circuit graph: y = layer (logits at n_layers), heads of a
    layer by index then its MLP, centred, 1.6 apart; rows shifted by a third of a slot in turn,
    so an edge that skips layers does not run straight through the nodes between."""
    pos = {}
    for layer in range(n_layers):
        row = components.sort(n for n in nodes if n != "logits"
                              and components.parse(n)[1] == layer)
        shift = (0.0, 0.55, -0.55)[layer % 3]
        for k, name in enumerate(row):
            pos[name] = (1.6 * (k - (len(row) - 1) / 2) + shift, float(layer))
    pos["logits"] = (0.0, float(n_layers))
    return pos


def edge_graph(circuit, n_layers, title):
    """A node circuit's kept edges as a layered graph: components by layer (circles heads,
    squares MLPs, the logits on top), one arrow per kept edge from sender to receiver, coloured
    and styled by the channel it writes into (q, k, v, mlp, resid), wider for a larger |effect|.
    circuit: summary.json's edge_circuits entry (edges with "kept")."""
    kept = [e for e in circuit["edges"] if e["kept"]]
    nodes = list(circuit["components"])
    # a k/v receiver names a key-value head, which is not a circuit head under grouped queries
    extra = [e["receiver"] for e in kept
             if e["receiver"] not in nodes and e["receiver"] != "logits"]
    nodes += list(dict.fromkeys(extra))
    n_layers = max([n_layers] + [components.parse(n)[1] + 1 for n in nodes])
    pos = edge_graph_layout(nodes, n_layers)
    widest = max([sum(1 for p in pos.values() if p[1] == layer) for layer in range(n_layers)]
                 + [1])
    fig, ax = plt.subplots(figsize=(max(5.5, 1.3 * widest + 2.5), 1.05 * n_layers + 2.8))
    touched = {e["sender"] for e in kept} | {e["receiver"] for e in kept}
    for name, (x, y) in pos.items():
        if name == "logits":
            ax.text(x, y, "logits", ha="center", va="center", fontsize=9, zorder=4,
                    bbox=dict(boxstyle="round,pad=0.4", fc="white", ec="black"))
            continue
        head = components.is_head(name)
        ax.text(x, y, name, ha="center", va="center", fontsize=8, zorder=4, gid="node:" + name,
                color="black" if name in touched else "0.5",
                bbox=dict(boxstyle="circle,pad=0.35" if head else "square,pad=0.45",
                          fc="white" if name in circuit["components"] else "0.92",
                          ec="black" if name in touched else "0.6",
                          ls="-" if name in circuit["components"] else "--"))
    for e in kept:
        color, ls = CHANNEL_STYLE[e["channel"]]
        lw = 1.0 + 3.0 * min(1.0, abs(e["effect"] or 0.0))
        span = abs(pos[e["receiver"]][1] - pos[e["sender"]][1])
        # long edges bend more; edges into the logits bend the other way from those into MLPs
        rad = (_CHANNEL_RAD[e["channel"]] + 0.15 * max(0.0, span - 1)) * (
            -1 if e["channel"] == "resid" else 1)
        a = ax.annotate("", xy=pos[e["receiver"]], xytext=pos[e["sender"]],
                        arrowprops=dict(arrowstyle="-|>", color=color, lw=lw, linestyle=ls,
                                        shrinkA=13, shrinkB=13, mutation_scale=12,
                                        connectionstyle=f"arc3,rad={rad:.3f}"))
        a.set_gid(f"edge:{e['sender']}->{e['receiver']}:{e['channel']}")
    xs = [p[0] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.2, max(xs) + 1.2)
    ax.set_ylim(-0.7, n_layers + 0.6)
    ax.set_yticks(list(range(n_layers)) + [n_layers])
    ax.set_yticklabels([str(layer) for layer in range(n_layers)] + ["out"])
    ax.set_ylabel("layer")
    ax.set_xticks([])
    ax.set_xlabel("components of the layer (heads by index, then the MLP)")
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    from matplotlib.lines import Line2D
    used = [c for c in CHANNEL_STYLE if any(e["channel"] == c for e in kept)]
    handles = [Line2D([0], [0], color=CHANNEL_STYLE[c][0], linestyle=CHANNEL_STYLE[c][1], lw=1.8)
               for c in used]
    labels = [f"{c}: {CHANNEL_NAMES[c]}" for c in used]
    if set(circuit["components"]) - touched:
        handles.append(Line2D([0], [0], marker="o", color="none", markeredgecolor="0.6",
                              markersize=9))
        labels.append("grey: in the circuit, no kept edge")
    if handles:
        ax.legend(handles, labels, loc="upper center",
                  bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    return fig


def read_edge_graph(fig):
    """Edges drawn on an edge graph: {"sender->receiver:channel"}."""
    return read_edges(fig.axes[0])


def faithfulness(panels, title, xlabel, ylabel):
    """One panel per task ({"title", "points": {"size", "fraction", "mib", "faithfulness"},
    "cpr", "cmd", "n_items"}): f(k) against the fraction kept (line through the integer sizes,
    else the MIB points), the MIB fraction points as squares, the area CPR integrates shaded,
    f = 1 (the full model) dashed, CPR and CMD printed."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4.0 * n + 0.6, 3.9), squeeze=False, sharey=True,
                             layout="constrained")
    for ax, p in zip(axes.flat, panels):
        pts = p["points"]
        fr = np.asarray(pts["fraction"], dtype=float)
        f = np.asarray([np.nan if v is None else v for v in pts["faithfulness"]], dtype=float)
        mib = np.asarray(pts["mib"], dtype=bool)
        line = ~mib if (~mib).any() else mib
        ax.plot(fr[line], f[line], color="black", lw=1.2, marker="o", markersize=3,
                label="every size k (k / N)" if (~mib).any() else "MIB points", gid="curve")
        ax.fill_between(fr[mib], 0, f[mib], color="0.85", zorder=0, label="area = CPR")
        ax.scatter(fr[mib], f[mib], marker="s", s=26, facecolors="white", edgecolors="black",
                   zorder=3, label="MIB fraction points", gid="mib")
        ax.axhline(1.0, color="0.35", linestyle="--", lw=1, label="f = 1: the full model")
        ax.axhline(0.0, color="0.6", lw=0.8)
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        ax.text(0.97, 0.05, f"CPR = {fmt(p['cpr'])} (higher better)\n"
                            f"CMD = {fmt(p['cmd'])} (lower better)", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8, gid="scores",
                bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="0.6"))
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel(xlabel.format(n=p["n_items"]))
        ax.grid(True, color="0.9")
        ax.set_title(f"{p['title']} (N = {p['n_items']})", fontsize=10)
    axes.flat[0].set_ylabel(ylabel)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4,
               fontsize=8, frameon=False)
    fig.suptitle(title)
    return fig
