#!/usr/bin/env python3
"""Generates the tokenizer reference fixtures under tests/fixtures/tokenizers/.

Independent encoders: OpenAI's tiktoken (GPT-2 regex + ranks) and Hugging Face `tokenizers`.
Needs PyPI tiktoken and tokenizers; CI never runs this, it only reads the committed outputs.

Outputs:
  gpt2_edge_vectors.jsonl    {"text", "ids"} from tiktoken's GPT-2 encoder (built offline from
                             data/tokenizers/gpt2), texts chosen to stress the pre-tokenizer
                             (Unicode whitespace, numerals, marks, contractions, random strings);
                             every line is cross-checked against HF tokenizers' ByteLevel BPE.
  gpt2_digits_vectors.jsonl  {"text", "ids"} from HF tokenizers: GPT-2's vocab and merges with the
                             pre-tokenizer Sequence[Digits(individual_digits=True), ByteLevel].
  tiny_bytelevel/            a small byte-level BPE trained and saved by HF tokenizers
  tiny_digits/               the same with the Digits+ByteLevel pre-tokenizer, specials and a
                             tokenizer_config.json naming bos/eos
    (each with vectors.jsonl, encoded by HF with add_special_tokens=False)

Usage: python3 tests/reference/generate_tokenizer_fixtures.py   (from the repository root)
"""
import json
import os
import random

import tiktoken
import tiktoken.load
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GPT2 = os.path.join(ROOT, "data", "tokenizers", "gpt2")
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizers")
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")


def edge_texts():
    texts = [
        "",
        " ",
        "a",
        "\u180e x",  # Mongolian vowel separator: not White_Space since Unicode 6.3
        "a\u001cb\u001fc",  # information separators: not White_Space
        "line\u2028sep\u2029para",
        "nel\u0085x",
        "ideographic\u3000space",
        "thin\u2009space\u202fnarrow",
        "a" + " " * 50 + "b",
        " " * 40,
        "\t\t x\n\n\n  y",
        "x\u00b2\u00b3 \u00bd \u2167 \u0663\u0664 \u2460",  # No, Nl, Arabic-Indic Nd
        "e\u0301 cafe\u0301 n\u0303",  # combining marks
        "'S 'T ''s 'LL I'M you'RE",
        "it's' 's's",
        "\U0001F468\u200D\U0001F469\u200D\U0001F467 family",
        "\U0001F1FA\U0001F1F8 flags",
        "supercalifragilisticexpialidocious" * 3,
        "0" * 33,
        "1,234.56e-7 -42 +3",
        "tab\t\tend\t",
        "\r\n\r\n",
        "\u00a0\u00a0x",
        "ǅ ǈ ǋ title case",
        "ℌ𝔢𝔩𝔩𝔬 𝟙𝟚𝟛",
        "日本語のテキスト、句読点。",
        "한국어 텍스트",
        "עברית ومرحبا",
        "हिन्दी",
        "\u200b zero\u200bwidth",
        "\ufeffBOM",
        "~!@#$%^&*()_+`-=[]{}|;:,./<>?",
        " ?? !! ...",
    ]
    rng = random.Random(1234)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        " \t\n\r\u00a0\u2003\u3000\u0085\u2028",
        "'\"!?.,;:-_()[]{}<>/\\|@#$%^&*+=~`",
        "àéîõüßçñøåÆŒ",
        "αβγδεζηθΑΒΓΔ",
        "中文字符日本語한국",
        "\u0301\u0308\u0327",
        "²³½¼Ⅻ٣४",
        "🙂🚀👍🏽",
    ]
    words = ["s", "t", "re", "ve", "m", "ll", "d", "the", "in", "born"]
    for _ in range(150):
        n = rng.randint(1, 40)
        parts = []
        for _ in range(n):
            if rng.random() < 0.15:
                parts.append("'" + rng.choice(words))
            else:
                pool = rng.choice(pools)
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 5))))
        texts.append("".join(parts))
    return texts


def hf_gpt2(pre_tokenizer):
    vocab, merges = models.BPE.read_file(os.path.join(GPT2, "encoder.json"),
                                         os.path.join(GPT2, "vocab.bpe"))
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    return tok


def gpt2_edge():
    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(os.path.join(GPT2, "vocab.bpe"),
                                                          os.path.join(GPT2, "encoder.json"))
    enc = tiktoken.Encoding(name="gpt2_local", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                            special_tokens={"<|endoftext|>": 50256})
    hf = hf_gpt2(pre_tokenizers.ByteLevel(add_prefix_space=False))
    rows, disagreements = [], 0
    for text in edge_texts():
        ids = enc.encode_ordinary(text)
        if hf.encode(text, add_special_tokens=False).ids != ids:
            disagreements += 1
            print("tiktoken and HF disagree, dropped:", repr(text))
            continue
        rows.append({"text": text, "ids": ids})
    write_jsonl(os.path.join(OUT, "gpt2_edge_vectors.jsonl"), rows)
    print(f"gpt2_edge_vectors.jsonl: {len(rows)} rows ({disagreements} dropped)")


def digits_texts():
    return [
        "12345",
        " 5",
        "year 1174 to 11",
        "a 12 b 345 c",
        "x\u00b2 \u2167 \u0663\u0664",
        "3.14159",
        "$100,000!",
        "in  5",
        "abc123def",
        "1 2 3 4",
        "The war lasted from the year 1174 to the year 11",
    ] + edge_texts()[1:60]


def gpt2_digits():
    hf = hf_gpt2(pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                          pre_tokenizers.ByteLevel(add_prefix_space=False)]))
    rows = [{"text": t, "ids": hf.encode(t, add_special_tokens=False).ids} for t in digits_texts()]
    write_jsonl(os.path.join(OUT, "gpt2_digits_vectors.jsonl"), rows)
    print(f"gpt2_digits_vectors.jsonl: {len(rows)} rows")


CORPUS = [
    "The war lasted from the year 1174 to the year 1189.",
    "Mary was born in March. John was born in April. Rose was born in May.",
    "one two three four five six seven eight nine ten eleven twelve",
    "January February March April May June July August September October November December",
    "don't I'll we've they're he'd — café naïve 中文 🙂",
    "def f(x):\n    return x * 2\n",
] * 20


def tiny(name, pre_tokenizer, specials, config):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    if config:
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(config, f, indent=2)
    texts = digits_texts() + [line for line in CORPUS[:6]]
    rows = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts]
    write_jsonl(os.path.join(d, "vectors.jsonl"), rows)
    print(f"{name}: vocab {tok.get_vocab_size()}, {len(rows)} rows")


def main():
    os.makedirs(OUT, exist_ok=True)
    gpt2_edge()
    gpt2_digits()
    tiny("tiny_bytelevel", pre_tokenizers.ByteLevel(add_prefix_space=False), ["<|endoftext|>"],
         None)
    tiny("tiny_digits",
         pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                  pre_tokenizers.ByteLevel(add_prefix_space=False)]),
         ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
         {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"})


if __name__ == "__main__":
    main()
