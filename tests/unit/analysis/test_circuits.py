"""--circuits files: accepted layout and the errors that name the file, task and field."""
import json
import os
import tempfile
import unittest

from csweep_analysis import circuits
from csweep_analysis.errors import InputError


class CircuitsFile(unittest.TestCase):
    def load(self, data, raw=None):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(raw if raw is not None else json.dumps(data))
        self.addCleanup(os.unlink, f.name)
        return f.name, circuits.load_json(f.name)

    def error(self, data, raw=None):
        with self.assertRaises(InputError) as cm:
            self.load(data, raw)
        return str(cm.exception)

    def test_heads_and_mlps(self):
        _, (cs, meta) = self.load({"_source": "x", "a": {"heads": ["9.1", "4.4"], "mlps": [3, 0]}})
        self.assertEqual(meta, {"_source": "x"})
        self.assertEqual(cs[0]["heads"], ["4.4", "9.1"])
        self.assertEqual(cs[0]["components"], ["mlp0", "mlp3", "4.4", "9.1"])

    def test_errors_name_the_place_and_value(self):
        msg = self.error({"digits": {"heads": ["9.1", "9_2"]}})
        self.assertIn("digits.heads[1]", msg)
        self.assertIn('"9_2"', msg)
        self.assertIn("layer.head", msg)
        msg = self.error({"digits": {"heads": [], "mlp": [1]}})
        self.assertIn("digits.mlp", msg)
        self.assertIn("unknown key", msg)
        msg = self.error({"digits": {"mlps": [-1]}})
        self.assertIn("digits.mlps[0]", msg)
        msg = self.error(None, raw='{"digits": {"heads": [}')
        self.assertIn(":1:", msg)
        self.assertIn("not valid JSON", msg)
        self.assertIn("holds no task", self.error({"_source": "only metadata"}))
        self.assertIn("lists a head twice", self.error({"d": {"heads": ["1.1", "1.1"]}}))
        msg = self.error({"d": {"edges": [{"sender": "0.1", "receiver": "1.2", "channel": "z"}]}})
        self.assertIn("d.edges[0].channel", msg)
        msg = self.error({"d": [{"heads": ["1.1"], "threshold": 20}, {"heads": [], "threshold": 20}]})
        self.assertIn("same threshold and order", msg)
        self.assertIn("d[1].threshold", self.error({"d": [{}, {"threshold": "20"}]}))

    def test_lists_of_circuits_per_task(self):
        _, (cs, _) = self.load({"d": [{"heads": ["1.1"], "threshold": 20, "order": "random:0"},
                                      {"heads": ["1.1", "2.2"], "threshold": 10}]})
        self.assertEqual([c["setting"].get("order") for c in cs], ["random:0", None])
        self.assertEqual([c["setting"]["threshold"] for c in cs], [20, 10])


if __name__ == "__main__":
    unittest.main()
