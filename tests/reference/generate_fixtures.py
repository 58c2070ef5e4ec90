#!/usr/bin/env python3
"""Generate the reference fixtures under tests/fixtures/ (see tests/reference/README.md).

Tiny random-init GPT-2 and Llama models are written with Hugging Face
save_pretrained; for each model the script records the HF transformers logits
and every TransformerLens hook activation (no weight processing) on a fixed
batch of random tokens. The C++ tests compare against these files only; CI
never runs this script.

TransformerLens 4.x removed HookedTransformer. Its replacement,
TransformerBridge, converts the HF weights with TransformerLens's own
architecture adapters; enable_compatibility_mode(no_processing=True) restores
the classic hook names (blocks.{l}.attn.hook_z, ln1.hook_scale, ...) without
folding or centering anything.

Every output is first written into a staging folder beside tests/fixtures/ and
moved into place only after all checks passed: a model folder is swapped in with
one rename (renameat2 RENAME_EXCHANGE where the kernel offers it), each file with
os.replace, so a test run reading the fixtures meanwhile sees the old or the new
file, never a partly written one.

Usage:  python3 tests/reference/generate_fixtures.py [--tasks models,gguf,ablation,smollm2] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import load_file
from safetensors.torch import save_file as _save_file
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    GPT2TokenizerFast,
    LlamaConfig,
    LlamaForCausalLM,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
MODELS = FIXTURES / "models"
REFERENCE = FIXTURES / "reference"
TOKENIZER_DIR = REPO / "data" / "tokenizers" / "gpt2"

VOCAB = 256
N_CTX = 32
BATCH, POS = 4, 8
TOKEN_SEED = 1234
TOLERANCE = 1e-4

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)


# --------------------------------------------------------------------------- staging


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False when
    the C library or the file system does not offer it."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0:
        return True
    if ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(ctypes.get_errno(), f"renameat2({a}, {b}, RENAME_EXCHANGE)")


class Staging:
    """Outputs go to <tests>/.fixtures-staging-*/{models,reference,gguf}/ (same
    file system as tests/fixtures, so moving them in is a rename). Readers look
    in the staging folder first, so later tasks of the same run see this run's
    models and references."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=".fixtures-staging-", dir=str(FIXTURES.parent)))
        self.order: list[Path] = []  # relative to FIXTURES, in the order they are moved in
        self.removals: list[Path] = []

    def out(self, rel: str) -> Path:
        """A fresh path to write FIXTURES/rel to (a folder for models/<name>)."""
        p = self.root / rel
        if p.exists():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        p.parent.mkdir(parents=True, exist_ok=True)
        if Path(rel) not in self.order:
            self.order.append(Path(rel))
        return p

    def find(self, rel: str) -> Path:
        p = self.root / rel
        return p if p.exists() else FIXTURES / rel

    def remove(self, rel: str) -> None:
        self.removals.append(Path(rel))

    def commit(self) -> None:
        for rel in self.order:
            src, dst = self.root / rel, FIXTURES / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            for q in [src, *src.rglob("*")] if src.is_dir() else [src]:
                q.chmod(0o755 if q.is_dir() else 0o644)
            if src.is_dir():
                if dst.exists():
                    if not _rename_exchange(src, dst):
                        old = self.root / "replaced" / rel
                        old.parent.mkdir(parents=True, exist_ok=True)
                        os.rename(dst, old)  # brief gap: no folder
                        os.rename(src, dst)
                else:
                    os.rename(src, dst)
            else:
                os.replace(src, dst)
            print(f"  -> {dst.relative_to(REPO)}")
        for rel in self.removals:
            p = FIXTURES / rel
            if p.exists():
                p.unlink()
                print(f"  removed {p.relative_to(REPO)}")
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


STAGE: Staging | None = None


def save_file(tensors: dict, path: str, metadata: dict[str, str] | None = None) -> None:
    """safetensors' save_file with the JSON header rewritten with sorted keys:
    the package writes the metadata in hash-map order, so otherwise two runs
    give equal tensors but different bytes."""
    import struct

    _save_file(tensors, path, metadata=metadata)
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the tensor data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def stage() -> Staging:
    assert STAGE is not None
    return STAGE


# --------------------------------------------------------------------------- models


def _randomise_norms_and_biases(model: torch.nn.Module, seed: int) -> None:
    """HF initialises norm weights to 1 and biases to 0; randomise them so that
    hooks such as ln1.hook_scale and the bias paths are exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            is_norm = any(t in name for t in ("ln_", "norm"))
            if is_norm and leaf == "weight":
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif leaf == "bias":
                p.copy_((0.1 if is_norm else 0.05) * torch.randn(p.shape, generator=g))


def build_gpt2(n_layer: int, n_head: int, n_embd: int, tied: bool, seed: int) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=VOCAB,
        n_positions=N_CTX,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        initializer_range=0.15,
        layer_norm_epsilon=1e-5,
        activation_function="gelu_new",
        tie_word_embeddings=tied,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="eager",
    )
    model = GPT2LMHeadModel(cfg).eval()
    _randomise_norms_and_biases(model, seed + 1)
    return model


def build_llama(
    n_layer: int, n_head: int, n_kv: int, hidden: int, inter: int, tied: bool, theta: float, seed: int
) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_kv,
        max_position_embeddings=N_CTX,
        rms_norm_eps=1e-5,
        initializer_range=0.15,
        tie_word_embeddings=tied,
        rope_parameters={"rope_type": "default", "rope_theta": float(theta)},
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="eager",
    )
    model = LlamaForCausalLM(cfg).eval()
    _randomise_norms_and_biases(model, seed + 1)
    return model


def build_qwen2(
    n_layer: int, n_head: int, n_kv: int, hidden: int, inter: int, tied: bool, theta: float, seed: int
) -> torch.nn.Module:
    """Qwen2: Llama plus q/k/v biases (always present, no o_proj bias)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_kv,
        max_position_embeddings=N_CTX,
        rms_norm_eps=1e-6,
        initializer_range=0.15,
        tie_word_embeddings=tied,
        use_sliding_window=False,
        rope_parameters={"rope_type": "default", "rope_theta": float(theta)},
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="eager",
    )
    model = Qwen2ForCausalLM(cfg).eval()
    _randomise_norms_and_biases(model, seed + 1)
    return model


