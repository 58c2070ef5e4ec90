"""Figures checked by content: what a figure draws (Venn region labels, UpSet bar heights, the
filled components of a circuit diagram, every axis labelled) equals the hand-computed overlaps
and the summary.json it was drawn from."""
import json
import os
import tempfile
import unittest

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from csweep_analysis import figures, report_figures  # noqa: E402
from csweep_analysis.__main__ import main  # noqa: E402

from test_sets import (MONTHS, NUMBER_WORDS, NUMBER_WORDS_MONTHS_ONLY,  # noqa: E402
                       NUMERALS, NUMERALS_NUMBER_WORDS_ONLY, SHARED_BY_ALL, STUDY)


def analyze(circuits_path, out):
    rc = main(["analyze", "--circuits", circuits_path, "--out", out, "--figures"])
    assert rc == 0, rc
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def check_labelled(test, fig, entry):
    """Every visible axes of a plot (not the Venn) has x/y labels; the figure has a title."""
    title = fig._suptitle.get_text() if fig._suptitle else ""
    titles = [title] + [a.get_title() for a in fig.axes]
    test.assertTrue(any(t.strip() for t in titles), entry["name"])
    if entry["kind"] in ("venn",):
        return
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        if entry["kind"] == "upset" and not ax.patches:
            continue  # upsetplot's matrix axes label rows by set name, not with a y label
        test.assertTrue(ax.get_xlabel() or ax.get_ylabel(), (entry["name"], ax.get_label()))


class StudyFigures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = os.path.join(cls.tmp.name, "study")
        cls.summary = analyze(STUDY, cls.out)
        cls.group = cls.summary["circuit_groups"][0]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_summary_regions_keyed_by_task_set(self):
        v = self.group["heads"]["venn"]
        self.assertEqual(v["numerals&number_words&months"]["members"],
                         sorted(SHARED_BY_ALL, key=lambda h: tuple(map(int, h.split(".")))))
        self.assertEqual(set(v["numerals&number_words"]["members"]),
                         set(NUMERALS_NUMBER_WORDS_ONLY))
        self.assertEqual(v["number_words&months"]["members"], NUMBER_WORDS_MONTHS_ONLY)
        self.assertEqual(v["numerals&months"]["count"], 0)
        self.assertEqual(self.group["heads"]["union"]["count"], 24)

    def test_every_figure_written_with_caption(self):
        kinds = {e["kind"] for e in self.summary["figures"]}
        self.assertEqual(kinds, {"venn", "jaccard", "diagram"})
        for e in self.summary["figures"]:
            for ext in (".pdf", ".png", ".txt"):
                path = os.path.join(self.out, "figures", e["name"] + ext)
                self.assertGreater(os.path.getsize(path), 100, path)
            with open(os.path.join(self.out, "figures", e["name"] + ".txt")) as f:
                self.assertEqual(f.read().strip(), e["caption"])
            with open(os.path.join(self.out, "figures", e["name"] + ".pdf"), "rb") as f:
                self.assertEqual(f.read(5), b"%PDF-")
            fig = report_figures.draw(self.summary, e)
            check_labelled(self, fig, e)

    def test_venn_draws_the_papers_regions(self):
        entry = next(e for e in self.summary["figures"] if e["kind"] == "venn")
        drawn = figures.read_venn(report_figures.draw(self.summary, entry))
        expected = {
            "numerals&number_words&months": SHARED_BY_ALL,
            "numerals&number_words": NUMERALS_NUMBER_WORDS_ONLY,
            "number_words&months": NUMBER_WORDS_MONTHS_ONLY,
            "numerals&months": [],
            "numerals": sorted(set(NUMERALS) - set(NUMBER_WORDS) - set(MONTHS)),
            "number_words": sorted(set(NUMBER_WORDS) - set(NUMERALS) - set(MONTHS)),
            "months": sorted(set(MONTHS) - set(NUMERALS) - set(NUMBER_WORDS)),
        }
        self.assertEqual(set(drawn), set(expected))
        for key, members in expected.items():
            count, listed = drawn[key]
            self.assertEqual(count, len(members), key)
            self.assertEqual(set(listed or []), set(members), key)
            self.assertEqual(count, self.group["heads"]["venn"][key]["count"], key)

    def test_diagram_fills_exactly_the_circuit(self):
        entry = next(e for e in self.summary["figures"] if e["kind"] == "diagram")
        fig = report_figures.draw(self.summary, entry)
        panels = [ax for ax in fig.axes if ax.collections]
        self.assertEqual(len(panels), 3)
        for ax, task, heads in zip(panels, ["numerals", "number_words", "months"],
                                   [NUMERALS, NUMBER_WORDS, MONTHS]):
            filled = next(c for c in ax.collections if c.get_gid() == "heads_in")
            drawn = {f"{int(y)}.{int(x)}" for x, y in filled.get_offsets()}
            self.assertEqual(drawn, set(heads), task)
            hollow = next(c for c in ax.collections if c.get_gid() == "heads_out")
            self.assertEqual(len(hollow.get_offsets()), 144 - len(heads))

    def test_jaccard_matrix_values(self):
        entry = next(e for e in self.summary["figures"] if e["kind"] == "jaccard")
        fig = report_figures.draw(self.summary, entry)
        m = fig.axes[0].images[0].get_array()
        # numerals vs number words: 13 shared of 20 in the union; numerals vs months 8 of 19.
        self.assertAlmostEqual(float(m[0, 1]), 13 / 20)
        self.assertAlmostEqual(float(m[0, 2]), 8 / 19)
        self.assertAlmostEqual(float(m[1, 2]), 9 / 23)


