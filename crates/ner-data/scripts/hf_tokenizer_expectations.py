#!/usr/bin/env python3
"""Writes tests/data/hf_bert_tokens.json: what HF's BertTokenizer makes of tricky strings with the
committed BERT-Chinese vocab, so the Rust tokenizer can be checked against it without Python.

Run by hand (needs transformers), from the repository root:
    .venv/bin/python crates/ner-data/scripts/hf_tokenizer_expectations.py
"""
import json
import pathlib
import shutil
import tempfile

import transformers
from transformers import BertTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[3]
VOCAB = ROOT / "albert_config" / "vocab.txt"
OUT = ROOT / "crates" / "ner-data" / "tests" / "data" / "hf_bert_tokens.json"

CASES = [
    "中华人民共和国",
    "iPhone6s发布了",
    "2008年北京奥运会",
    "Hello, World!",
    "ＡＢＣ１２３ａｂｃ",
    "ＣＳＯＬ生化狂潮",
    "（全角）“引号”，。！？",
    "café naïve Ångström",
    "un\u00adbreak",
    "tab\tand  spaces\u3000ideographic",
    "email: foo.bar@example.com",
    "3.14159%",
    "antidisestablishmentarianism",
    "x" * 101,
    "Ｈｅｌｌｏ",
    "😀表情☃符号",
    "日本語ひらがなカタカナ한국어",
    "ｰ｡ﾞ",
    "A-B_C/D",
    "𠀀𪚥",
]

def main():
    # transformers 5 loads the vocabulary through from_pretrained on a directory holding vocab.txt.
    d = tempfile.mkdtemp()
    shutil.copy(VOCAB, d)
    cases = []
    for lower in (True, False):
        tok = BertTokenizer.from_pretrained(d, do_lower_case=lower)
        for text in CASES:
            pieces = tok.tokenize(text)
            ids = tok.convert_tokens_to_ids(pieces)
            cases.append({"text": text, "do_lower_case": lower, "pieces": pieces, "ids": ids})
    shutil.rmtree(d)
    OUT.write_text(json.dumps({"transformers": transformers.__version__, "cases": cases},
                              ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT}")

if __name__ == "__main__":
    main()
