"""Pruning circuits read from synthetic results files (pruning_file.py writes the schema's
columns as the C++ writer does): circuits, survival across orders, cross-task heatmap, and the
errors naming file, dataset, row and value."""
import json
import os
import tempfile
import unittest

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

import pruning_file  # noqa: E402
from csweep_analysis import report_figures  # noqa: E402
from csweep_analysis.__main__ import main  # noqa: E402

POOL = ["0.0", "0.1", "mlp0", "1.0", "1.1", "mlp1"]
TASKS = ["a", "b"]
ORDERS = ["reference", "random#0", "random#1"]
KEPT = {("a", "reference"): ["0.1", "1.0"], ("a", "random#0"): ["0.1", "1.1"],
        ("a", "random#1"): ["0.1", "1.0", "mlp1"], ("b", "reference"): ["1.0", "mlp0"],
        ("b", "random#0"): ["1.0"], ("b", "random#1"): ["0.0", "1.0"]}
CROSS = {("a", "a"): 85.0, ("a", "b"): 48.0, ("b", "a"): 114.0, ("b", "b"): 81.0,
         (-1, "a"): 30.0, (-1, "b"): 40.0, (-2, "a"): 95.0, (-2, "b"): 97.0}


def circuits(**over):
    out = []
    for (task, order), kept in KEPT.items():
        out.append({"task": task, "circuit": ORDERS.index(order), "threshold": 20.0,
                    "threshold_index": 0, "order": order,
                    "kept": [int(p in kept) for p in POOL], "performance": 80.0 + len(kept)})
    out[0].update(over)
    return out


def steps():
    """Pass 0 visits the pool and removes what the circuit lacks; pass 1 revisits the kept
    components and removes nothing (so the run stops)."""
    out = []
    for (task, order), kept in KEPT.items():
        for k, p in enumerate(POOL):
            out.append({"task": task, "circuit": ORDERS.index(order), "step": k, "pass": 0,
                        "position": k, "component": p, "performance": 90.0 - k,
                        "removed": int(p not in kept)})
        for k, p in enumerate(kept):
            out.append({"task": task, "circuit": ORDERS.index(order), "step": len(POOL) + k,
                        "pass": 1, "position": k, "component": p, "performance": 70.0 - k,
                        "removed": 0})
    return out


def cross():
    ref = {t: KEPT[(t, "reference")] for t in TASKS}
    inter = [p for p in POOL if all(p in v for v in ref.values())]
    union = [p for p in POOL if any(p in v for v in ref.values())]
    out = []
    for (row, on), v in CROSS.items():
        comps = ref[row] if isinstance(row, str) else inter if row == -1 else union
        out.append({"task": on, "circuit": 0, "circuit_task": TASKS.index(row)
                    if isinstance(row, str) else row, "components": comps, "performance": v})
    return out


def write(path, cs=None):
    pruning_file.write(path, TASKS, POOL, {"thresholds": [20.0], "orders": ORDERS,
                                           "nested": False, "one_iter": False},
                       cs or circuits(), steps(), cross())