def build_neox(n_layer: int, n_head: int, hidden: int, inter: int, rotary_pct: float, seed: int) -> torch.nn.Module:
    """GPT-NeoX / Pythia: parallel attention + MLP, partial rotary, fused per-head QKV, untied
    embed_out, LayerNorm with bias, exact gelu."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(seed)
    cfg = GPTNeoXConfig(
        vocab_size=VOCAB,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        max_position_embeddings=N_CTX,
        layer_norm_eps=1e-5,
        initializer_range=0.15,
        hidden_act="gelu",
        use_parallel_residual=True,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": rotary_pct},
        rotary_pct=rotary_pct,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="eager",
    )
    model = GPTNeoXForCausalLM(cfg).eval()
    _randomise_norms_and_biases(model, seed + 1)
    return model


# Gemma fixtures: a smaller vocabulary and batch than the others keep each model + reference
# pair near 0.25 MB; 8 positions against a window of 3 make the local layers' mask matter.
GEMMA_VOCAB = 64
GEMMA_BATCH = 2
GEMMA_WINDOW = 3


def gemma_tokens() -> torch.Tensor:
    g = torch.Generator().manual_seed(TOKEN_SEED)
    return torch.randint(0, GEMMA_VOCAB, (GEMMA_BATCH, POS), generator=g, dtype=torch.int64)


def _gemma_norms_near_one(model: torch.nn.Module, seed: int) -> None:
    """Gemma's RMSNorm multiplies by (1 + w) (HF initialises w = 0): give every norm weight
    w = 0.2 * randn, so the multipliers are random and near 1, as in a trained model."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith(".weight"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def build_gemma3(seed: int) -> torch.nn.Module:
    """Gemma 3 (Gemma3ForCausalLM, model_type gemma3_text): (1 + w) RMSNorm before and after
    attention and MLP, QK-norm, GeGLU (gelu tanh), embeddings * sqrt(d_model), head_dim 12 !=
    d_model / n_heads = 8, query_pre_attn_scalar 20 != head_dim, GQA, a local layer (sliding
    window 3, RoPE theta 10000) and a global one (theta 1e6, linear scaling 8), tied embeddings."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    cfg = Gemma3TextConfig(
        vocab_size=GEMMA_VOCAB,
        hidden_size=32,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=12,
        max_position_embeddings=N_CTX,
        query_pre_attn_scalar=20,
        sliding_window=GEMMA_WINDOW,
        layer_types=["sliding_attention", "full_attention"],
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            "full_attention": {"rope_type": "linear", "rope_theta": 1000000.0, "factor": 8.0},
        },
        rms_norm_eps=1e-6,
        initializer_range=0.15,
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        attn_implementation="eager",
    )
    model = Gemma3ForCausalLM(cfg).eval()
    _gemma_norms_near_one(model, seed + 1)
    return model


def build_gemma2(seed: int) -> torch.nn.Module:
    """Gemma 2 (Gemma2ForCausalLM): Gemma 3's block without QK-norm, with attention and final
    logit soft-capping (small caps so that tanh bends the values), one RoPE theta, and the
    default layer pattern (even layers local)."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(seed)
    cfg = Gemma2Config(
        vocab_size=GEMMA_VOCAB,
        hidden_size=32,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=12,
        max_position_embeddings=N_CTX,
        query_pre_attn_scalar=20,
        sliding_window=GEMMA_WINDOW,
        attn_logit_softcapping=2.0,
        final_logit_softcapping=3.0,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        rms_norm_eps=1e-6,
        initializer_range=0.15,
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        attn_implementation="eager",
    )
    model = Gemma2ForCausalLM(cfg).eval()
    _gemma_norms_near_one(model, seed + 1)
    return model


def save_model(model: torch.nn.Module, name: str, dtype: torch.dtype = torch.float32, **kw) -> Path:
    """save_pretrained in `dtype`. The model is left in float32 holding the
    stored (rounded) values, so references computed from it or from the saved
    folder upcast to float32 agree."""
    out = stage().out(f"models/{name}")
    # Buffers that are not saved (RoPE inv_freq) are recomputed in float32 when
    # the folder is loaded; keep the float32 ones rather than their rounded copies.
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    model = model.to(dtype)
    model.config.dtype = dtype
    model.save_pretrained(out, safe_serialization=True, **kw)
    model.to(torch.float32)
    model.config.dtype = torch.float32
    with torch.no_grad():
        for n, b in model.named_buffers():
            b.copy_(buffers[n])
    (out / "generation_config.json").unlink(missing_ok=True)
    return out


def write_hub_layout(src: Path, model: GPT2LMHeadModel, name: str) -> Path:
    """GPT-2 as published on the Hub: no "transformer." prefix, no lm_head, and
    the causal-mask buffers h.{l}.attn.bias stored as tensors."""
    out = stage().out(f"models/{name}")
    out.mkdir(parents=True)
    shutil.copy(src / "config.json", out / "config.json")
    n_ctx = model.config.n_positions
    tensors = {}
    for k, v in model.transformer.state_dict().items():
        tensors[k] = v.detach().to(torch.float32).contiguous()
    for l in range(model.config.n_layer):
        tensors[f"h.{l}.attn.bias"] = torch.tril(torch.ones(n_ctx, n_ctx)).view(1, 1, n_ctx, n_ctx)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


