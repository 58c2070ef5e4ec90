"""Set algebra against hand-computed cases: small sets worked out on paper, and the reference
study's 80 % circuits (Lan & Barez) with the overlaps the paper reports."""
import itertools
import os
import unittest

from csweep_analysis import circuits, components, sets

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
STUDY = os.path.join(ROOT, "data", "circuits", "lan_barez_80.json")

# The study's circuits, typed in again here from the paper (not read from the committed file).
NUMERALS = "0.1 1.5 4.4 4.10 5.0 6.1 6.6 6.10 7.11 8.1 8.6 8.8 8.9 9.1".split()
NUMBER_WORDS = ("0.1 1.5 4.4 4.10 5.8 6.1 6.6 6.10 7.2 7.6 7.11 8.1 8.6 8.8 8.9 8.11 9.1 9.5 "
                "9.7").split()
MONTHS = "0.1 0.5 4.4 6.1 6.6 6.10 7.6 7.9 7.10 7.11 8.8 9.1 10.7".split()
SHARED_BY_ALL = "0.1 4.4 6.1 6.6 6.10 7.11 8.8 9.1".split()
NUMERALS_NUMBER_WORDS_ONLY = "1.5 4.10 8.1 8.6 8.9".split()
NUMBER_WORDS_MONTHS_ONLY = ["7.6"]


class SmallCases(unittest.TestCase):
    def test_two_sets(self):
        r = {tuple(x["sets"]): x for x in sets.venn_regions({"a": {"1.0", "1.1", "2.0"},
                                                              "b": {"2.0", "3.3"}})}
        self.assertEqual(r[("a",)]["members"], ["1.0", "1.1"])
        self.assertEqual(r[("b",)]["members"], ["3.3"])
        self.assertEqual(r[("a", "b")]["members"], ["2.0"])
        self.assertEqual(len(r), 3)

    def test_three_sets_every_region_and_empty_ones(self):
        # a = {1,2,3,4}, b = {3,4,5}, c = {4,6}: regions by hand.
        a, b, c = {"0.1", "0.2", "0.3", "0.4"}, {"0.3", "0.4", "0.5"}, {"0.4", "0.6"}
        r = {tuple(x["sets"]): x["members"] for x in sets.venn_regions({"a": a, "b": b, "c": c})}
        self.assertEqual(r, {("a",): ["0.1", "0.2"], ("b",): ["0.5"], ("c",): ["0.6"],
                             ("a", "b"): ["0.3"], ("a", "c"): [], ("b", "c"): [],
                             ("a", "b", "c"): ["0.4"]})
        inter = {tuple(x["sets"]): x["members"] for x in sets.intersections({"a": a, "b": b,
                                                                             "c": c})}
        self.assertEqual(inter[("a", "b")], ["0.3", "0.4"])
        self.assertEqual(inter[("a", "c")], ["0.4"])
        self.assertEqual(sets.union({"a": a, "b": b, "c": c}),
                         ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6"])
        self.assertAlmostEqual(sets.jaccard(a, b), 2 / 5)
        self.assertAlmostEqual(sets.jaccard(a, c), 1 / 5)
        self.assertEqual(sets.jaccard(set(), set()), 1.0)

    def test_regions_partition_the_union_for_four_sets(self):
        d = {"w": {"0.1", "1.1", "2.2"}, "x": {"1.1", "3.0"}, "y": {"2.2", "3.0", "4.4"},
             "z": {"0.1", "4.4", "5.5"}}
        regions = sets.venn_regions(d)
        self.assertEqual(len(regions), 15)
        members = list(itertools.chain.from_iterable(r["members"] for r in regions))
        self.assertEqual(sorted(members), sorted(set().union(*d.values())))
        self.assertEqual(len(members), len(set(members)))

    def test_survival_frequency(self):
        rows = sets.survival([{"9.1", "8.8"}, {"9.1"}, {"9.1", "mlp0"}, {"8.8"}])
        self.assertEqual([(r["component"], r["count"]) for r in rows],
                         [("9.1", 3), ("8.8", 2), ("mlp0", 1)])
        self.assertAlmostEqual(rows[0]["frequency"], 0.75)

    def test_forward_pass_order(self):
        self.assertEqual(components.sort(["10.7", "9.1", "mlp9", "0.5", "9.10", "n9.3"]),
                         ["0.5", "9.1", "9.10", "mlp9", "n9.3", "10.7"])


class StudyCircuits(unittest.TestCase):
    def setUp(self):
        cs, meta = circuits.load_json(STUDY)
        self.by_task = {c["task"]: set(c["heads"]) for c in cs}
        self.meta = meta

    def test_committed_file_holds_the_papers_circuits(self):
        self.assertEqual(self.by_task, {"numerals": set(NUMERALS),
                                        "number_words": set(NUMBER_WORDS),
                                        "months": set(MONTHS)})
        self.assertIn("Lan & Barez", self.meta["_source"])

    def test_paper_overlaps(self):
        r = {tuple(x["sets"]): x for x in sets.venn_regions(self.by_task)}
        self.assertEqual(r[("numerals", "number_words", "months")]["members"],
                         components.sort(SHARED_BY_ALL))
        self.assertEqual(r[("numerals", "number_words")]["members"],
                         components.sort(NUMERALS_NUMBER_WORDS_ONLY))
        self.assertEqual(r[("number_words", "months")]["members"], NUMBER_WORDS_MONTHS_ONLY)
        self.assertEqual(r[("numerals", "months")]["count"], 0)
        self.assertEqual(len(sets.union(self.by_task)), 24)
        self.assertEqual(r[("numerals",)]["members"], ["5.0"])
        self.assertEqual(r[("number_words",)]["members"], ["5.8", "7.2", "8.11", "9.5", "9.7"])
        self.assertEqual(r[("months",)]["members"], ["0.5", "7.9", "7.10", "10.7"])


if __name__ == "__main__":
    unittest.main()
