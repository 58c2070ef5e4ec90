"""Circuit stages read from synthetic results files (pruning_file.write_stages writes the schema's
/edge_circuits, /edges, /faithfulness_curves, /faithfulness columns as the C++ writer does): the
edge graph draws exactly the kept edges, the faithfulness panels exactly the file's points and
scores, and inconsistent rows are errors naming file, dataset, row and value."""
import json
import os
import tempfile
import unittest

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

import pruning_file  # noqa: E402
import test_pruning  # noqa: E402
from csweep_analysis import figures, report_figures  # noqa: E402
from csweep_analysis.__main__ import main  # noqa: E402

TASKS = test_pruning.TASKS
SOURCE = "circuits/reference/T20"
EDGE_CIRCUITS = [
    {"task": "a", "stage": "circuit_edges", "circuit": 0, "source": SOURCE, "threshold": 20.0,
     "order": "reference", "components": ["0.1", "1.0", "mlp1"], "circuit_performance": 82.0,
     "recheck_performance": 70.5},
    {"task": "b", "stage": "circuit_edges", "circuit": 0, "source": SOURCE, "threshold": 20.0,
     "order": "reference", "components": ["1.0", "mlp0"], "circuit_performance": 81.0,
     "recheck_performance": 64.0}]
# (task, MIB edge, effect, kept)
EDGES = [("a", "a0.h1->a1.h0<q>", -0.5, 1), ("a", "a0.h1->a1.h0<k>", -0.01, 0),
         ("a", "a0.h1->a1.h0<v>", -0.3, 1), ("a", "a0.h1->m1", 0.02, 0),
         ("a", "a1.h0->m1", -0.4, 1), ("a", "m1->logits", -0.9, 1),
         ("a", "a1.h0->logits", -0.05, 0),
         ("b", "m0->a1.h0<v>", -0.6, 1), ("b", "a1.h0->logits", -0.7, 1),
         ("b", "m0->logits", 0.0, 0)]
KEPT_DRAWN = {"a": {"0.1->1.0:q", "0.1->1.0:v", "1.0->mlp1:mlp", "mlp1->logits:resid"},
              "b": {"mlp0->1.0:v", "1.0->logits:resid"}}
# faithfulness: N = 4 heads, m(full) = 2, m(empty) = -1; integer sizes k = 0..4 (fraction k/4)
# and MIB fractions 0.1, 0.5, 1.0 (k = floor(p N) = 0, 2, 4)
M_FULL, M_EMPTY = 2.0, -1.0
SCORES = {"a": [-1.0, 0.5, 1.4, 1.9, 2.0], "b": [-1.0, -0.4, 0.8, 2.3, 2.0]}
MIB = [(0.1, 0), (0.5, 2), (1.0, 4)]
CPR = {"a": 0.8, "b": 0.6}
CMD = {"a": 0.2, "b": 0.45}


def f_of(score):
    return (score - M_EMPTY) / (M_FULL - M_EMPTY)


def edges(over=None):
    out = [{"task": t, "stage": "circuit_edges", "circuit": 0, "edge": e, "effect": eff,
            "kept": k} for t, e, eff, k in EDGES]
    if over:
        out[0].update(over)
    return out


def points(bad=False):
    out = []
    for t in TASKS:
        for k, s in enumerate(SCORES[t]):
            out.append({"task": t, "stage": "faith", "curve": 0, "size": k, "fraction": k / 4,
                        "mib": 0, "score": s, "faithfulness": f_of(s)})
        for p, k in MIB:
            out.append({"task": t, "stage": "faith", "curve": 0, "size": k, "fraction": p,
                        "mib": 1, "score": SCORES[t][k], "faithfulness": f_of(SCORES[t][k])})
    if bad:
        out[1]["faithfulness"] += 1e-3
    return out


def curves():
    return [{"task": t, "stage": "faith", "curve": 0, "source": "single_heads", "n_items": 4,
             "m_full": M_FULL, "m_empty": M_EMPTY, "cpr": CPR[t], "cmd": CMD[t],
             "ranking": "a0.h1 a1.h0 a0.h0 a1.h1"} for t in TASKS]


def write(path, ec=None, e=None, pts=None):
    test_pruning.write(path)
    pruning_file.write_stages(path, TASKS, ec or EDGE_CIRCUITS, e or edges(), curves(),
                              pts or points())