class PruningCircuits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.h5 = os.path.join(cls.tmp.name, "p.h5")
        write(cls.h5)
        cls.out = os.path.join(cls.tmp.name, "out")
        assert main(["analyze", cls.h5, "--out", cls.out, "--figures"]) == 0
        with open(os.path.join(cls.out, "summary.json")) as f:
            cls.s = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_reference_group_holds_the_files_circuits(self):
        g = next(g for g in self.s["circuit_groups"] if g["setting"]["order"] == "reference")
        self.assertEqual(g["kind"], "pruning")
        self.assertEqual(g["setting"], {"source": "pruning", "model": "m", "seed": 0,
                                        "corruption": "randAll", "ablation": "mean",
                                        "family": "circuits", "threshold": 20.0,
                                        "order": "reference"})
        for t in TASKS:
            self.assertEqual(set(g["circuits"][t]["components"]), set(KEPT[(t, "reference")]))
        self.assertEqual(g["components"]["venn"]["a&b"]["members"], ["1.0"])
        self.assertEqual(g["circuits"]["a"]["performance"], 82.0)

    def test_survival_counts_random_orders(self):
        (sv,) = self.s["survival"]
        for t in TASKS:
            want = {}
            for o in ORDERS[1:]:  # the random orders; the reference order is not counted
                for p in KEPT[(t, o)]:
                    want[p] = want.get(p, 0) + 1
            got = {r["component"]: r["count"] for r in sv["tasks"][t]["components"]}
            self.assertEqual(got, want, t)
            self.assertEqual(sv["tasks"][t]["n_runs"], 2)

    def test_survival_grid_image(self):
        entry = next(e for e in self.s["figures"] if e["kind"] == "survival")
        fig = report_figures.draw(self.s, entry)
        for t in TASKS:
            # rows: layers 0, 1; columns: heads 0, 1, separator, MLP
            want = np.zeros((2, 4))
            want[:, 2] = np.nan
            col = {"0.0": (0, 0), "0.1": (0, 1), "mlp0": (0, 3), "1.0": (1, 0), "1.1": (1, 1),
                   "mlp1": (1, 3)}
            for o in ORDERS[1:]:
                for p in KEPT[(t, o)]:
                    want[col[p]] += 1
            (im,) = [i for ax in fig.axes for i in ax.images if i.get_gid() == "survival:" + t]
            np.testing.assert_array_equal(np.ma.filled(im.get_array().astype(float), np.nan),
                                          want, t)
            (ax,) = [ax for ax in fig.axes if im in ax.images]
            printed = {(round(x.get_position()[1]), round(x.get_position()[0])): x.get_text()
                       for x in ax.texts}
            for (i, j), v in np.ndenumerate(want):
                if np.isfinite(v):
                    self.assertEqual(printed[(i, j)], f"{v:.0f}", (t, i, j))

    def test_survival_grid_marks_non_candidates(self):
        from csweep_analysis import figures
        grid = figures.survival_grid_values({"0.1": 3, "mlp1": 2}, 2, 2, pool=["0.1", "1.0",
                                                                             "mlp1"])
        want = np.array([[np.nan, 3, np.nan, np.nan], [0, np.nan, np.nan, 2]])
        np.testing.assert_array_equal(grid, want)

    def test_trajectory_figure_draws_the_steps(self):
        entry = next(e for e in self.s["figures"] if e["kind"] == "trajectory")
        self.assertEqual(entry["ref"]["trajectory"],
                         next(t["id"] for t in self.s["trajectories"]
                              if t["setting"]["order"] == "reference"))
        fig = report_figures.draw(self.s, entry)
        panels = [ax for ax in fig.axes if ax.collections]
        self.assertEqual(len(panels), 2)
        for ax, t in zip(panels, TASKS):
            kept = KEPT[(t, "reference")]
            perf = [90.0 - k for k in range(len(POOL))] + [70.0 - k for k in range(len(kept))]
            removed = [p not in kept for p in POOL] + [False] * len(kept)
            by_gid = {c.get_gid(): c.get_offsets().tolist() for c in ax.collections}
            self.assertEqual(by_gid["removed"],
                             [[i, v] for i, (v, r) in enumerate(zip(perf, removed)) if r])
            self.assertEqual(by_gid["kept"],
                             [[i, v] for i, (v, r) in enumerate(zip(perf, removed)) if not r])
            lines = {ln.get_gid(): ln for ln in ax.get_lines()}
            current, after = 100.0, [100.0]
            for v, r in zip(perf, removed):
                current = v if r else current
                after.append(current)
            self.assertEqual(list(lines["after"].get_ydata()), after, t)
            self.assertEqual(list(lines["threshold"].get_ydata()), [80.0, 80.0])
            # one pass boundary, between the pool's last candidate and the second pass
            self.assertEqual([ln.get_xdata()[0] for ln in ax.get_lines()
                              if ln.get_gid() == "pass_boundary"], [len(POOL) - 0.5])
            self.assertEqual([x.get_text() for x in ax.get_xticklabels()],
                             ["start"] + POOL + kept)
            self.assertTrue(ax.get_xlabel() and "%" in ax.get_ylabel())

    def test_cross_task_heatmap_draws_the_table(self):
        (ct,) = self.s["cross_task"]
        self.assertEqual(ct["rows"], ["a", "b", "intersection", "union"])
        self.assertEqual(ct["columns"], ["a", "b"])
        want = [[CROSS[(r, c)] for c in TASKS] for r in ["a", "b", -1, -2]]
        self.assertEqual(ct["performance"], want)
        self.assertEqual(ct["n_components"], [2, 2, 1, 3])
        entry = next(e for e in self.s["figures"] if e["kind"] == "cross_task")
        fig = report_figures.draw(self.s, entry)
        ax = fig.axes[0]
        np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), want)
        texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
                 for t in ax.texts}
        for i, row in enumerate(want):
            for j, v in enumerate(row):
                self.assertEqual(texts[(i, j)], f"{v:.0f} %")
        self.assertEqual([t.get_text() for t in ax.get_yticklabels()],
                         ["a circuit (2)", "b circuit (2)", "∩ of all tasks (1)",
                          "∪ of all tasks (3)"])
        self.assertTrue(ax.get_xlabel() and ax.get_ylabel())
        self.assertIn("%", fig.axes[1].get_ylabel())  # colour bar with its unit

    def test_trajectories_follow_the_steps(self):
        tr = next(t for t in self.s["trajectories"] if t["setting"]["order"] == "reference")
        a = tr["tasks"]["a"]
        kept = KEPT[("a", "reference")]
        self.assertEqual(a["component"], POOL + kept)
        self.assertEqual(a["removed"], [p not in kept for p in POOL] + [False] * len(kept))
        self.assertEqual(a["pass"], [0] * len(POOL) + [1] * len(kept))
        # after each step: the last removed candidate's performance (100 before any removal)
        self.assertEqual(a["performance_after"], [90.0, 90.0, 88.0, 88.0, 86.0, 85.0, 85.0,
                                                  85.0])

    def test_pruning_rows_are_not_single_head_effects(self):
        self.assertEqual(self.s["effect_grids"], [])
        self.assertEqual(self.s["top_single_heads"], [])


class PruningErrors(unittest.TestCase):
    def error(self, cs):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        h5 = os.path.join(tmp.name, "bad.h5")
        write(h5, cs)
        from csweep_analysis import pruning
        from csweep_analysis.errors import InputError
        from csweep_analysis.results import Results
        with self.assertRaises(InputError) as cm:
            pruning.read([Results(h5)])
        return str(cm.exception), h5

    def test_kept_mask_disagreeing_with_components(self):
        msg, h5 = self.error(circuits(components_text="0.1+1.1"))
        self.assertIn(f"{h5}: /circuits/kept row 0", msg)
        self.assertIn("disagrees with /circuits/components", msg)
        self.assertIn("0.1+1.0", msg)
        self.assertIn("0.1+1.1", msg)

    def test_unknown_family_index(self):
        msg, h5 = self.error(circuits(family=5))
        self.assertIn(f"{h5}: /circuits/family row 0", msg)
        self.assertIn("unknown family index", msg)
        self.assertIn("got 5", msg)


if __name__ == "__main__":
    unittest.main()
