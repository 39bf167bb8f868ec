"""Daily active users by city and carrier: the differentially private aggregate release (``analytics_daily``)
against the k-anonymous row release (``analytics``, its device_events) as the peer, on one generated lake.

Both run through the command line as an engineer runs them (``piiflow deidentify``, the embedded Prefect included
in the wall time). The truth is counted here from the raw rows with Polars (distinct users per day, city and
carrier, the city by the same ``generalize_place``). For each release, over the cells of at least ``--min-users``
users: the share the release answers at all, the share within 5% of the truth, the median relative error.

Prints the table, then one JSON line (the DP release's seconds for its days, and both releases' figures).
usage: python bench/bench_aggregate.py [--rows N] [--days N] [--min-users N] [--dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_lake(root: Path, rows: int, days: int) -> Path:
    """A generated lake at ``root`` (reused when its catalog is there) whose analytics release holds
    device_events only; returns its catalog."""
    from configs.catalog import load_catalog
    from flows.generate import generate_lake
    from transforms.synth import LakeSpec

    cat = root / "catalog.yaml"
    if cat.exists():
        return cat
    root.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "configs" / "demo.yaml").read_text(encoding="utf-8").replace("root: ../demo-lake", "root: .")
    text = text.replace("datasets: [device_events, app_logs, usage_events]", "datasets: [device_events]")
    cat.write_text(text, encoding="utf-8")
    end = date(2026, 11, 30)
    generate_lake(load_catalog(cat), LakeSpec(seed=7, rows=rows, start=end - timedelta(days=days - 1), end=end))
    return cat


def run(cat: Path, release: str, env: dict) -> float:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "flows.cli", "deidentify", "-c", str(cat), "--release", release],
                       env=env, cwd=ROOT, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"bench: {release} failed: {p.stderr.strip()[-500:]}")
    return time.perf_counter() - t


def truth(root: Path):
    import polars as pl
    import pyarrow.parquet as pq

    from transforms.operators import generalize_place

    t = pq.read_table(root / "raw" / "device_events", columns=["user_id", "ts", "gps", "carrier"])
    city = generalize_place(t.column("gps"), to="city")
    df = pl.from_arrow(t.drop_columns(["gps"]).append_column("city", city))
    df = df.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Shanghai").dt.date().alias("dt"))  # the lake's day
    return df.group_by("dt", "city", "carrier").agg(pl.col("user_id").n_unique().alias("truth"))


def dp_counts(root: Path):
    import polars as pl

    out = pl.read_parquet(str(root / "releases" / "analytics_daily" / "device_events" / "*" / "*.parquet"),
                          hive_partitioning=True)
    return out.select(pl.col("dt").cast(pl.Date), "city", "carrier", pl.col("users").alias("released"))


def kanon_counts(root: Path):
    import polars as pl

    out = pl.read_parquet(str(root / "releases" / "analytics" / "device_events" / "*" / "*.parquet"),
                          hive_partitioning=True)
    return (out.filter(pl.col("gps").is_not_null() & pl.col("carrier").is_not_null())
            .group_by(pl.col("dt").cast(pl.Date), pl.col("gps").alias("city"), "carrier")
            .agg(pl.col("user_id").n_unique().alias("released")))


def score(truth, released, min_users: int, below: int | None = None) -> dict:
    import polars as pl

    band = (pl.col("truth") >= min_users) & (pl.col("truth") < below if below else True)
    cells = truth.filter(band).join(released, on=["dt", "city", "carrier"], how="left")
    answered = cells.filter(pl.col("released").is_not_null())
    err = ((answered["released"].cast(pl.Float64) - answered["truth"]).abs() / answered["truth"])
    return {"cells": cells.height, "answered": answered.height,
            "answered_share": round(answered.height / cells.height, 4) if cells.height else None,
            "within_5pct_share": round(float((err <= 0.05).sum()) / cells.height, 4) if cells.height else None,
            "median_rel_error": round(float(err.median()), 4) if answered.height else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="device events in all (default 1,000,000)")
    ap.add_argument("--days", type=int, default=30, help="days the events spread over (default 30)")
    ap.add_argument("--min-users", type=int, default=500, help="cells scored: at least this many users (500)")
    ap.add_argument("--dir", type=Path, default=None, help="the lake (generated once, reused; default a temp dir)")
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="piiflow-bench-agg-"))
    root = a.dir or base / "lake"
    cat = make_lake(root, a.rows, a.days)
    key = hmac.new(b"bench", b"aggregate", hashlib.sha256).hexdigest()
    anchors = root.parent / f"{root.name}.anchors"  # beside the lake, outside it, kept with it for the next run
    env = dict(os.environ, PIIFLOW_KEY=key, PIIFLOW_AUDIT_ANCHOR_DIR=str(anchors),
               DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    for d in ("releases", "state", str(anchors)):  # fresh releases, budget and audit each time the bench runs
        subprocess.run(["rm", "-rf", str(root / d)], check=True)
    dp_seconds = run(cat, "analytics_daily", env)
    kanon_seconds = run(cat, "analytics", env)
    t = truth(root)
    dp_c, ka_c = dp_counts(root), kanon_counts(root)
    dp, ka = score(t, dp_c, a.min_users), score(t, ka_c, a.min_users)
    small_dp, small_ka = score(t, dp_c, 20, a.min_users), score(t, ka_c, 20, a.min_users)
    print(f"daily active users by city and carrier over {a.days} days ({a.rows:,} device events)")
    print(f"{'cells':<22}{'release':<28}{'answers':>10}{'within 5%':>12}{'median error':>14}{'seconds':>10}")
    for band, pair in ((f">= {a.min_users} users", (dp, ka)), (f"20-{a.min_users - 1} users", (small_dp, small_ka))):
        for name, s, sec in (("aggregate (epsilon 1/day)", pair[0], dp_seconds),
                             ("k-anonymous rows (k=5)", pair[1], kanon_seconds)):
            if not s["cells"]:
                continue
            print(f"{band + ' (' + str(s['cells']) + ')':<22}{name:<28}{s['answered_share']:>10.1%}"
                  f"{s['within_5pct_share']:>12.1%}"
                  f"{(s['median_rel_error'] if s['median_rel_error'] is not None else float('nan')):>14.2%}"
                  f"{sec:>10.1f}")
    print(json.dumps({"bench": "aggregate", "rows": a.rows, "days": a.days, "min_users": a.min_users,
                      "aggregate": {**dp, "seconds": round(dp_seconds, 1), "smaller_cells": small_dp},
                      "k_anonymous": {**ka, "seconds": round(kanon_seconds, 1), "smaller_cells": small_ka}}))


if __name__ == "__main__":
    main()
