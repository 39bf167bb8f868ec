"""Train piiflow's Chinese NER models (``make train-ner``):
``python -m flows.train_ner [--corpus FILE] [--features lac|base] [--out FILE]``.

Reads the labelled corpus (JSONL: ``{"source", "text", "spans": [{"type", "start", "end"}]}``, by default
``../shared/ner-corpus/train.jsonl``), maps each source's types to the model's labels
(:data:`transforms.ner.LABEL_MAP`), trains a CRF with CRFsuite's L-BFGS and writes the model atomically (by default
over the shipped ``transforms/models/zh_ner.crfsuite``). Training is deterministic: the same corpus and parameters
give the same model. It prints one JSON line: records, characters, labels, seconds, model size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from transforms import ner

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "ner-corpus" / "train.jsonl"
#: CRFsuite parameters: L1 keeps the model small (most character n-grams get weight 0), L2 smooths the rest.
PARAMS = {"c1": 0.05, "c2": 0.01, "max_iterations": 150, "feature.possible_transitions": True,
          "feature.minfreq": 2}

#: How many times each source's records count. CLUENER and CCF are business and web text like the company's: three
#: times (twice gave ccf PERSON 0.819 / 0.781 and Weibo 0.812 / 0.673 on the dev set, three times 0.832 / 0.794 and
#: 0.835 / 0.708; Weibo's own records three times helped Weibo alone).
SOURCE_WEIGHT = {"cluener2020-train": 3, "ccf-bdci2020": 3}


def records(lines, limit: int | None = None):
    """The corpus's records (dicts) whose source the model learns from, the first ``limit`` of them if given."""
    seen = 0
    for line in lines:
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec.get("source", "") not in ner.SOURCE_KIND:
            continue
        yield rec
        seen += 1
        if limit is not None and seen >= limit:
            return


def example(rec: dict, lac_tags=None) -> tuple[list[list[str]], list[str]]:
    """(features, labels) of one record, read as the recognizer reads texts; ``lac_tags(text)`` gives LAC's
    reading when the model learns from it (:data:`transforms.ner.LAC_FEATURES`)."""
    from transforms.recognizers.base import jieba_words

    mapping = ner.LABEL_MAP[ner.SOURCE_KIND[rec["source"]]]
    text = ner.simplified(rec["text"])  # as the recognizer reads texts (same length, same offsets)
    spans = sorted((mapping[s["type"]], s["start"], s["end"]) for s in rec["spans"] if s["type"] in mapping)
    lac = lac_tags(text) if lac_tags is not None else None
    return ner.features(text, jieba_words(text), ner.rule_hints(text), lac), ner.bio(text, spans)


def examples(recs, lac_tags=None):
    """(features, labels) of every piece of every record, each record as many times as its source weighs."""
    for rec in recs:
        feats, labels = example(rec, lac_tags)
        for _ in range(SOURCE_WEIGHT.get(rec["source"], 1)):
            for start, end in ner.chunks(rec["text"]):
                yield feats[start:end], labels[start:end]


def train(recs, out: Path, *, params: dict | None = None, lac_tags=None) -> dict:
    """Train on ``recs`` and write the model to ``out`` atomically; ``lac_tags`` as for :func:`example` (by default
    :func:`transforms.lac.tags`: the shipped model reads LAC; pass ``lambda text: None`` for a model without it,
    such as the release engine's second one)."""
    import pycrfsuite

    if lac_tags is None:
        from transforms import lac

        lac_tags = lac.tags
    t0 = time.perf_counter()
    trainer = pycrfsuite.Trainer(verbose=False)
    trainer.set_params({**PARAMS, **(params or {})})
    chars = sequences = 0
    for x, y in examples(recs, lac_tags):
        trainer.append(x, y)
        chars += len(y)
        sequences += 1
    if not sequences:
        raise SystemExit("train-ner: no usable records")
    t1 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        trainer.train(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"sequences": sequences, "chars": chars, "features_s": round(t1 - t0, 1),
            "train_s": round(time.perf_counter() - t1, 1), "model_bytes": out.stat().st_size,
            "iterations": trainer.logparser.last_iteration and trainer.logparser.last_iteration.get("num")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.train_ner", description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="labelled JSONL (default: %(default)s)")
    p.add_argument("--features", choices=("lac", "base"), default="lac",
                   help="lac: with LAC's tags, the shipped model; base: without them, the release engine's second "
                        "model (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None,
                   help=f"model file to write (default: {ner.MODEL_PATH} for lac, {ner.RECALL_MODEL_PATH} for base)")
    p.add_argument("--limit", type=int, default=None, help="train on the first N records only (a smoke test)")
    p.add_argument("--max-iterations", type=int, default=PARAMS["max_iterations"])
    a = p.parse_args(argv)
    if not a.corpus.is_file():
        print(f"train-ner: corpus not found: {a.corpus}", file=sys.stderr)
        return 2
    out = a.out or (ner.MODEL_PATH if a.features == "lac" else ner.RECALL_MODEL_PATH)
    with open(a.corpus, encoding="utf-8") as fh:
        print(json.dumps(train(records(fh, a.limit), out, params={"max_iterations": a.max_iterations},
                               lac_tags=None if a.features == "lac" else (lambda text: None))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
