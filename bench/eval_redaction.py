"""What survives release redaction: the share of the dev set's gold PERSON and ADDRESS spans (Chinese sets) that no
finding redacted by the release engine (the recall-first ``release_score_threshold``) overlaps.

A bare country or city (北京, 日本: :func:`~transforms.recognizers.cn_ner_recognizer.is_bare_place`) is reported as a
LOCATION and by design not redacted, so ADDRESS is given twice: over every gold span, and over the spans that are
not bare places. Reads ``../shared/eval/dev.jsonl`` (never shipped, never trained on); prints JSON lines.

usage: python bench/eval_redaction.py [--data FILE] [--threshold SCORE] [--show PERSON|ADDRESS]
(``--show`` prints each surviving span in a window of its text, for reading the misses: dev-set text, so only on
your own terminal.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.runtime import configure_prefect_env  # noqa: E402

configure_prefect_env()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "dev.jsonl")
    ap.add_argument("--threshold", type=float, default=None, help="default: the release_score_threshold setting")
    ap.add_argument("--show", choices=("PERSON", "ADDRESS"), default=None)
    args = ap.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"eval_redaction: no dev set at {args.data}")

    from configs.settings import Settings
    from transforms.detection import NOT_REDACTED, build_analyzer, detect
    from transforms.ner import simplified
    from transforms.recognizers.cn_ner_recognizer import is_bare_place

    settings = Settings()
    threshold = settings.release_score_threshold if args.threshold is None else args.threshold
    engine = build_analyzer(settings, threshold=threshold)
    stats: dict[tuple[str, str], list[int]] = {}
    for line in args.data.open(encoding="utf-8"):
        r = json.loads(line)
        if r.get("lang") != "zh":
            continue
        text = r["text"]
        redacted = [f for f in detect(engine, text) if f.type not in NOT_REDACTED]
        for s in r["spans"]:
            if s["type"] not in ("PERSON", "ADDRESS"):
                continue
            survives = not any(f.start < s["end"] and s["start"] < f.end for f in redacted)
            # judged as the recognizer judges it: traditional characters read as simplified (台灣 is 台湾)
            bare = s["type"] == "ADDRESS" and is_bare_place(simplified(text[s["start"]:s["end"]]))
            n = stats.setdefault((r["set"], s["type"]), [0, 0, 0, 0])
            n[0] += 1
            n[1] += survives
            n[2] += bare
            n[3] += survives and bare
            if survives and not bare and args.show == s["type"]:
                print(f"  {r['id']}: {text[max(0, s['start'] - 12):s['start']]}[{text[s['start']:s['end']]}]"
                      f"{text[s['end']:s['end'] + 8]}", file=sys.stderr)
    for (name, kind), (gold, survived, bare, bare_survived) in sorted(stats.items()):
        row = {"set": name, "type": kind, "threshold": threshold, "gold": gold, "survive": round(survived / gold, 3)}
        if kind == "ADDRESS":
            row |= {"bare_places": bare,
                    "survive_not_bare": round((survived - bare_survived) / max(gold - bare, 1), 3)}
        print(json.dumps(row))


if __name__ == "__main__":
    main()