# --------------------------------------------------------------------------- references


_TOKENIZER = None


def tl_tokenizer():
    """TransformerBridge wants a tokenizer; the models' ids are random, so any
    GPT-2 tokenizer loaded from a directory will do (it is never used here)."""
    global _TOKENIZER
    if _TOKENIZER is None:
        tmp = Path("/tmp/csweep_ref_tokenizer")
        if not (tmp / "tokenizer.json").exists():
            t = transformers.GPT2Tokenizer(
                vocab_file=str(TOKENIZER_DIR / "encoder.json"), merges_file=str(TOKENIZER_DIR / "vocab.bpe")
            )
            t.save_pretrained(tmp)
        _TOKENIZER = GPT2TokenizerFast.from_pretrained(str(tmp))
    return _TOKENIZER


def fixed_tokens() -> torch.Tensor:
    g = torch.Generator().manual_seed(TOKEN_SEED)
    return torch.randint(0, VOCAB, (BATCH, POS), generator=g, dtype=torch.int64)


def hf_logits(model_dir: Path, tokens: torch.Tensor) -> torch.Tensor:
    m = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        return m(tokens).logits.float()


def boot_bridge(model_dir: Path):
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_transformers(
        str(model_dir), device="cpu", dtype=torch.float32, tokenizer=tl_tokenizer()
    )
    bridge.enable_compatibility_mode(no_processing=True, disable_warnings=True)
    return bridge


