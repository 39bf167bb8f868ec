"""De-identify a generated device table: piiflow versus presidio-structured, same rows, same run.

piiflow: the demo catalog's device_events policy (apply_policy), k-anonymity and the full re-scan of the output.
presidio-structured: PandasAnalysisBuilder on a 1,000-row sample (given piiflow's analyzer, since Presidio's
default engine needs a downloaded model and has no Chinese recognizers), then StructuredEngine.anonymize with
Presidio's own operators (hash, replace, mask), which loops over every cell.

Prints one JSON line: rows, seconds and rows/s of each, and the ratio piiflow / presidio-structured.
usage: python bench/bench_deidentify.py [--rows N]
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
    ap.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 100_000)))
    args = ap.parse_args()

    from presidio_anonymizer.entities import OperatorConfig
    from presidio_structured import PandasAnalysisBuilder, StructuredEngine
    from presidio_structured.data.data_processors import PandasDataProcessor

    from configs.catalog import load_catalog
    from transforms import synth
    from transforms.detection import build_analyzer
    from transforms.operators import derive_key
    from transforms.policy import apply_policy, k_anonymize, rescan

    catalog = load_catalog(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
    ds = catalog.datasets["device_events"]
    spec = synth.LakeSpec(seed=3, rows=args.rows, start=date(2026, 10, 1), end=date(2026, 10, 1))
    table = synth.device_events(spec, synth.Population(spec), spec.start, args.rows).table
    analyzer = build_analyzer()
    key = derive_key(b"bench-master-key-" * 3, "analytics-team")

    t0 = time.perf_counter()
    out, _ = apply_policy(table, ds, key=key, analyzer=analyzer)
    quasi = [c for c in ds.columns_of_kind("quasi") if c in out.column_names]
    out, krep = k_anonymize(out, quasi, 5)
    leaks = rescan(out, analyzer, ds)
    piiflow_s = time.perf_counter() - t0

    df = table.to_pandas()
    df["ts"] = df["ts"].astype(str)
    df = df.astype(object).where(df.notna(), "")  # Presidio's operators cannot take nulls
    t0 = time.perf_counter()
    analysis = PandasAnalysisBuilder(analyzer=analyzer).generate_analysis(df, n=1000, language="en")
    operators = {"DEFAULT": OperatorConfig("replace", {"new_value": "<REDACTED>"}),
                 "IP_ADDRESS": OperatorConfig("mask", {"masking_char": "*", "chars_to_mask": 4, "from_end": True}),
                 "DEVICE_ID": OperatorConfig("hash", {"hash_type": "sha256"}),
                 "IMEI": OperatorConfig("hash", {"hash_type": "sha256"})}
    StructuredEngine(data_processor=PandasDataProcessor()).anonymize(df, analysis, operators)
    presidio_s = time.perf_counter() - t0

    print(json.dumps({
        "bench": "deidentify_device_table", "rows": args.rows,
        "piiflow_s": round(piiflow_s, 3), "piiflow_rows_per_s": int(args.rows / piiflow_s),
        "presidio_structured_s": round(presidio_s, 3), "presidio_structured_rows_per_s": int(args.rows / presidio_s),
        "presidio_columns_detected": len(analysis.entity_mapping),
        "piiflow_suppressed": krep.suppressed, "piiflow_rescan_leaks": len(leaks),
        "ratio": round(presidio_s / piiflow_s, 2),
    }))


if __name__ == "__main__":
    main()
