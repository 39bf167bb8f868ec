"""The Chinese NER model alone, without the rules around it: overlap recall and precision of its best labelling on
the dev set's ccf and weibo texts (PERSON from ``PER``; ADDRESS from ``ADR`` and ``LOC``), and its speed. For
comparing trained models (``make train-ner`` variants) before they meet the recognizer.

usage: python bench/eval_model.py [MODEL ...] [--data FILE]   (default: the shipped model)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: dev-set (set, type) -> the model labels that count for it
TARGETS = {("ccf", "PERSON"): {"PER"}, ("weibo", "PERSON"): {"PER"}, ("ccf", "ADDRESS"): {"ADR", "LOC"}}


def main() -> None:
    from transforms import ner
    from transforms.recognizers.base import jieba_words

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path, default=[ner.MODEL_PATH])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "dev.jsonl")
    args = ap.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"eval_model: no dev set at {args.data}")
    records = [r for r in map(json.loads, args.data.open(encoding="utf-8")) if r["set"] in ("ccf", "weibo")]
    texts = [ner.simplified(r["text"]) for r in records]
    words = [jieba_words(t) for t in texts]
    from transforms.recognizers.cn_address_recognizer import address_candidates
    from transforms.recognizers.person_recognizer import chinese_name_candidates

    for path in args.models:
        model = ner.NerModel(path)
        chinese_name_candidates.cache_clear()  # the rules' proposals (features) are remembered per text: each
        address_candidates.cache_clear()  # model is timed computing them, as it would on texts it has not seen
        t0 = time.perf_counter()
        found = [model.spans(t, w) for t, w in zip(texts, words)]
        seconds = time.perf_counter() - t0
        row = {"model": str(path), "bytes": path.stat().st_size,
               "chars_per_s": int(sum(map(len, texts)) / seconds)}
        for (name, kind), labels in TARGETS.items():
            gold = pred = gold_hit = pred_hit = 0
            for r, spans in zip(records, found):
                if r["set"] != name:
                    continue
                g = [(s["start"], s["end"]) for s in r["spans"] if s["type"] == kind]
                p = [(s.start, s.end) for s in spans if s.label in labels]
                gold, pred = gold + len(g), pred + len(p)
                gold_hit += sum(any(a < d and c < b for c, d in p) for a, b in g)
                pred_hit += sum(any(a < d and c < b for c, d in g) for a, b in p)
            row[f"{name}_{kind}"] = {"recall": round(gold_hit / max(gold, 1), 3),
                                     "precision": round(pred_hit / max(pred, 1), 3)}
        print(json.dumps(row))


if __name__ == "__main__":
    main()