def _jsonable(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


def is_bridge_internal(hook: str) -> bool:
    """Hook points that TransformerBridge adds on top of the classic
    HookedTransformer set (submodule hook_in/hook_out, q/k/v/o linears, ...).
    They duplicate classic hooks almost always, so they are stored only when
    their activation is not bitwise equal to an already stored tensor."""
    return bool(re.search(r"\.hook_(in|out)$", hook)) or bool(
        re.search(r"attn\.(q|k|v|o|qkv)\.|mlp\.(in|out|gate)\.|rotary_emb\.|hook_hidden_states$", hook)
    )


def tl_run(model_dir: Path, tokens: torch.Tensor):
    """Every hook activation, with hook_result and hook_mlp_in switched on (the
    optional per-head input hooks hook_{q,k,v}_input / hook_attn_in stay off as
    in HookedTransformer's default: they are resid_pre broadcast per head)."""
    bridge = boot_bridge(model_dir)
    hook_names = list(bridge.hook_dict.keys())
    with torch.no_grad():
        bridge.set_use_attn_result(True)
        bridge.set_use_hook_mlp_in(True)
        logits, cache = bridge.run_with_cache(tokens)
        acts = {k: cache[k] for k in cache.keys()}
    cfg = {k: _jsonable(v) for k, v in vars(bridge.cfg).items() if not k.startswith("_")}
    cfg["model_name"] = model_dir.name  # not the generating machine's absolute path
    cfg["reference_hook_flags"] = {"use_attn_result": True, "use_hook_mlp_in": True,
                                   "use_split_qkv_input": False, "use_attn_in": False}
    cfg["reference_note"] = (
        "transformer_lens TransformerBridge.boot_transformers(<model dir>) + "
        "enable_compatibility_mode(no_processing=True): no fold_ln, no centering, no value-bias folding"
    )
    extra = [k for k in acts if k not in bridge.hook_dict]
    return logits.float(), acts, hook_names + extra, cfg


def write_reference(name: str, model_dir: Path, tokens: torch.Tensor, model: torch.nn.Module) -> None:
    """`model` is the in-memory float32 model holding the stored values; the
    folder is read back by HF and TransformerLens in float32 (upcasting f16/bf16
    weights), and both must agree with it."""
    logits = hf_logits(model_dir, tokens)
    with torch.no_grad():
        mem = model(tokens).logits.float()
    mdiff = (mem - logits).abs().max().item()
    tl_logits, acts, hook_names, cfg = tl_run(model_dir, tokens)
    diff = (tl_logits - logits).abs().max().item()
    stored = sorted({str(v.dtype) for v in load_file(str(next(model_dir.glob("*.safetensors")))).values()})
    print(f"[{name}] stored {stored}; max |TL - HF| logits = {diff:.3e}; |HF(folder) - HF(memory)| = {mdiff:.3e}; "
          f"logit std = {logits.std().item():.3f}")
    if not torch.isfinite(logits).all() or diff > TOLERANCE or mdiff > TOLERANCE:
        raise SystemExit(f"[{name}] TransformerLens / HF logits disagree (TL {diff:.3e}, memory {mdiff:.3e} > {TOLERANCE})")
    if cfg.get("dtype") not in (None, "torch.float32", "float32"):
        raise SystemExit(f"[{name}] TransformerLens did not compute in float32 (cfg dtype {cfg.get('dtype')})")
    tensors = {"tokens": tokens.contiguous(), "logits": logits.contiguous(), "tl.logits": tl_logits.contiguous()}
    aliases: dict[str, str] = {}
    fired = [k for k in hook_names if k in acts]
    for k in fired:  # classic hooks first: they are what the tests look up
        if is_bridge_internal(k):
            continue
        tensors["hook." + k] = acts[k].detach().to(torch.float32).contiguous().clone()
    for k in fired:
        if not is_bridge_internal(k):
            continue
        a = acts[k].detach().to(torch.float32)
        same = next((s for s, v in tensors.items() if v.shape == a.shape and torch.equal(v, a)), None)
        if same is None:
            tensors["hook." + k] = a.contiguous().clone()
        else:
            aliases["hook." + k] = same
    meta = {
        "model": name,
        "tl_hooks": "\n".join(hook_names),
        "tl_hooks_fired": "\n".join(fired),
        "aliases": json.dumps(aliases),
        "hook_subset": "all",
        "model_dtype": ",".join(stored),
        "generator": "tests/reference/generate_fixtures.py",
        "versions": versions_string(),
    }
    ref = stage().out(f"reference/{name}.safetensors")
    save_file(tensors, str(ref), metadata=meta)
    stage().out(f"reference/{name}.hooks.txt").write_text("\n".join(hook_names) + "\n")
    with open(stage().out(f"reference/{name}.tl_config.json"), "w") as f:
        json.dump(cfg, f, indent=1, sort_keys=True)
        f.write("\n")
    silent = [k for k in hook_names if k not in acts]
    size = ref.stat().st_size
    print(f"[{name}] {len(hook_names)} hooks, {len(fired)} fired, {len(tensors) - 3} stored, "
          f"{len(aliases)} aliases, {size} bytes; not fired: {silent}")


def check_same_logits(name: str, model_dir: Path, ref: str, tokens: torch.Tensor) -> None:
    logits = hf_logits(model_dir, tokens)
    want = load_file(str(stage().find(f"reference/{ref}.safetensors")))["logits"]
    diff = (logits - want).abs().max().item()
    print(f"[{name}] HF logits vs {ref} reference: max diff {diff:.3e}")
    if diff > 1e-5:
        raise SystemExit(f"[{name}] variant does not reproduce {ref}'s logits")


def check_rounded_copy(name: str, model_dir: Path, wide_dir: Path, dtype: torch.dtype) -> None:
    """A dtype variant must hold exactly its float32 parent's tensors rounded to `dtype`."""
    narrow = load_file(str(model_dir / "model.safetensors"))
    wide = load_file(str(wide_dir / "model.safetensors"))
    if set(narrow) != set(wide):
        raise SystemExit(f"[{name}] tensor names differ from {wide_dir.name}")
    for k, v in narrow.items():
        if v.dtype != dtype or not torch.equal(v, wide[k].to(dtype)):
            raise SystemExit(f"[{name}] {k} is not {wide_dir.name}'s tensor rounded to {dtype}")
    print(f"[{name}] {len(narrow)} tensors = {wide_dir.name} rounded to {dtype}")


def versions_string() -> str:
    import safetensors
    import transformer_lens  # noqa: F401
    from importlib.metadata import version

    return (
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"transformer-lens {version('transformer-lens')}, safetensors {safetensors.__version__}, "
        f"gguf {version('gguf')}, numpy {np.__version__}"
    )



# --------------------------------------------------------------------------- GGUF


GGUF_DIR = FIXTURES / "gguf"


def gpt2_vocab_prefix(n: int):
    """The first n GPT-2 tokens and the merges whose parts and result are among
    them (GPT-2's ids 0..255 are the byte tokens, ids 256.. the merge results in
    merge order, so n = 256 gives the byte tokens and no merges)."""
    enc = json.loads((TOKENIZER_DIR / "encoder.json").read_text(encoding="utf-8"))
    tokens = [None] * n
    for tok, i in enc.items():
        if i < n:
            tokens[i] = tok
    assert all(t is not None for t in tokens)
    keep = set(tokens)
    merges = []
    for line in (TOKENIZER_DIR / "vocab.bpe").read_text(encoding="utf-8").splitlines()[1:]:
        if not line.strip():
            continue
        a, b = line.split(" ")
        if a in keep and b in keep and (a + b) in keep:
            merges.append(line)
    return tokens, merges


def llama_permute(w: torch.Tensor, n_head: int, n_head_kv: int | None) -> torch.Tensor:
    """convert_hf_to_gguf.py LlamaModel.permute: HF rotate_half layout ->
    llama.cpp's interleaved RoPE row order."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _gguf_writer_class():
    """GGUFWriter refuses empty metadata arrays (and add_array silently drops
    them), but the format allows them and llama.cpp requires the
    tokenizer.ggml.merges key of a "gpt2" tokenizer even when there are no
    merges: write an empty array as element type + count 0."""
    import gguf

    class Writer(gguf.GGUFWriter):
        def _pack_val(self, val, vtype, add_vtype, sub_type=None):
            if vtype == gguf.GGUFValueType.ARRAY and len(val) == 0:
                if sub_type is None:
                    raise ValueError("an empty GGUF array needs an explicit element type")
                out = self._pack("I", vtype) if add_vtype else b""
                return out + self._pack("I", sub_type) + self._pack("Q", 0)
            return super()._pack_val(val, vtype, add_vtype, sub_type)

    return Writer


def _gguf_tensor(writer, name: str, t: torch.Tensor, qtype) -> None:
    """Type selection as convert_hf_to_gguf.py prepare_tensors(): 1-D tensors,
    norms and position_embd stay F32, the rest follow the file type."""
    import gguf

    data = t.detach().to(torch.float32).numpy()
    T = gguf.GGMLQuantizationType
    if data.ndim <= 1 or name.endswith("_norm.weight") or name.startswith("position_embd."):
        writer.add_tensor(name, data.astype(np.float32))
    elif qtype == T.F16:
        writer.add_tensor(name, data.astype(np.float16))
    else:
        writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)


def write_gguf(name: str, model_dir: Path, qtype_name: str) -> Path:
    import gguf

    T = gguf.GGMLQuantizationType
    qtype = {"f16": T.F16, "q8_0": T.Q8_0}[qtype_name]
    ftype = {"f16": gguf.LlamaFileType.MOSTLY_F16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[qtype_name]
    cfg = json.loads((model_dir / "config.json").read_text())
    sd = {k: v.float() for k, v in load_file(str(model_dir / "model.safetensors")).items()}
    arch = {"gpt2": "gpt2", "llama": "llama", "qwen2": "qwen2", "gemma3_text": "gemma3"}[cfg["model_type"]]
    out = stage().out(f"gguf/{name}.{qtype_name}.gguf")
    w = _gguf_writer_class()(str(out), arch)
    w.add_name(name)
    tensors: list[tuple[str, torch.Tensor]] = []
    if arch == "gpt2":
        w.add_block_count(cfg["n_layer"])
        w.add_context_length(cfg["n_positions"])
        w.add_embedding_length(cfg["n_embd"])
        w.add_feed_forward_length(4 * cfg["n_embd"])
        w.add_head_count(cfg["n_head"])
        w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
        w.add_file_type(ftype)
        ren = {"wte": "token_embd", "wpe": "position_embd", "ln_f": "output_norm", "ln_1": "attn_norm",
               "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
               "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
        for k, v in sd.items():
            k = k.removeprefix("transformer.")
            if k.endswith((".attn.bias", ".attn.masked_bias")):
                continue
            if k == "lm_head.weight":
                tensors.append(("output.weight", v))
                continue
            m = re.match(r"h\.(\d+)\.(.*)\.(weight|bias)$", k)
            if m:
                new = f"blk.{m.group(1)}.{ren[m.group(2)]}.{m.group(3)}"
                if m.group(3) == "weight" and m.group(2) in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
                    v = v.T.contiguous()  # Conv1D [in, out] -> [out, in]
            else:
                base, leaf = k.rsplit(".", 1)
                new = f"{ren[base]}.{leaf}"
            tensors.append((new, v))
            if new == "token_embd.weight" and "lm_head.weight" not in sd:
                tensors.append(("output.weight", v))  # the converter writes GPT-2's tied head explicitly
    else:
        n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        head_dim = cfg.get("head_dim") or cfg["hidden_size"] // n_head
        w.add_vocab_size(cfg["vocab_size"])
        w.add_block_count(cfg["num_hidden_layers"])
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_embedding_length(cfg["hidden_size"])
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_head_count(n_head)
        w.add_head_count_kv(n_kv)
        if arch != "gemma3":
            w.add_rope_freq_base(float(cfg["rope_parameters"]["rope_theta"]))
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
        w.add_file_type(ftype)
        w.add_rope_dimension_count(head_dim)
        ren = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
               "self_attn.o_proj": "attn_output", "input_layernorm": "attn_norm",
               "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
               "mlp.down_proj": "ffn_down"}
        gemma = arch == "gemma3"
        if gemma:
            # convert_hf_to_gguf.py Gemma3Model: head_dim as key/value length, the sliding window,
            # Gemma's norm names, and every norm weight stored as 1 + w. query_pre_attn_scalar,
            # the layer pattern and RoPE scaling have no key HF's GGUF loader reads: it uses the
            # config class's defaults, and so do we.
            w.add_key_length(head_dim)
            w.add_value_length(head_dim)
            w.add_sliding_window(cfg["sliding_window"])
            w.add_rope_freq_base(float(cfg["rope_parameters"]["full_attention"]["rope_theta"]))
            ren.update({"post_attention_layernorm": "post_attention_norm",
                        "pre_feedforward_layernorm": "ffn_norm",
                        "post_feedforward_layernorm": "post_ffw_norm",
                        "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm"})
        for k, v in sd.items():
            if gemma and k.endswith("norm.weight"):
                v = v + 1
            if k == "model.embed_tokens.weight":
                tensors.append(("token_embd.weight", v))
            elif k == "model.norm.weight":
                tensors.append(("output_norm.weight", v))
            elif k == "lm_head.weight":
                tensors.append(("output.weight", v))
            else:
                m = re.match(r"model\.layers\.(\d+)\.(.*)\.(weight|bias)$", k)
                part = ren[m.group(2)]
                # Only LlamaModel permutes Q/K rows (llama.cpp's NORM RoPE); Qwen2 and Gemma use
                # the NEOX layout and keep HF's order.
                if arch == "llama" and part == "attn_q":
                    v = llama_permute(v, n_head, n_head)
                elif arch == "llama" and part == "attn_k":
                    v = llama_permute(v, n_head, n_kv)
                tensors.append((f"blk.{m.group(1)}.{part}.{m.group(3)}", v))
    tokens, merges = gpt2_vocab_prefix(cfg["vocab_size"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.NORMAL] * len(tokens))
    w.add_key_value(gguf.Keys.Tokenizer.MERGES, merges, gguf.GGUFValueType.ARRAY,
                    sub_type=gguf.GGUFValueType.STRING)
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for n, v in tensors:
        _gguf_tensor(w, n, v, qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    check_gguf_tokenizer(out, tokens, merges)
    return out


def check_gguf_tokenizer(path: Path, tokens: list[str], merges: list[str]) -> None:
    """Read the tokenizer metadata back with gguf's own reader."""
    import gguf

    r = gguf.GGUFReader(str(path))
    f_tok, f_mer = r.fields["tokenizer.ggml.tokens"], r.fields["tokenizer.ggml.merges"]
    got_tok = [bytes(f_tok.parts[i]).decode("utf-8") for i in f_tok.data]
    got_mer = [bytes(f_mer.parts[i]).decode("utf-8") for i in f_mer.data]
    # parts of an array field: key length, key, value type, element type, count, items...
    elem = gguf.GGUFValueType(int(f_mer.parts[3][0]))
    if got_tok != tokens or got_mer != merges or f_mer.types[0] != gguf.GGUFValueType.ARRAY \
            or elem != gguf.GGUFValueType.STRING or int(f_mer.parts[4][0]) != len(merges):
        raise SystemExit(f"[{path.name}] tokenizer metadata does not read back: {len(got_tok)} tokens, "
                         f"{len(got_mer)} merges of {elem.name}")
    print(f"[{path.name}] tokenizer: {len(got_tok)} tokens, {len(got_mer)} merges (array of {elem.name})")


def task_gguf(tokens: torch.Tensor) -> None:
    for name, qts in (("gpt2_tiny", ("f16", "q8_0")), ("llama_gqa", ("f16", "q8_0")), ("qwen2_tiny", ("q8_0",)),
                      ("gemma3_tiny", ("f16",))):
        for qt in qts:
            path = write_gguf(name, stage().find(f"models/{name}"), qt)
            ref_rel = f"reference/{name}.{qt}.gguf_ref.safetensors"
            # HF's GGUF config mapping sets GPT-2's n_ctx from context_length but
            # leaves n_positions at 1024, so wpe would not fit: pass it explicitly.
            extra = {"n_positions": N_CTX} if name.startswith("gpt2") else {}
            try:
                m = AutoModelForCausalLM.from_pretrained(
                    str(path.parent), gguf_file=path.name, dtype=torch.float32, attn_implementation="eager", **extra
                ).eval()
                toks = gemma_tokens() if name.startswith("gemma") else tokens
                with torch.no_grad():
                    logits = m(toks).logits.float()
            except Exception as e:  # noqa: BLE001 - record which variants HF cannot read
                print(f"[{path.name}] HF transformers cannot load it: {type(e).__name__}: {e}")
                stage().remove(ref_rel)
                continue
            want = load_file(str(stage().find(f"reference/{name}.safetensors")))["logits"]
            diff = (logits - want).abs().max().item()
            print(f"[{path.name}] {path.stat().st_size} bytes; HF-from-GGUF logits vs fp32 reference: max diff {diff:.3e}")
            save_file({"tokens": toks.contiguous(), "logits": logits.contiguous()}, str(stage().out(ref_rel)),
                      metadata={"gguf": f"gguf/{path.name}", "versions": versions_string()})



# --------------------------------------------------------------------------- SmolLM2 (real model)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Sequence-continuation prompts (ARCHITECTURE.md section 3 template) plus two
# plain English prompts. SmolLM2 splits numbers into single digits with the
# space as its own token (" 7" -> [" ", "7"]), so the digit prompt ends in
# "in " and its answers are the bare digits.
SMOLLM2_PROMPTS = [
    {"kind": "digits", "verb": "done",
     "text": "The cake done in 3. The work done in 4. The house done in 5. The road done in 6. The song done in ",
     "correct": "7", "incorrect": "6"},
    {"kind": "number_words", "verb": "lost",
     "text": "The key lost in two. The ring lost in three. The bag lost in four. The coat lost in five. "
             "The phone lost in",
     "correct": " six", "incorrect": " five"},
    {"kind": "months", "verb": "born",
     "text": "Anna born in March. John born in April. Maria born in May. Peter born in June. Laura born in",
     "correct": " July", "incorrect": " June"},
    {"kind": "english", "text": "The capital of France is", "correct": " Paris", "incorrect": " London"},
    {"kind": "english", "text": "Once upon a time, there was a little girl who", "correct": None, "incorrect": None},
]


def smollm2_path() -> Path:
    out = subprocess.run([str(REPO / "scripts" / "fetch_smollm2.sh")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def task_smollm2() -> None:
    from transformers import AutoTokenizer

    path = smollm2_path()
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    rows, ids_list = [], []
    for p in SMOLLM2_PROMPTS:
        ids = tok(p["text"]).input_ids
        row = dict(p, token_ids=ids)
        for key in ("correct", "incorrect"):
            if p[key] is not None:
                a = tok(p[key], add_special_tokens=False).input_ids
                row[key + "_ids"] = a
                row[key + "_single_token"] = len(a) == 1
        rows.append(row)
        ids_list.append(ids)
    n, width = len(ids_list), max(len(i) for i in ids_list)
    tokens = torch.zeros(n, width, dtype=torch.int64)
    lengths = torch.tensor([len(i) for i in ids_list], dtype=torch.int64)
    last = []
    with torch.no_grad():
        for i, ids in enumerate(ids_list):
            tokens[i, : len(ids)] = torch.tensor(ids)
            logits = model(torch.tensor([ids])).logits[0, -1].float()
            last.append(logits)
            rows[i]["top5_ids"] = torch.topk(logits, 5).indices.tolist()
            rows[i]["top5"] = [tok.decode([t]) for t in rows[i]["top5_ids"]]
            if rows[i].get("correct_ids"):
                c, w = rows[i]["correct_ids"][0], rows[i]["incorrect_ids"][0]
                rows[i]["logit_diff"] = float(logits[c] - logits[w])
            print(f"[smollm2] {rows[i]['kind']}: {len(ids)} tokens, top5 {rows[i]['top5']}, "
                  f"LD {rows[i].get('logit_diff')}")
    meta = {"gguf": SMOLLM2_FILE, "gguf_sha256": subprocess.run(
        ["sha256sum", str(path)], capture_output=True, text=True).stdout.split()[0],
        "loader": "transformers AutoModelForCausalLM.from_pretrained(dir, gguf_file=...), float32, eager",
        "tokens": "right-padded with 0; row i is valid for lengths[i] tokens", "versions": versions_string()}
    save_file({"tokens": tokens, "lengths": lengths, "last_logits": torch.stack(last).contiguous()},
              str(stage().out("reference/smollm2.gguf_ref.safetensors")), metadata=meta)
    with open(stage().out("reference/smollm2_prompts.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")



# --------------------------------------------------------------------------- per-head mean ablation

ABL_PROMPTS, ABL_LEN, ABL_SEED = 16, 10, 777


def _hf_with_z_override(model, tokens: torch.Tensor, layer: int, head: int | None, z_mean: torch.Tensor,
                        mlp: bool = False) -> torch.Tensor:
    """Independent HF path: the input of the attention output projection is the
    heads' z concatenated; overwrite one head's slice (or the MLP output)."""
    blocks = model.transformer.h if hasattr(model, "transformer") else model.model.layers
    blk = blocks[layer]
    if mlp:
        handle = blk.mlp.register_forward_hook(lambda m, i, o: z_mean.expand_as(o).clone())
    else:
        proj = blk.attn.c_proj if hasattr(blk, "attn") else blk.self_attn.o_proj
        d_head = z_mean.shape[-1]

        def pre(m, args):
            x = args[0].clone()
            x[..., head * d_head:(head + 1) * d_head] = z_mean[:, head, :].expand(x.shape[0], -1, -1)
            return (x,)

        handle = proj.register_forward_pre_hook(pre)
    try:
        with torch.no_grad():
            return model(tokens).logits[:, -1].float()
    finally:
        handle.remove()


def task_ablation(only: set[str] | None) -> None:
    for name in ("gpt2_tiny", "llama_gqa"):
        if only is not None and name not in only:
            continue
        model_dir = stage().find(f"models/{name}")
        g = torch.Generator().manual_seed(ABL_SEED)
        clean = torch.randint(0, VOCAB, (ABL_PROMPTS, ABL_LEN), generator=g, dtype=torch.int64)
        corrupt = torch.randint(0, VOCAB, (ABL_PROMPTS, ABL_LEN), generator=g, dtype=torch.int64)
        bridge = boot_bridge(model_dir)
        L, H = bridge.cfg.n_layers, bridge.cfg.n_heads
        rows = torch.arange(ABL_PROMPTS)
        with torch.no_grad():
            clean_logits, _ = bridge.run_with_cache(clean)
            clean_last = clean_logits[:, -1].float()
            # Answers: the clean model's top-1 token is "correct" (so LD_clean > 0),
            # a random other token is "incorrect".
            correct = clean_last.argmax(-1)
            incorrect = torch.randint(0, VOCAB - 1, (ABL_PROMPTS,), generator=g, dtype=torch.int64)
            incorrect = incorrect + (incorrect >= correct).long()
            _, corrupt_cache = bridge.run_with_cache(corrupt)
            corrupt_last = bridge(corrupt)[:, -1].float()

            def ld(last):
                return last[rows, correct] - last[rows, incorrect]

            ld_clean_pp = ld(clean_last)
            ld_clean = ld_clean_pp.mean()
            z_mean = torch.stack([corrupt_cache[f"blocks.{l}.attn.hook_z"].mean(0) for l in range(L)])
            mlp_mean = torch.stack([corrupt_cache[f"blocks.{l}.hook_mlp_out"].mean(0) for l in range(L)])
            head_ld_pp = torch.zeros(L, H, ABL_PROMPTS)
            mlp_ld_pp = torch.zeros(L, ABL_PROMPTS)
            hf = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32,
                                                      attn_implementation="eager").eval()
            worst = 0.0
            for l in range(L):
                for h in range(H):
                    def hook(z, hook, h=h, l=l):
                        z = z.clone()
                        z[:, :, h, :] = z_mean[l, :, h, :]
                        return z
                    out = bridge.run_with_hooks(clean, fwd_hooks=[(f"blocks.{l}.attn.hook_z", hook)])
                    head_ld_pp[l, h] = ld(out[:, -1].float())
                    check = ld(_hf_with_z_override(hf, clean, l, h, z_mean[l]))
                    worst = max(worst, (check - head_ld_pp[l, h]).abs().max().item())

                def mhook(x, hook, l=l):
                    return mlp_mean[l].expand_as(x).clone()
                out = bridge.run_with_hooks(clean, fwd_hooks=[(f"blocks.{l}.hook_mlp_out", mhook)])
                mlp_ld_pp[l] = ld(out[:, -1].float())
                check = ld(_hf_with_z_override(hf, clean, l, None, mlp_mean[l], mlp=True))
                worst = max(worst, (check - mlp_ld_pp[l]).abs().max().item())
        print(f"[{name}] mean ablation: LD_clean {ld_clean.item():.4f}; TL vs HF-hook max diff {worst:.2e}")
        if worst > TOLERANCE:
            raise SystemExit(f"[{name}] TransformerLens and HF mean-ablation logit differences disagree ({worst:.2e})")
        head_ld = head_ld_pp.mean(-1)
        mlp_ld = mlp_ld_pp.mean(-1)
        tensors = {
            "clean_tokens": clean, "corrupt_tokens": corrupt,
            "correct_ids": correct.contiguous(), "incorrect_ids": incorrect.contiguous(),
            "clean_logit_diff": ld_clean.reshape(1).float(),
            "clean_logit_diff_per_prompt": ld_clean_pp.float().contiguous(),
            "corrupt_logit_diff": ld(corrupt_last).mean().reshape(1).float(),
            "z_mean": z_mean.float().contiguous(),
            "mlp_out_mean": mlp_mean.float().contiguous(),
            "head_logit_diff": head_ld.contiguous(),
            "head_performance": (100.0 * head_ld / ld_clean).float().contiguous(),
            "head_logit_diff_per_prompt": head_ld_pp.contiguous(),
            "mlp_logit_diff": mlp_ld.contiguous(),
            "mlp_performance": (100.0 * mlp_ld / ld_clean).float().contiguous(),
            "mlp_logit_diff_per_prompt": mlp_ld_pp.contiguous(),
        }
        save_file(tensors, str(stage().out(f"reference/{name}.mean_ablation.safetensors")),
                  metadata={"model": name, "versions": versions_string(),
                            "definition": "see tests/reference/README.md (per-head mean ablation)"})
        print(f"[{name}] head performance (%):\n{tensors['head_performance']}\nmlp: {tensors['mlp_performance']}")


# --------------------------------------------------------------------------- main


def task_models(only: set[str] | None) -> None:
    tokens = fixed_tokens()

    def want(n):
        return only is None or n in only

    gpt2_tiny = build_gpt2(2, 4, 64, tied=True, seed=10)
    if want("gpt2_tiny"):
        d = save_model(gpt2_tiny, "gpt2_tiny")
        write_reference("gpt2_tiny", d, tokens, gpt2_tiny)
        hub = write_hub_layout(d, gpt2_tiny, "gpt2_tiny_hub")
        check_same_logits("gpt2_tiny_hub", hub, "gpt2_tiny", tokens)
        sh = save_model(gpt2_tiny, "gpt2_tiny_sharded", max_shard_size="200KB")
        shards = sorted(p.name for p in sh.glob("*.safetensors"))
        if len(shards) < 2 or not (sh / "model.safetensors.index.json").exists():
            raise SystemExit(f"gpt2_tiny_sharded: expected an index and 2+ shards, got {shards}")
        check_same_logits("gpt2_tiny_sharded", sh, "gpt2_tiny", tokens)
    # The dtype variants have no reference of their own: the loader tests compare
    # them with their float32 parents. gpt2_untied (f16) and llama_l3 (bf16) are
    # the models whose half-precision weights have full references.
    if want("gpt2_tiny_f16"):
        d = save_model(gpt2_tiny, "gpt2_tiny_f16", dtype=torch.float16)
        check_rounded_copy("gpt2_tiny_f16", d, stage().find("models/gpt2_tiny"), torch.float16)
        for ext in ("safetensors", "hooks.txt", "tl_config.json"):
            stage().remove(f"reference/gpt2_tiny_f16.{ext}")
    if want("gpt2_untied"):
        m = build_gpt2(3, 6, 96, tied=False, seed=20)
        d = save_model(m, "gpt2_untied", dtype=torch.float16)
        write_reference("gpt2_untied", d, tokens, m)
    llama_gqa = build_llama(2, 4, 2, 64, 128, tied=False, theta=10000.0, seed=30)
    if want("llama_gqa"):
        d = save_model(llama_gqa, "llama_gqa")
        write_reference("llama_gqa", d, tokens, llama_gqa)
    if want("llama_gqa_bf16"):
        d = save_model(llama_gqa, "llama_gqa_bf16", dtype=torch.bfloat16)
        check_rounded_copy("llama_gqa_bf16", d, stage().find("models/llama_gqa"), torch.bfloat16)
        for ext in ("safetensors", "hooks.txt", "tl_config.json"):
            stage().remove(f"reference/llama_gqa_bf16.{ext}")
    if want("llama_l3"):
        m = build_llama(3, 6, 6, 96, 160, tied=True, theta=500000.0, seed=40)
        d = save_model(m, "llama_l3", dtype=torch.bfloat16)
        write_reference("llama_l3", d, tokens, m)
    if want("qwen2_tiny"):
        m = build_qwen2(2, 4, 2, 64, 128, tied=True, theta=1000000.0, seed=50)
        d = save_model(m, "qwen2_tiny")
        write_reference("qwen2_tiny", d, tokens, m)
    if want("neox_tiny"):
        m = build_neox(2, 4, 64, 128, rotary_pct=0.25, seed=60)
        d = save_model(m, "neox_tiny")
        write_reference("neox_tiny", d, tokens, m)
    if want("gemma3_tiny"):
        m = build_gemma3(seed=70)
        d = save_model(m, "gemma3_tiny")
        write_reference("gemma3_tiny", d, gemma_tokens(), m)
    if want("gemma2_tiny"):
        m = build_gemma2(seed=80)
        d = save_model(m, "gemma2_tiny")
        write_reference("gemma2_tiny", d, gemma_tokens(), m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated model names (default: all)")
    ap.add_argument("--tasks", default="models,gguf,ablation,smollm2",
                    help="comma-separated subset of: models,gguf,ablation,smollm2 (default: all)")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    tasks = set(args.tasks.split(","))
    print(versions_string())
    global STAGE
    STAGE = Staging()
    try:
        if "models" in tasks:
            task_models(only)
        if "gguf" in tasks:
            task_gguf(fixed_tokens())
        if "ablation" in tasks:
            task_ablation(only)
        if "smollm2" in tasks:
            task_smollm2()
        print("all checks passed; moving the outputs into place:")
        STAGE.commit()
    finally:
        STAGE.cleanup()
    print_sizes()


def print_sizes() -> None:
    """The size budget: models plus the tiny models' own reference files."""
    def size(p: Path) -> int:
        return sum(q.stat().st_size for q in p.rglob("*") if q.is_file()) if p.is_dir() else p.stat().st_size

    models = size(MODELS) if MODELS.exists() else 0
    refs = sum(size(p) for n in ("gpt2_tiny", "gpt2_untied", "llama_gqa", "llama_l3", "qwen2_tiny", "neox_tiny",
                                         "gemma3_tiny", "gemma2_tiny")
               for p in REFERENCE.glob(f"{n}.*"))
    print(f"models {models} B + reference/{{gpt2_tiny,gpt2_untied,llama_gqa,llama_l3}}.* {refs} B "
          f"= {(models + refs) / 2**20:.2f} MiB (budget 8 MB)")
    du = subprocess.run(["du", "-sh", str(FIXTURES)], capture_output=True, text=True).stdout.strip()
    print("fixture size:", du)


if __name__ == "__main__":
    main()
