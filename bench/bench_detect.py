"""Free-text detection: `piiflow detect`'s engine against Presidio's AnalyzerEngine with its predefined
recognizers, on the same generated texts (chat messages and search queries with planted identifiers), same run.

Both engines run on a blank spaCy pipeline (nothing downloaded). Prints one JSON line: characters per second of
each, planted identifiers found by each (any finding overlapping the planted span), and the speed ratio.
usage: python bench/bench_detect.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.runtime import configure_prefect_env  # noqa: E402

configure_prefect_env()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_DETECT_ROWS", 20_000)))
    args = ap.parse_args()

    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    from transforms import synth
    from transforms.detection import BlankSpacyNlpEngine, build_analyzer, detect

    spec = synth.LakeSpec(seed=8, rows=args.rows, start=date(2026, 10, 1), end=date(2026, 10, 1))
    pop = synth.Population(spec)
    chunk = synth.chat_messages(spec, pop, spec.start, args.rows)
    texts = chunk.table.column("text").to_pylist()
    keys = chunk.table.column("msg_id").to_pylist()
    truth: dict[str, list[tuple[int, int]]] = {}
    for r in chunk.truth.to_pylist():
        if r["start"] is not None:
            truth.setdefault(r["row_key"], []).append((r["start"], r["end"]))
    chars = sum(len(t) for t in texts)

    mine = build_analyzer()
    t0 = time.perf_counter()
    found_mine = [[(f.start, f.end) for f in detect(mine, t)] for t in texts]
    mine_s = time.perf_counter() - t0

    # Presidio's email and URL recognizers validate with tldextract: use its bundled suffix list, never the network.
    import tldextract
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())

    nlp = BlankSpacyNlpEngine(("en",))
    nlp.load()
    registry = RecognizerRegistry()
    # Presidio's own generic predefined recognizers (load_predefined_recognizers would also pick up piiflow's
    # subclasses, which it discovers by inheritance).
    from presidio_analyzer import predefined_recognizers as pr
    for cls in (pr.CreditCardRecognizer, pr.CryptoRecognizer, pr.DateRecognizer, pr.EmailRecognizer,
                pr.IbanRecognizer, pr.IpRecognizer, pr.PhoneRecognizer, pr.UrlRecognizer, pr.UsSsnRecognizer,
                pr.MedicalLicenseRecognizer):
        registry.add_recognizer(cls())
    presidio = AnalyzerEngine(registry=registry, nlp_engine=nlp)
    t0 = time.perf_counter()
    found_presidio = [[(r.start, r.end) for r in presidio.analyze(t, language="en")] for t in texts]
    presidio_s = time.perf_counter() - t0

    def hits(found) -> int:
        return sum(any(s < e2 and s2 < e for s2, e2 in f) for k, f in zip(keys, found) for s, e in truth.get(k, []))

    planted = sum(len(v) for v in truth.values())
    print(json.dumps({"bench": "detect_free_text", "texts": len(texts), "chars": chars, "planted": planted,
                      "piiflow_chars_per_s": int(chars / mine_s), "piiflow_found": hits(found_mine),
                      "presidio_chars_per_s": int(chars / presidio_s), "presidio_found": hits(found_presidio),
                      "ratio": round(presidio_s / mine_s, 2)}))


if __name__ == "__main__":
    main()
