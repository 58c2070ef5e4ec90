#!/usr/bin/env python3
"""Writes tests/fixtures/ggml_quants/quant_vectors.gguf: random ggml blocks and their values as
decoded by the PyPI `gguf` package (gguf.quants.dequantize), the independent reference for
workers/io/ggml_quants.cpp, plus one metadata value of every GGUF type for the reader's tests.

For every type T in F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 the file holds
  "<T>.raw"       the packed bytes, stored with ggml type T, shape [3, 64] (6 blocks of 32)
  "<T>.expected"  float32 [3, 64] = gguf.quants.dequantize(raw bytes, T)
and for every K-quant T in Q2_K, Q3_K, Q4_K, Q5_K, Q6_K the same with shape [2, 1024] (8
super-blocks of 256). Q8_K (ggml's dot-product intermediate) has no dequantiser in gguf-py, so
only "Q8_K.raw" is written; its test decodes it from ggml's definition (x = d * q) by hand.
Block scales are random fp16 values (normal, subnormal, negative, zero); quant bytes are uniform
random, so every nibble/bit pattern occurs. Float types use random bit patterns without NaN
(NaN != NaN would make an equality test meaningless) but with infinities and subnormals.

It also writes the seed corpus of the GGUF fuzz target, tests/fuzz/corpus/gguf/: a copy of that
file, a small llama-like file (tokenizer arrays, F32/F16/Q8_0/Q4_1 tensors, alignment 64) and a
version-2 file without tensors.

Usage: python3 tests/reference/generate_gguf_quant_vectors.py   (needs numpy + gguf from PyPI)
"""
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.constants import GGML_QUANT_SIZES

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "ggml_quants" / "quant_vectors.gguf"
CORPUS = ROOT / "tests" / "fuzz" / "corpus" / "gguf"
ROWS, COLS = 3, 64
SEED = 20240611


def random_scales(rng: np.random.Generator, n: int) -> np.ndarray:
    """fp16 block scales: mostly ordinary magnitudes, with a few edge cases mixed in."""
    d = (rng.standard_normal(n) * 0.05).astype(np.float16)
    d[0] = np.float16(0.0)
    d[1] = np.float16(-0.0375)
    if n > 2:
        d[2] = np.frombuffer(np.uint16(0x0003).tobytes(), dtype=np.float16)[0]  # subnormal
    return d


