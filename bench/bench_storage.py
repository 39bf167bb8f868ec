"""Object storage against a local folder, one JSON line: the nightly (purge, scan, every release) on the same
generated demo lake, once on a local folder and once on ``s3://`` (moto's S3 server on 127.0.0.1, started here), in
one run, after Prefect is up. Target: the S3 run within 3x of the local one. Where the extra time goes: the S3
requests of the run, by operation (listing, heads, gets, puts, copies, deletes).

usage: python bench/bench_storage.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.runtime import configure_prefect_env  # noqa: E402

configure_prefect_env()
os.environ.setdefault("PIIFLOW_KEY", "bench-master-key-0123456789-abcdefghijklmnop")
os.environ.setdefault("PIIFLOW_AUDIT_ANCHOR_DIR", tempfile.mkdtemp(prefix="piiflow-bench-anchors-"))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 20_000)),
                    help="rows of the generated lake read and written (default: BENCH_ROWS or %(default)s)")
    args = ap.parse_args()

    from flows.runtime import direct_run_settings
    from tests.s3server import s3_server

    with direct_run_settings(), s3_server() as server:
        os.environ.update(server.env)
        run(args, server)


def run(args, server) -> None:
    from prefect import flow

    from flows.nightly import nightly_flow
    from flows.storage import objectstore
    from tests.helpers import make_lake, upload_lake

    @flow
    def warm_up() -> int:
        return 1

    warm_up()
    base = Path(tempfile.mkdtemp(prefix="piiflow-bench-storage-"))
    end = date.today() - timedelta(days=1)
    make_lake(base / "local", rows=args.rows, start=end - timedelta(days=34), end=end, seed=42)
    bucket = server.bucket()
    s3_cat = upload_lake(base / "local", server, bucket, "lake", base / "s3")

    t = time.perf_counter()
    nightly_flow(str(base / "local" / "catalog.yaml"))
    local = time.perf_counter() - t

    objectstore.REQUESTS.clear()
    objectstore.DOWNLOADED["bytes"] = 0
    t = time.perf_counter()
    nightly_flow(str(s3_cat))
    remote = time.perf_counter() - t
    requests = dict(sorted(objectstore.REQUESTS.items(), key=lambda kv: -kv[1]))
    print(json.dumps({"bench": "storage_nightly", "rows": args.rows, "local_s": round(local, 2),
                      "s3_s": round(remote, 2), "ratio_s3_to_local": round(remote / local, 2), "target_ratio": 3.0,
                      "s3_requests": sum(requests.values()), "by_operation": requests,
                      "s3_downloaded_mb": round(objectstore.DOWNLOADED["bytes"] / 1e6, 1)}))


if __name__ == "__main__":
    main()
