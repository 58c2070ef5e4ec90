#!/usr/bin/env python3
"""Reference pruning runs computed with TransformerLens (tests/fixtures/reference/<name>.pruning.json).

The pruning loop of docs/PRUNING.md, written here from its definition, on TransformerLens's
TransformerBridge (compatibility mode, no weight processing) with hooks that mean-ablate every
removed component together: heads at blocks.{l}.attn.hook_z, MLPs at blocks.{l}.hook_mlp_out,
replaced by the per-position means over the corrupted prompts. The prompts, answers and means are
those of the committed mean-ablation fixture (<name>.mean_ablation.safetensors, written by
generate_fixtures.py --tasks ablation), so the C++ test builds the same dataset.

  * performance = 100 * mean LD / mean LD_clean, LD at the last position;
  * a candidate is removed when 100 - performance < T, ablated on top of everything removed;
  * reference pass: layers L-1..0 (MLP, then heads 0..H-1), then layers 0..L-1 (heads, then
    MLP); reversed: back to front; random#S: Fisher-Yates over the pool with a SplitMix64 stream
    seeded with S (j = draw mod (i+1) after rejecting draws below 2^64 mod (i+1)); a pass visits
    its sequence restricted to the components kept when it starts, skipping those removed
    earlier in the same pass; passes repeat until one removes nothing (one pass with one_iter);
    nested thresholds (ascending T) each start from the previous circuit.

Thresholds are chosen so that no decision of any run lies within MARGIN_PP of its threshold:
float32 results of two implementations differ by ~1e-5 pp, so the recorded decisions are the
semantics' decisions, not rounding's. CI never runs this script (it needs torch and
transformer-lens: a venv, see tests/reference/README.md).

Usage:  python3 tests/reference/generate_pruning_reference.py [--only gpt2_tiny,llama_gqa]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate_fixtures as gf  # noqa: E402  (boot_bridge, paths, versions)

MASK64 = (1 << 64) - 1
MARGIN_PP = 0.01
# Spread first, so the chosen thresholds give different circuits (random models lose performance
# fast: small T removes little).
CANDIDATE_T = [10.0, 30.0, 60.0, 5.0, 20.0, 45.0, 80.0, 2.0, 3.0, 1.0]
ORDERS = ["reference", "reversed", "random#0", "random#1"]


def splitmix64(state: int) -> tuple[int, int]:
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def random_permutation(n: int, seed: int) -> list[int]:
    p, state = list(range(n)), seed & MASK64
    for i in range(n - 1, 0, -1):
        bound = i + 1
        reject_below = (1 << 64) % bound
        while True:
            state, x = splitmix64(state)
            if x >= reject_below:
                break
        j = x % bound
        p[i], p[j] = p[j], p[i]
    return p


def pool_of(n_layers: int, n_heads: int) -> list[tuple[str, int, int]]:
    """Every head and MLP, sorted by (layer, kind: head before MLP, index)."""
    out = []
    for l in range(n_layers):
        out += [("head", l, h) for h in range(n_heads)]
        out.append(("mlp", l, 0))
    return out


def name(c) -> str:
    return f"mlp{c[1]}" if c[0] == "mlp" else f"{c[1]}.{c[2]}"


def order_sequence(pool, order: str) -> list[int]:
    layers = sorted({c[1] for c in pool})
    idx = {c: i for i, c in enumerate(pool)}
    heads = lambda l: [idx[c] for c in pool if c[0] == "head" and c[1] == l]
    mlp = lambda l: [idx[("mlp", l, 0)]] if ("mlp", l, 0) in idx else []
    ref = []
    for l in reversed(layers):
        ref += mlp(l) + heads(l)
    for l in layers:
        ref += heads(l) + mlp(l)
    if order == "reference":
        return ref
    if order == "reversed":
        return ref[::-1]
    assert order.startswith("random#")
    return random_permutation(len(pool), int(order[7:]))


class Evaluator:
    def __init__(self, model_name: str):
        self.name = model_name
        fx = load_file(str(gf.REFERENCE / f"{model_name}.mean_ablation.safetensors"))
        self.clean = fx["clean_tokens"]
        self.correct, self.incorrect = fx["correct_ids"], fx["incorrect_ids"]
        self.z_mean, self.mlp_mean = fx["z_mean"], fx["mlp_out_mean"]
        self.bridge = gf.boot_bridge(gf.MODELS / model_name)
        self.n_layers, self.n_heads = self.bridge.cfg.n_layers, self.bridge.cfg.n_heads
        self.rows = torch.arange(self.clean.shape[0])
        self.ld_clean = self.ld([])
        self.calls = 0

    def ld(self, removed) -> float:
        hooks = []
        by_layer: dict[int, list[int]] = {}
        for kind, l, h in removed:
            if kind == "head":
                by_layer.setdefault(l, []).append(h)
            else:
                hooks.append((f"blocks.{l}.hook_mlp_out",
                              lambda x, hook, l=l: self.mlp_mean[l].expand_as(x).clone()))
        for l, hs in by_layer.items():
            def zhook(z, hook, l=l, hs=tuple(hs)):
                z = z.clone()
                for h in hs:
                    z[:, :, h, :] = self.z_mean[l, :, h, :]
                return z
            hooks.append((f"blocks.{l}.attn.hook_z", zhook))
        with torch.no_grad():
            out = self.bridge.run_with_hooks(self.clean, fwd_hooks=hooks) if hooks else self.bridge(self.clean)
        last = out[:, -1].float()
        return (last[self.rows, self.correct] - last[self.rows, self.incorrect]).mean().item()

    def performance(self, removed) -> float:
        self.calls += 1
        return 100.0 * self.ld(removed) / self.ld_clean


def run(ev: Evaluator, order: str, thresholds: list[float], nested: bool, one_iter: bool):
    pool = pool_of(ev.n_layers, ev.n_heads)
    full = order_sequence(pool, order)
    kept = set(range(len(pool)))
    circuits, passes_per_t, steps = [], [], []
    margin = float("inf")
    for t, T in enumerate(thresholds):
        passes = 0
        while True:
            seq = [p for p in full if p in kept]
            removed_any = False
            for pos, p in enumerate(seq):
                if p not in kept:
                    continue
                removed_now = [pool[j] for j in range(len(pool)) if j not in kept] + [pool[p]]
                perf = ev.performance(removed_now)
                margin = min(margin, abs((100.0 - perf) - T))
                removed = 100.0 - perf < T
                steps.append({"threshold_index": t, "pass": passes, "position": pos,
                              "component": name(pool[p]), "performance": perf, "removed": removed})
                if removed:
                    kept.discard(p)
                    removed_any = True
            passes += 1
            if one_iter or not removed_any:
                break
        circuits.append([name(pool[j]) for j in sorted(kept)])
        passes_per_t.append(passes)
    return {"order": order, "thresholds": thresholds, "nested": nested, "one_iter": one_iter,
            "circuits": circuits, "passes": passes_per_t, "steps": steps}, margin


def runs_for(ev: Evaluator, ts: list[float]):
    out, margin = [], float("inf")
    for order in ORDERS:
        r, m = run(ev, order, ts, nested=True, one_iter=False)
        out.append(r)
        margin = min(margin, m)
    for T in ts:  # each threshold from the full model, as the study runs them
        r, m = run(ev, "reference", [T], nested=False, one_iter=False)
        out.append(r)
        margin = min(margin, m)
    r, m = run(ev, "reversed", [ts[len(ts) // 2]], nested=False, one_iter=True)
    out.append(r)
    return out, min(margin, m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="gpt2_tiny,llama_gqa")
    a = ap.parse_args()
    for model_name in a.only.split(","):
        ev = Evaluator(model_name)
        # Keep the thresholds whose every decision (in every run) is clear of the threshold.
        chosen = []
        for T in CANDIDATE_T:
            _, m = runs_for(ev, sorted(chosen + [T]))
            if m >= MARGIN_PP:
                chosen = sorted(chosen + [T])
            if len(chosen) == 3:
                break
        if not chosen:
            raise SystemExit(f"[{model_name}] no threshold keeps every decision {MARGIN_PP} pp clear")
        runs, margin = runs_for(ev, chosen)
        removals = sum(s["removed"] for r in runs for s in r["steps"])
        if removals == 0:
            raise SystemExit(f"[{model_name}] thresholds {chosen} remove nothing: not a test")
        out = {"model": model_name, "ld_clean": ev.ld_clean,
               "pool": [name(c) for c in pool_of(ev.n_layers, ev.n_heads)],
               "min_margin_pp": margin, "definition": "tests/reference/generate_pruning_reference.py",
               "versions": gf.versions_string(), "runs": runs}
        path = gf.REFERENCE / f"{model_name}.pruning.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(out, indent=1) + "\n")
        os.replace(tmp, path)
        print(f"[{model_name}] thresholds {chosen}, {len(runs)} runs, {ev.calls} evaluations, "
              f"{removals} removals, min margin {margin:.4f} pp; circuits of the nested reference run: "
              f"{runs[0]['circuits']}")


if __name__ == "__main__":
    main()
