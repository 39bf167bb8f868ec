"""Orchestration benchmarks, one JSON line each.

1. Re-running a release on unchanged data does no de-identification work: time of the second run against the
   first (both after the Prefect server is up).
2. A second nightly on unchanged data (purge, erasures, scan of what changed, every release) against the first:
   the target is at most a third of its time.
3. Scaling: the same backfill of a generated month on a local Dask cluster with 1 and one with 2 single-threaded
   worker processes (clusters started, with piiflow preloaded in each worker, before the clock starts), runs
   alternating between the two, each on workers that have forgotten the texts earlier runs analysed: speed-up and
   rows per second.
usage: python bench/bench_orchestration.py [--rows N] [--only rerun|nightly|dask] [--repeat N]
With PREFECT_API_URL set, runs report to that server (``prefect server start``) instead of an ephemeral one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.runtime import configure_prefect_env  # noqa: E402

configure_prefect_env()
os.environ.setdefault("PIIFLOW_KEY", "bench-master-key-0123456789-abcdefghijklmnop")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 150_000)),
                    help="rows of the generated lake (default: BENCH_ROWS or %(default)s)")
    ap.add_argument("--only", choices=["rerun", "nightly", "dask"], help="run one of the benchmarks")
    ap.add_argument("--repeat", type=int, default=3, help="backfills per cluster size (best and median printed)")
    args = ap.parse_args()

    from flows.runtime import direct_run_settings

    with direct_run_settings():  # flows run as the command line runs them
        run(args)


def run(args: argparse.Namespace) -> None:
    from distributed import LocalCluster
    from prefect import flow
    from prefect_dask import DaskTaskRunner

    from configs.catalog import load_catalog
    from flows.deidentify import deidentify_flow
    from flows.generate import generate_lake
    from transforms.synth import LakeSpec

    @flow
    def warm_up() -> int:
        return 1

    warm_up()
    demo = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    base = Path(tempfile.mkdtemp(prefix="bench-orch-"))
    end = date(2026, 10, 31)
    src = base / "lake"
    src.mkdir()
    (src / "catalog.yaml").write_text(demo.read_text(encoding="utf-8").replace("root: ../demo-lake", "root: ."))
    generate_lake(load_catalog(src / "catalog.yaml"), LakeSpec(seed=9, rows=args.rows, start=end - timedelta(days=29),
                                                               end=end))

    def copy(name: str) -> str:
        shutil.copytree(src, base / name)
        return str(base / name / "catalog.yaml")

    if args.only in (None, "rerun"):
        rerun(copy("rerun"), deidentify_flow)
    if args.only in (None, "nightly"):
        nightly_twice(copy("nightly"))
    if args.only in (None, "dask"):
        dask_scaling(copy, deidentify_flow, LocalCluster, DaskTaskRunner, max(1, args.repeat))
    shutil.rmtree(base)


def rerun(cat: str, deidentify_flow) -> None:
    """1. A second run on unchanged data skips every partition."""
    t = time.perf_counter()
    first = deidentify_flow(cat, "analytics")
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    second = deidentify_flow(cat, "analytics")
    second_s = time.perf_counter() - t
    print(json.dumps({"bench": "rerun_unchanged_release", "partitions": len(first["partitions"]),
                      "first_s": round(first_s, 2), "first_rows_in": first["rows_in"],
                      "rerun_s": round(second_s, 2), "rerun_skipped": second["skipped"],
                      "rerun_published": second["published"], "ratio": round(first_s / second_s, 1)}), flush=True)


def nightly_twice(cat: str) -> None:
    """2. The nightly twice on the same lake: the second finds nothing new to scan or release."""
    from flows.nightly import nightly_flow

    t = time.perf_counter()
    nightly_flow(cat)
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    second = nightly_flow(cat)
    second_s = time.perf_counter() - t
    print(json.dumps({"bench": "nightly_twice_unchanged", "first_s": round(first_s, 2), "second_s": round(second_s, 2),
                      "second_scan_partitions_read": sum(d["partitions_read"] for d in second["scan"]["datasets"]),
                      "second_published": sum(r["published"] for r in second["releases"].values()),
                      "ratio_second_to_first": round(second_s / first_s, 3), "target": "<= 0.333"}), flush=True)


def dask_scaling(copy, deidentify_flow, LocalCluster, DaskTaskRunner, repeat: int) -> None:
    """2. The same backfill (``force``: every partition redone) on a local Dask cluster of 1 and one of 2
    single-threaded worker processes, ``repeat`` times each, alternating between the two so that a noisy spell on
    the shared machine hits both sides. Before each run the workers forget the texts they analysed in earlier runs
    (their engines stay built): a backfill meets a month it has not seen, and otherwise the single worker, which has
    seen every text, would re-analyse none while two workers have each seen about half. Printed: best and median
    per size, and the median of the paired ratios."""
    from contextlib import ExitStack

    from distributed import Client

    from flows.runtime import forget_texts, share_api_with_workers

    share_api_with_workers()  # as task_runner_for does: workers report to this process's API server
    runs: dict[int, list[float]] = {1: [], 2: []}
    with ExitStack() as stack:
        # workers preload piiflow and build their engine at start, as a long-lived production cluster does
        clusters = {n: stack.enter_context(LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                        dashboard_address=None, preload=["flows.dask_preload"]))
                    for n in (1, 2)}
        cats = {n: copy(f"dask{n}") for n in (1, 2)}
        for _ in range(repeat):
            for n in (1, 2):
                # each backfill meets texts the workers have not analysed yet. The client is closed at once: while a
                # Client is open in this process, prefect-dask's runner uses its cluster, whatever address it was given
                with Client(clusters[n]) as client:
                    client.run(forget_texts)
                runner = DaskTaskRunner(address=clusters[n].scheduler_address)
                t = time.perf_counter()
                res = deidentify_flow.with_options(task_runner=runner)(cats[n], "analytics", force=True)
                runs[n].append(time.perf_counter() - t)
    rows = res["rows_in"]
    best = {n: min(v) for n, v in runs.items()}
    median = {n: sorted(v)[len(v) // 2] for n, v in runs.items()}
    paired = sorted(a / b for a, b in zip(runs[1], runs[2]))
    print(json.dumps({"bench": "dask_backfill_scaling", "days": 30, "rows": rows, "runs": repeat,
                      "one_worker_s": round(best[1], 2), "two_workers_s": round(best[2], 2),
                      "one_worker_median_s": round(median[1], 2), "two_workers_median_s": round(median[2], 2),
                      "rows_per_s_1": int(rows / best[1]), "rows_per_s_2": int(rows / best[2]),
                      "ratio": round(best[1] / best[2], 2), "ratio_median": round(median[1] / median[2], 2),
                      "ratio_paired_median": round(paired[len(paired) // 2], 2)}), flush=True)


if __name__ == "__main__":
    main()