def packed_blocks(rng: np.random.Generator, qtype: Q) -> np.ndarray:
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    n_blocks = ROWS * COLS // block_size
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    n_scales = {Q.Q8_0: 1, Q.Q4_0: 1, Q.Q5_0: 1, Q.Q4_1: 2, Q.Q5_1: 2}[qtype]
    for s in range(n_scales):  # d (and m) are the leading fp16 fields of every block
        raw[:, 2 * s:2 * s + 2] = random_scales(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(ROWS, COLS // block_size * type_size)


# Byte offsets of the fp16 scale fields (d, then dmin where present) inside each K-quant block
# (ggml-common.h); every other byte is uniform random so every bit pattern occurs.
K_SCALE_OFFSETS = {Q.Q2_K: (80, 82), Q.Q3_K: (108,), Q.Q4_K: (0, 2), Q.Q5_K: (0, 2), Q.Q6_K: (208,)}
K_ROWS, K_COLS = 2, 1024


def packed_k_blocks(rng: np.random.Generator, qtype: Q) -> np.ndarray:
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    n_blocks = K_ROWS * K_COLS // block_size
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    if qtype == Q.Q8_K:  # float32 d at offset 0
        raw[:, 0:4] = (rng.standard_normal(n_blocks) * 0.01).astype(np.float32).view(np.uint8).reshape(n_blocks, 4)
    else:
        for off in K_SCALE_OFFSETS[qtype]:
            raw[:, off:off + 2] = random_scales(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(K_ROWS, K_COLS // block_size * type_size)


def float_bits(rng: np.random.Generator, qtype: Q) -> np.ndarray:
    if qtype == Q.F32:
        x = (rng.standard_normal(ROWS * COLS) * 3).astype(np.float32)
        x[:4] = [np.inf, -np.inf, 1e-42, -0.0]  # subnormal float32 too
        return x.reshape(ROWS, COLS)
    bits = rng.integers(0, 1 << 16, size=ROWS * COLS, dtype=np.uint32).astype(np.uint16)
    if qtype == Q.F16:
        nan = (bits & 0x7C00) == 0x7C00
        nan &= (bits & 0x03FF) != 0
        bits[nan] &= 0x83FF  # exponent 0: becomes a subnormal
        bits[:3] = [0x7C00, 0xFC00, 0x0001]
    else:  # BF16
        nan = ((bits & 0x7F80) == 0x7F80) & ((bits & 0x007F) != 0)
        bits[nan] &= 0x807F
        bits[:3] = [0x7F80, 0xFF80, 0x0001]
    return bits.reshape(ROWS, COLS)


def main() -> None:
    rng = np.random.default_rng(SEED)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(OUT), arch="quanttest")
    # One value of every metadata type (the reader test checks these literals).
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.15625)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo, GGUF")
    w.add_uint64("test.u64", 1 << 40)
    w.add_int64("test.i64", -(1 << 40))
    w.add_float64("test.f64", -2.5e-300)
    w.add_array("test.strings", ["a", "", "Ġthe"])
    w.add_array("test.ints", [1, -2, 3])
    w.add_array("test.floats", [0.5, -1.25])
    w.add_array("test.nested", [[1, 2], [3]])

    for qtype in (Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1):
        if qtype in (Q.F32, Q.F16, Q.BF16):
            data = float_bits(rng, qtype)
            raw = data.view(np.uint8).reshape(ROWS, -1) if qtype != Q.F32 else data
        else:
            raw = packed_blocks(rng, qtype)
        expected = gguf.quants.dequantize(raw.view(np.uint8) if qtype != Q.F32 else raw, qtype)
        expected = np.asarray(expected, dtype=np.float32).reshape(ROWS, COLS)
        assert not np.isnan(expected).any(), qtype.name
        if qtype == Q.F32:
            w.add_tensor(f"{qtype.name}.raw", raw)
        else:
            w.add_tensor(f"{qtype.name}.raw", raw.view(np.uint8), raw_dtype=qtype)
        w.add_tensor(f"{qtype.name}.expected", expected)

    # K-quants come after the older types so their random streams (and vectors) are unchanged.
    for qtype in (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K, Q.Q8_K):
        raw = packed_k_blocks(rng, qtype)
        w.add_tensor(f"{qtype.name}.raw", raw, raw_dtype=qtype)
        if qtype == Q.Q8_K:
            continue
        expected = np.asarray(gguf.quants.dequantize(raw, qtype), dtype=np.float32)
        expected = expected.reshape(K_ROWS, K_COLS)
        assert not np.isnan(expected).any(), qtype.name
        w.add_tensor(f"{qtype.name}.expected", expected)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes) with gguf {gguf.__name__} "
          f"{__import__('importlib.metadata').metadata.version('gguf')}")


def write_fuzz_corpus() -> None:
    CORPUS.mkdir(parents=True, exist_ok=True)
    (CORPUS / "quant_vectors.gguf").write_bytes(OUT.read_bytes())

    rng = np.random.default_rng(SEED + 1)
    path = CORPUS / "llama_small.gguf"
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_custom_alignment(64)
    w.add_block_count(1)
    w.add_context_length(16)
    w.add_embedding_length(32)
    w.add_feed_forward_length(64)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(["a", "b", "ab", "<|endoftext|>"])
    w.add_token_types([1, 1, 1, 3])
    w.add_token_merges(["a b"])
    w.add_bos_token_id(3)
    w.add_eos_token_id(3)
    w.add_tensor("output_norm.weight", np.ones(32, dtype=np.float32))
    w.add_tensor("blk.0.attn_q.weight", rng.standard_normal((32, 32)).astype(np.float16))
    for name, qt in (("blk.0.attn_k.weight", Q.Q8_0), ("blk.0.attn_v.weight", Q.Q4_1)):
        data = rng.standard_normal((16, 32)).astype(np.float32)
        w.add_tensor(name, gguf.quants.quantize(data, qt), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    path = CORPUS / "v2_metadata_only.gguf"
    w = gguf.GGUFWriter(str(path), arch="gpt2")
    w.add_block_count(2)
    w.add_array("test.nested", [[1, 2], [3]])
    w.add_array("test.floats", [0.5, -1.25])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    b = bytearray(path.read_bytes())
    b[4:8] = (2).to_bytes(4, "little")  # v2 and v3 share the layout (v3 added big-endian files)
    path.write_bytes(bytes(b))
    print(f"wrote {len(list(CORPUS.iterdir()))} seeds to {CORPUS}")


if __name__ == "__main__":
    main()
    write_fuzz_corpus()