class TwoAndFourTasks(unittest.TestCase):
    def run_case(self, data):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "c.json")
        with open(path, "w") as f:
            json.dump(data, f)
        out = os.path.join(tmp.name, "out")
        return analyze(path, out), out

    def test_two_way_venn(self):
        s, _ = self.run_case({"a": {"heads": ["1.1", "2.2", "3.3"]}, "b": {"heads": ["3.3", "4.0"]}})
        entry = next(e for e in s["figures"] if e["kind"] == "venn")
        drawn = figures.read_venn(report_figures.draw(s, entry))
        self.assertEqual(drawn, {"a": (2, ["1.1", "2.2"]), "b": (1, ["4.0"]),
                                 "a&b": (1, ["3.3"])})

    def test_diagram_draws_the_given_edges(self):
        edges = [{"sender": "0.1", "receiver": "1.2", "channel": "k"},
                 {"sender": "1.2", "receiver": "mlp2", "channel": "mlp"},
                 {"sender": "mlp2", "receiver": "resid_final", "channel": "resid"}]
        s, _ = self.run_case({"_model": {"n_layers": 3, "n_heads": 4},
                              "a": {"heads": ["0.1", "1.2"], "mlps": [2], "edges": edges},
                              "b": {"heads": ["0.1", "2.0"]}})
        entry = next(e for e in s["figures"] if e["kind"] == "diagram")
        fig = report_figures.draw(s, entry)
        panels = [ax for ax in fig.axes if ax.collections]
        self.assertEqual(figures.read_edges(panels[0]),
                         {"0.1->1.2:k", "1.2->mlp2:mlp", "mlp2->resid_final:resid"})
        self.assertEqual(figures.read_edges(panels[1]), set())
        filled = next(c for c in panels[0].collections if c.get_gid() == "mlps_in")
        self.assertEqual([tuple(p) for p in filled.get_offsets()], [(4.5, 2.0)])

    def test_upset_for_four_tasks(self):
        # Exclusive regions by hand: w only {0.1}, x only {}, y only {}, z only {5.5},
        # w&x {1.1}, w&y {2.2}, x&y {3.0}, y&z {4.4}, w&x&y&z {9.9}.
        s, _ = self.run_case({"w": {"heads": ["0.1", "1.1", "2.2", "9.9"]},
                              "x": {"heads": ["1.1", "3.0", "9.9"]},
                              "y": {"heads": ["2.2", "3.0", "4.4", "9.9"]},
                              "z": {"heads": ["4.4", "5.5", "9.9"]}})
        kinds = [e["kind"] for e in s["figures"]]
        self.assertIn("upset", kinds)
        self.assertNotIn("venn", kinds)
        entry = next(e for e in s["figures"] if e["kind"] == "upset")
        bars = figures.upset_bars(report_figures.draw(s, entry))
        self.assertEqual(sorted(bars), [1] * 7)
        nonzero = sorted(r["count"] for r in s["circuit_groups"][0]["heads"]["venn"].values()
                         if r["count"])
        self.assertEqual(sorted(bars), nonzero)