class Stages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.h5 = os.path.join(cls.tmp.name, "s.h5")
        write(cls.h5)
        cls.out = os.path.join(cls.tmp.name, "out")
        # figures are drawn from summary.json by the tests themselves (writing every PDF and
        # PNG of the file is test_pruning's job)
        assert main(["analyze", cls.h5, "--out", cls.out]) == 0
        with open(os.path.join(cls.out, "summary.json")) as f:
            cls.s = json.load(f)
        cls.plan = report_figures.plan(cls.s)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def entry(self, kind, task=None):
        es = [e for e in self.plan if e["kind"] == kind]
        if task is None:
            return es
        return next(e for e in es if e["ref"].get("edge_circuit", "").startswith(
            f"edges_{task}_"))

    def test_summary_edges_in_our_spelling(self):
        a = next(ec for ec in self.s["edge_circuits"] if ec["task"] == "a")
        self.assertEqual(a["components"], ["0.1", "1.0", "mlp1"])
        self.assertEqual((a["n_candidates"], a["n_kept"]), (7, 4))
        self.assertEqual([(e["sender"], e["receiver"], e["channel"], e["kept"])
                          for e in a["edges"][:2]],
                         [("0.1", "1.0", "q", True), ("0.1", "1.0", "k", False)])
        self.assertEqual(a["recheck_performance"], 70.5)

    def test_edge_graph_draws_the_kept_edges(self):
        self.assertEqual(len(self.entry("edge_graph")), 2)
        for task in TASKS:
            fig = report_figures.draw(self.s, self.entry("edge_graph", task))
            self.assertEqual(figures.read_edge_graph(fig), KEPT_DRAWN[task], task)
            ax = fig.axes[0]
            nodes = {t.get_gid()[5:]: t.get_position() for t in ax.texts
                     if (t.get_gid() or "").startswith("node:")}
            circuit = next(c["components"] for c in EDGE_CIRCUITS if c["task"] == task)
            self.assertEqual(set(nodes), set(circuit))
            for name, (x, y) in nodes.items():  # y = the component's layer
                self.assertEqual(y, float(name[3:] if name.startswith("mlp") else
                                          name.split(".")[0]), name)
            # one colour per channel, so q, k, v, mlp and resid edges are told apart
            colours = {}
            for t in ax.texts:
                gid = t.get_gid() or ""
                if gid.startswith("edge:"):
                    c = matplotlib.colors.to_hex(t.arrow_patch.get_edgecolor())
                    colours.setdefault(gid.rsplit(":", 1)[1], set()).add(c)
            self.assertTrue(all(len(v) == 1 for v in colours.values()), colours)
            self.assertEqual(len({next(iter(v)) for v in colours.values()}), len(colours))
            title = ax.get_title()
            n_kept = len(KEPT_DRAWN[task])
            n_cand = sum(1 for t, *_ in EDGES if t == task)
            self.assertIn(f"{n_kept} of {n_cand} candidate edges kept", title)

    def test_faithfulness_panels_draw_the_points(self):
        (entry,) = self.entry("faithfulness")
        fig = report_figures.draw(self.s, entry)
        panels = [ax for ax in fig.axes if ax.get_lines()]
        self.assertEqual(len(panels), 2)
        for ax, t in zip(panels, TASKS):
            (curve,) = [ln for ln in ax.get_lines() if ln.get_gid() == "curve"]
            np.testing.assert_allclose(curve.get_xdata(), [k / 4 for k in range(5)])
            np.testing.assert_allclose(curve.get_ydata(), [f_of(s) for s in SCORES[t]],
                                       rtol=1e-12)
            (mib,) = [c for c in ax.collections if c.get_gid() == "mib"]
            np.testing.assert_allclose(mib.get_offsets(),
                                       [[p, f_of(SCORES[t][k])] for p, k in MIB], rtol=1e-12)
            (scores,) = [x for x in ax.texts if x.get_gid() == "scores"]
            self.assertIn(f"CPR = {CPR[t]:.3f}", scores.get_text())
            self.assertIn(f"CMD = {CMD[t]:.3f}", scores.get_text())
            self.assertIn("N = 4", ax.get_title())
            self.assertTrue(ax.get_xlabel())
        self.assertIn("faithfulness", panels[0].get_ylabel())
        self.assertEqual(self.s["faithfulness"][0]["tasks"]["a"]["ranking"],
                         ["0.1", "1.0", "0.0", "1.1"])

    def test_tables_written(self):
        names = {e["name"] for e in self.s["tables"]}
        self.assertTrue({"edges", "edge_circuits", "faithfulness"} <= names)


class StageErrors(unittest.TestCase):
    def error(self, **kw):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        h5 = os.path.join(tmp.name, "bad.h5")
        write(h5, **kw)
        from csweep_analysis import circuit_stages
        from csweep_analysis.errors import InputError
        from csweep_analysis.results import Results
        with self.assertRaises(InputError) as cm:
            circuit_stages.read([Results(h5)])
        return str(cm.exception), h5

    def test_n_kept_disagreeing_with_edges(self):
        ec = [dict(EDGE_CIRCUITS[0], n_kept=3), EDGE_CIRCUITS[1]]
        msg, h5 = self.error(ec=ec)
        self.assertIn(f"{h5}: /edge_circuits/n_candidates", msg)
        self.assertIn("n_kept 3", msg)
        self.assertIn("4 of them kept", msg)

    def test_sender_outside_the_circuit(self):
        msg, h5 = self.error(e=edges({"edge": "a0.h0->a1.h0<q>"}))
        self.assertIn(f"{h5}: /edges/sender row 0", msg)
        self.assertIn("not in the circuit", msg)
        self.assertIn("0.0", msg)

    def test_faithfulness_disagreeing_with_scores(self):
        msg, h5 = self.error(pts=points(bad=True))
        self.assertIn(f"{h5}: /faithfulness/faithfulness row 1", msg)
        self.assertIn("(score - m_empty) / (m_full - m_empty)", msg)


if __name__ == "__main__":
    unittest.main()
