"""Cross-validation of piiflow's Chinese NER model over ``ner-corpus``: the figures that say whether a feature or a
reader carries over to text it was not fitted to, beside the dev set's.

The corpus's records are split into ``--folds`` folds by a hash of their id (the same split every run). For each
fold, each feature set (``base``: the model without LAC; ``lac``: with LAC's per-character tags) is trained on the
other folds and read on this one; LAC alone (its ``PER`` words) is read too. Figures are overlap recall and
precision (as ``bench/eval_model.py``): PERSON per corpus group (``clue``: CLUENER and CCF, business and web text;
``weibo``; ``news``: People's Daily and MSRA) and ADDRESS on ``clue`` (ADR and LOC spans), at two operating points:

* ``best``: the model's best labelling (what the balanced point mostly reports);
* ``release``: best labelling plus every run of characters at least 0.3 likely (the recall-first point), and for
  ``+lac`` rows LAC's names added (the release engine's union).

Prints one JSON line per (fold, reader) and a final line of means. Trainings run ``--jobs`` at a time; each takes
several minutes at the default iterations (fewer, ``--max-iterations 60``, ranks feature sets the same way faster).

usage: python bench/cv_ner.py [--folds 3] [--jobs 2] [--max-iterations 100] [--sets base,lac] [--limit N]
                              [--workdir DIR] [--ensemble]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GROUP = {"cluener2020-train": "clue", "ccf-bdci2020": "clue", "weibo-train": "weibo", "peoples-daily-dev": "news",
         "peoples-daily-test": "news", "msra-val": "news", "msra-test": "news"}
#: (group, gold type) -> model labels that count for it
TARGETS = {("clue", "PERSON"): {"PER"}, ("weibo", "PERSON"): {"PER"}, ("news", "PERSON"): {"PER"},
           ("clue", "ADDRESS"): {"ADR", "LOC"}}
RELEASE_FLOOR = 0.3


def fold_of(rec: dict, folds: int) -> int:
    return zlib.crc32(rec["id"].encode()) % folds


def score(records, predicted) -> dict:
    """Overlap recall and precision per target; ``predicted`` holds per record a list of (label, start, end)."""
    out = {}
    for (group, kind), labels in TARGETS.items():
        gold = pred = gold_hit = pred_hit = 0
        for r, spans in zip(records, predicted):
            if GROUP[r["source"]] != group:
                continue
            g = [(s["start"], s["end"]) for s in r["spans"] if s["type"] == kind
                 or (kind == "ADDRESS" and s["type"] == "SCENE")]
            p = [(a, b) for lab, a, b in spans if lab in labels]
            gold, pred = gold + len(g), pred + len(p)
            gold_hit += sum(any(a < d and c < b for c, d in p) for a, b in g)
            pred_hit += sum(any(a < d and c < b for c, d in g) for a, b in p)
        out[f"{group}_{kind}"] = [round(gold_hit / max(gold, 1), 3), round(pred_hit / max(pred, 1), 3)]
    return out


def run_fold(job: tuple) -> list[dict]:
    """Train feature set ``name`` on every fold but ``k`` and read fold ``k``."""
    name, k, folds, corpus, lac_cache, iterations, workdir = job
    from flows.train_ner import train
    from transforms import ner

    lac_tags = None
    if name == "lac":
        cache = pickle.loads(Path(lac_cache).read_bytes())
        lac_tags = cache.__getitem__
    else:
        cache = pickle.loads(Path(lac_cache).read_bytes()) if lac_cache else {}
    recs = corpus
    model_path = Path(workdir) / f"{name}-{k}.crfsuite"
    stats = {"train_s": None}
    if not model_path.is_file():  # (a --workdir of an earlier run keeps its models)
        stats = train([r for r in recs if fold_of(r, folds) != k], model_path,
                      params={"max_iterations": iterations}, lac_tags=lac_tags or (lambda t: None))
    held = [r for r in recs if fold_of(r, folds) == k]
    best, release = read_fold(model_path, name == "lac", held, cache)
    rows = [{"fold": k, "reader": name, "point": "best", **score(held, best), "train_s": stats["train_s"]},
            {"fold": k, "reader": name, "point": "release", **score(held, release)}]
    if cache:
        lac_names = [[("PER", s, e) for s, e, t in _words(cache[ner.simplified(r["text"])]) if t == "PER"]
                     for r in held]
        rows.append({"fold": k, "reader": name + "+lac", "point": "release",
                     **score(held, [a + b for a, b in zip(release, lac_names)])})
        if name == "base":
            rows.append({"fold": k, "reader": "lac-alone", "point": "best", **score(held, lac_names)})
    return rows


def read_fold(model_path: Path, lac: bool, held: list[dict], cache: dict) -> tuple[list, list]:
    """Per held-out record, the model's best labelling and its release reading (best labelling plus every run of
    characters at least ``RELEASE_FLOOR`` likely), as (label, start, end) lists."""
    from transforms import ner
    from transforms.recognizers.base import jieba_words

    model = ner.NerModel(model_path, lac=lac)
    best, release = [], []
    for r in held:
        text = ner.simplified(r["text"])
        tagging = model.tag(text, jieba_words(text), ("PER", "ADR", "LOC"), cache.get(text) if lac else None)
        spans = [(s.label, s.start, s.end) for s in tagging.spans]
        best.append(spans)
        release.append(spans + [(s.label, s.start, s.end) for lab in ("PER", "ADR", "LOC")
                                for s in tagging.candidates(lab, RELEASE_FLOOR)])
    return best, release


def ensemble_fold(job: tuple) -> dict:
    """Fold ``k`` read by both trained models and LAC together (the union of their release readings)."""
    k, folds, corpus, lac_cache, workdir = job
    from transforms import ner

    cache = pickle.loads(Path(lac_cache).read_bytes())
    held = [r for r in corpus if fold_of(r, folds) == k]
    _, base = read_fold(Path(workdir) / f"base-{k}.crfsuite", False, held, cache)
    _, with_lac = read_fold(Path(workdir) / f"lac-{k}.crfsuite", True, held, cache)
    names = [[("PER", s, e) for s, e, t in _words(cache[ner.simplified(r["text"])]) if t == "PER"] for r in held]
    return {"fold": k, "reader": "base+lac-model+lac", "point": "release",
            **score(held, [a + b + c for a, b, c in zip(base, with_lac, names)])}


def _words(tags: list[str]):
    """(start, end, tag) words back from per-character ``B-``/``I-`` tags."""
    out = []
    for i, t in enumerate(tags):
        pos, _, tag = t.partition("-")
        if pos == "B" or not out:
            out.append([i, i + 1, tag])
        else:
            out[-1][1] = i + 1
    return [tuple(w) for w in out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "ner-corpus" / "train.jsonl")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--max-iterations", type=int, default=100)
    ap.add_argument("--sets", default="base,lac")
    ap.add_argument("--only-fold", type=int, default=None, help="run one fold only (quicker, less certain)")
    ap.add_argument("--limit", type=int, default=None, help="the first N records only (a smoke test)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where fold models go (default: a new temporary folder); models already there are reused")
    ap.add_argument("--ensemble", action="store_true",
                    help="also read each fold with both feature sets' models and LAC together")
    args = ap.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"cv_ner: no corpus at {args.corpus}")
    from flows.train_ner import records
    from transforms import lac, ner

    corpus = list(records(args.corpus.open(encoding="utf-8"), args.limit))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="piiflow-cv-"))
    work.mkdir(parents=True, exist_ok=True)
    cache_path = work / "lac.pickle"
    if not cache_path.is_file():
        cache = {}
        for r in corpus:
            text = ner.simplified(r["text"])
            if text not in cache:
                cache[text] = lac.tags(text)
        cache_path.write_bytes(pickle.dumps(cache))
    folds = [args.only_fold] if args.only_fold is not None else range(args.folds)
    jobs = [(name, k, args.folds, corpus, str(cache_path), args.max_iterations, str(work))
            for name in args.sets.split(",") for k in folds]
    rows = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for out in pool.map(run_fold, jobs):
            for row in out:
                print(json.dumps(row), flush=True)
                rows.append(row)
        if args.ensemble:
            for row in pool.map(ensemble_fold, [(k, args.folds, corpus, str(cache_path), str(work)) for k in folds]):
                print(json.dumps(row), flush=True)
                rows.append(row)
    means = {}
    for row in rows:
        key = row["reader"] + "@" + row["point"]
        for t, v in row.items():
            if isinstance(v, list):
                means.setdefault(key, {}).setdefault(t, []).append(v)
    print(json.dumps({"mean": {key: {t: [round(sum(x[i] for x in vs) / len(vs), 3) for i in (0, 1)]
                                     for t, vs in m.items()} for key, m in means.items()}}))


if __name__ == "__main__":
    main()