class OrdersAndThresholds(unittest.TestCase):
    """A circuits file with several removal orders and thresholds per task: survival frequency
    and circuit size vs threshold, worked out by hand."""

    DATA = {
        "digits": [
            {"heads": ["9.1", "8.8", "4.4"], "threshold": 20, "order": "reference"},
            {"heads": ["9.1", "8.8"], "mlps": [0], "threshold": 20, "order": "random:0"},
            {"heads": ["9.1", "4.4", "0.1"], "threshold": 20, "order": "random:1"},
            {"heads": ["9.1", "8.8", "4.4", "0.1", "6.1"], "threshold": 10, "order": "reference"},
            {"heads": ["9.1", "8.8", "4.4", "0.1", "6.1", "5.5"], "mlps": [2], "threshold": 3,
             "order": "reference"}],
        "months": [
            {"heads": ["9.1", "10.7"], "threshold": 20, "order": "reference"},
            {"heads": ["9.1", "8.8"], "threshold": 20, "order": "random:0"},
            {"heads": ["9.1", "10.7", "8.8"], "threshold": 20, "order": "random:1"},
            {"heads": ["9.1", "10.7", "4.4"], "threshold": 10, "order": "reference"}],
    }

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        path = os.path.join(cls.tmp.name, "orders.json")
        with open(path, "w") as f:
            json.dump(cls.DATA, f)
        cls.s = analyze(path, os.path.join(cls.tmp.name, "out"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_survival_counts_random_orders_only(self):
        (sv,) = self.s["survival"]
        # random:0 and random:1 only; the reference order is a fixed order, not a sample
        digits = {r["component"]: r["count"] for r in sv["tasks"]["digits"]["components"]}
        self.assertEqual(digits, {"9.1": 2, "8.8": 1, "4.4": 1, "0.1": 1, "mlp0": 1})
        months = {r["component"]: r["count"] for r in sv["tasks"]["months"]["components"]}
        self.assertEqual(months, {"9.1": 2, "10.7": 1, "8.8": 2})
        self.assertEqual(sv["tasks"]["digits"]["n_runs"], 2)
        self.assertEqual(sv["tasks"]["digits"]["intersection"], ["9.1"])
        self.assertEqual(sv["tasks"]["digits"]["union"], ["0.1", "mlp0", "4.4", "8.8", "9.1"])

    def test_survival_grid_draws_the_counts(self):
        entry = next(e for e in self.s["figures"] if e["kind"] == "survival")
        self.assertIn("N = 2", entry["caption"])
        fig = report_figures.draw(self.s, entry)
        self.assertIn("N = 2", fig._suptitle.get_text())
        # no pool in a circuits file: every head of 11 layers x 9 heads (largest named: 10.7,
        # 8.8) is a candidate; column 9 separates the heads from the MLP column 10
        for task, cells in [("digits", {(9, 1): 2, (8, 8): 1, (4, 4): 1, (0, 1): 1, (0, 10): 1}),
                            ("months", {(9, 1): 2, (10, 7): 1, (8, 8): 2})]:
            want = np.zeros((11, 11))
            want[:, 9] = np.nan
            for cell, v in cells.items():
                want[cell] = v
            (im,) = [i for ax in fig.axes for i in ax.images
                     if i.get_gid() == "survival:" + task]
            got = np.ma.filled(im.get_array().astype(float), np.nan)
            np.testing.assert_array_equal(got, want, task)

    def test_size_figure_per_task(self):
        (sz,) = self.s["size_vs_threshold"]
        self.assertEqual([(r["threshold"], r["order"], r["heads"], r["mlps"])
                          for r in sz["tasks"]["digits"]],
                         [(3, "reference", 6, 1), (10, "reference", 5, 0),
                          (20, "reference", 3, 0), (20, "random:0", 2, 1),
                          (20, "random:1", 3, 0)])
        entries = [e for e in self.s["figures"] if e["kind"] == "size_vs_threshold"]
        self.assertEqual(sorted(e["ref"]["task"] for e in entries), ["digits", "months"])
        entry = next(e for e in entries if e["ref"]["task"] == "digits")
        fig = report_figures.draw(self.s, entry)
        heads_ax, mlps_ax = [ax for ax in fig.axes if ax.get_ylabel()]
        for ax, what, ref_sizes, random_sizes in [(heads_ax, "heads", [6, 5, 3], [2, 3]),
                                                  (mlps_ax, "mlps", [1, 0, 0], [0, 1])]:
            (ref,) = [ln for ln in ax.get_lines() if ln.get_gid() == f"order:reference:{what}"]
            self.assertEqual(list(ref.get_ydata()), ref_sizes, what)
            # x positions: the thresholds 3, 10, 20 in order (reference drawn right of centre)
            self.assertEqual([round(x) for x in ref.get_xdata()], [0, 1, 2], what)
            (dots,) = [c for c in ax.collections if c.get_gid() == f"random:{what}:20"]
            self.assertEqual(sorted(y for _, y in dots.get_offsets()), random_sizes, what)
            self.assertFalse([c for c in ax.collections if c.get_gid() == f"random:{what}:3"])
        self.assertEqual([t.get_text() for t in heads_ax.get_xticklabels()],
                         ["T = 3\n(97 % circuit)", "T = 10\n(90 % circuit)",
                          "T = 20\n(80 % circuit)"])

    def test_random_orders_get_no_venn_of_their_own(self):
        venns = [e["ref"]["circuit_group"] for e in self.s["figures"] if e["kind"] == "venn"]
        self.assertEqual(len(venns), 2)  # T = 20 and T = 10, reference order
        self.assertEqual(len(self.s["circuit_groups"]), 5)


if __name__ == "__main__":
    unittest.main()
