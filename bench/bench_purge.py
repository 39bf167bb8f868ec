"""Purge cost grows with what expires, not with the dataset.

A year of daily Parquet partitions (device events); the as-of date is chosen so that exactly one day has expired.
piiflow's purge (plan + execute) is timed against the naive peer: a full rewrite that reads every partition,
filters expired rows and writes every partition back. Prints one JSON line with both times, their ratio, and how
many partitions each touched.
usage: python bench/bench_purge.py [--rows-per-day N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.runtime import configure_prefect_env  # noqa: E402

configure_prefect_env()


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--rows-per-day", type=int, default=int(os.environ.get("BENCH_ROWS_PER_DAY", 5000)),
                    help="rows per daily partition of the lake purged (default: BENCH_ROWS_PER_DAY or %(default)s)")
    args = ap.parse_args()

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from configs.catalog import catalog_from_dict
    from configs.settings import Settings
    from flows.purge import run_purge
    from flows.storage import storage_for
    from transforms import synth
    from transforms.times import to_timestamp

    first = date(2025, 11, 1)
    days = [first + timedelta(days=i) for i in range(365)]
    spec = synth.LakeSpec(seed=5, rows=args.rows_per_day, start=first, end=first)
    template = synth.device_events(spec, synth.Population(spec), first, args.rows_per_day).table
    root = Path(tempfile.mkdtemp(prefix="bench-purge-"))
    cat = catalog_from_dict({"lake": {"root": str(root), "region": "cn-north-1"}, "datasets": {"device_events": {
        "category": "device", "location": "raw/device_events", "format": "parquet", "subject_key": "user_id",
        "row_key": "event_id", "event_time": "ts", "retention": "365d",
        "columns": {c: {"kind": "other"} for c in template.column_names}}}})
    store = storage_for(cat, "device_events")
    ts = template.column("ts").cast(pa.int64())
    for i, d in enumerate(days):
        shifted = pc.add(ts, pa.scalar(i * 86_400_000, pa.int64())).cast(pa.timestamp("ms", tz="Asia/Shanghai"))
        store.write_partition(d, template.set_column(1, "ts", shifted))
    copy = root.parent / (root.name + "-naive")
    shutil.copytree(root, copy)
    as_of = datetime.combine(days[0] + timedelta(days=366), datetime.min.time(), ZoneInfo("Asia/Shanghai"))

    t0 = time.perf_counter()
    res = run_purge(cat, as_of, execute=True, settings=Settings())
    piiflow_s = time.perf_counter() - t0

    cut = as_of - timedelta(days=365)
    t0 = time.perf_counter()
    touched = 0
    for part_dir in sorted((copy / "raw" / "device_events").iterdir()):
        for f in part_dir.glob("*.parquet"):
            t = pq.read_table(f)
            keep = pc.invert(pc.fill_null(pc.less(to_timestamp(t.column("ts")), pa.scalar(cut, pa.timestamp(
                "ms", tz="Asia/Shanghai"))), False))
            pq.write_table(t.filter(keep), f, compression="zstd")
            touched += 1
    naive_s = time.perf_counter() - t0
    print(json.dumps({"bench": "purge_one_day_of_a_year", "partitions": len(days), "rows": len(days) * args.rows_per_day,
                      "rows_deleted": res["rows"], "piiflow_files_touched": len(res["actions"]),
                      "piiflow_s": round(piiflow_s, 3), "full_rewrite_files_touched": touched,
                      "full_rewrite_s": round(naive_s, 3), "ratio": round(naive_s / piiflow_s, 1)}))
    shutil.rmtree(root)
    shutil.rmtree(copy)


if __name__ == "__main__":
    main()
