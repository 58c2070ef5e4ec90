#!/usr/bin/env python3
"""Reference logits of the committed default model (models/default) from Hugging Face transformers.

Writes tests/fixtures/default_model_logits.json: for a few prompts, the token ids that HF's
GPT2Tokenizer gives (with <|endoftext|> prepended as BOS) and the float32 logits at the last position
from GPT2LMHeadModel (eager attention). Checked by tests/unit/workers/train/test_gpt2_train.cpp.
Needs the PyPI torch + transformers interpreter; rerun after retraining the default model.
"""
import json
import os

import torch
from transformers import GPT2LMHeadModel, GPT2Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models", "default")
OUT = os.path.join(ROOT, "tests", "fixtures", "default_model_logits.json")

PROMPTS = [
    "apple done in 1. table done in 2. chair done in 3. book done in 4. car done in",
    "John lost in three. Mary lost in four. James lost in five. Anna lost in six. David lost in",
    "bag born in March. cup born in April. hat born in May. key born in June. pen born in",
    "ring done in Friday. tree done in Thursday. fish done in Wednesday. lamp done in",
    "shoe lost in 7. coin lost in 2. gift lost in 11. map lost in 5. rock lost in",
    "zebra quartz 42 !?",  # words outside the training vocabulary fall back to bytes
]


def main():
    torch.manual_seed(0)
    tok = GPT2Tokenizer(os.path.join(MODEL, "vocab.json"), os.path.join(MODEL, "merges.txt"))
    model = GPT2LMHeadModel.from_pretrained(MODEL, attn_implementation="eager").eval()
    bos = tok.convert_tokens_to_ids("<|endoftext|>")
    rows = []
    for text in PROMPTS:
        ids = [bos] + tok.encode(text)
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1].float()
        rows.append({"text": text, "ids": ids, "top1": int(logits.argmax()),
                     "top1_text": tok.decode([int(logits.argmax())]),
                     "last_logits": [round(float(x), 6) for x in logits]})
        print(f"{text!r}: top-1 {rows[-1]['top1_text']!r}")
    with open(OUT, "w") as f:
        json.dump({"model": "models/default", "generator": "tests/reference/default_model_logits.py",
                   "prompts": rows}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
