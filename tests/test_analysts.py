"""Releases as analysts meet them: pandas, DuckDB and Polars each read every dataset in one plain call, also while a
release is being redone; types survive; the release describes itself; its HTML report renders in a real browser."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from configs.operators import (
    OPERATORS,
    Bucket,
    GeneralizeDevice,
    GeneralizeGps,
    GeneralizeIp,
    GeneralizePlace,
    Keep,
    TruncateTime,
)
from tests.helpers import ROOT, copy_lake, make_lake
from transforms.operators import apply_operator
from transforms.operators.suppress_operator import hide

START, END = date(2026, 8, 1), date(2026, 8, 6)


@pytest.fixture(scope="module")
def released(tmp_path_factory, prefect_harness):
    from flows.deidentify import deidentify_flow

    cat_path, _ = make_lake(tmp_path_factory.mktemp("analysts") / "lake", rows=2400, start=START, end=END, seed=9)
    summary = deidentify_flow(str(cat_path), "analytics")
    return cat_path, summary


def read_everywhere(release_root: Path, dataset: str) -> dict[str, int]:
    """Each tool's row count for one dataset, read the way the README tells analysts to."""
    import duckdb
    import pandas as pd
    import polars as pl

    folder = release_root / dataset
    con = duckdb.connect()
    return {
        "duckdb": con.execute(f"SELECT count(*) FROM read_parquet('{folder}/*/*.parquet', hive_partitioning = true)")
        .fetchone()[0],
        "polars": pl.scan_parquet(folder).select(pl.len()).collect().item(),
        "pandas": len(pd.read_parquet(folder)),
    }


def test_every_tool_reads_every_dataset_in_one_plain_call(released):
    import duckdb
    import polars as pl

    cat_path, summary = released
    root = cat_path.parent / "releases" / "analytics"
    for ds in ("device_events", "app_logs", "usage_events"):
        counts = read_everywhere(root, ds)
        assert len(set(counts.values())) == 1 and counts["duckdb"] > 0, (ds, counts)
        assert sorted(p.name for p in (root / ds).iterdir()) == sorted(
            f"dt={d}" for d in {p["dt"] for p in summary["partitions"] if p["dataset"] == ds})  # nothing else there
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # times are local wall-clock: a day's start reads as that day anywhere
    typed = con.execute(f"SELECT typeof(dt), typeof(ts), count(*) FILTER (WHERE ts::DATE <> dt) FROM read_parquet("
                        f"'{root}/app_logs/*/*.parquet', hive_partitioning = true) GROUP BY ALL").fetchall()
    assert typed == [("DATE", "TIMESTAMP", 0)]
    status = con.execute(f"SELECT typeof(status) FROM read_parquet('{root}/app_logs/*/*.parquet') LIMIT 1").fetchone()
    assert status == ("BIGINT",)  # an integer in the raw logs stays one
    assert pl.scan_parquet(root / "device_events").collect_schema()["dt"] == pl.Date


def test_the_release_describes_itself_and_names_no_internal_path(released):
    cat_path, summary = released
    root = cat_path.parent / "releases" / "analytics"
    index = json.loads((root / "_meta" / "index.json").read_text(encoding="utf-8"))
    de = index["datasets"]["device_events"]
    assert de["description"] and de["coverage"]["partitions"] == 6 and de["coverage"]["first"] == "2026-08-01"
    cols = {c["name"]: c for c in de["columns"]}
    assert cols["ts"]["type"] == "timestamp[ms]" and "Asia/Shanghai" in cols["ts"]["meaning"]
    assert cols["user_id"]["kind"] == "direct" and "pseudonym" in cols["user_id"]["meaning"]
    assert all(p["expires"] and "complete" in p for p in de["partitions"])
    dictionary = (root / "_meta" / "dictionary.md").read_text(encoding="utf-8")
    assert "## device_events" in dictionary and "read_parquet('device_events/*/*.parquet'" in dictionary
    lake = str(cat_path.parent.resolve())
    for f in (root / "_meta").rglob("*"):
        if f.is_file():
            assert lake not in f.read_text(encoding="utf-8"), f  # no internal path reaches the recipient


def test_piiflow_releases_lists_coverage_and_freshness(released):
    from typer.testing import CliRunner

    from flows.cli import app

    cat_path, _ = released
    res = CliRunner().invoke(app, ["releases", "-c", str(cat_path), "--json"])
    assert res.exit_code == 0, res.output
    rel = {r["release"]: r for r in json.loads(res.stdout)["releases"]}
    assert rel["analytics"]["published"] and rel["analytics"]["datasets"]["device_events"]["partitions"] == 6
    assert rel["crm_research"]["published"] is False
    piped = CliRunner().invoke(app, ["releases", "-c", str(cat_path)])  # stdout is no terminal: whole values
    lines = [ln.split("\t") for ln in piped.stdout.splitlines()]
    assert lines[0][:2] == ["release", "dataset"] and ["analytics", "device_events", "6"] in [ln[:3] for ln in lines]
    assert "…" not in piped.stdout and ["crm_research", "-", "0", "", "", "", "", "", "never", ""] in lines


GENERALIZING = [Keep(), TruncateTime(to="hour"), GeneralizeIp(v4_prefix=24), GeneralizeGps(decimals=2),
                GeneralizePlace(to="city"), GeneralizeDevice(), Bucket(width=60)]
SAMPLES = {"keep": pa.array([304, 500, None], pa.int64()),
           "truncate_time": pa.array(["2026-10-03T23:59:00+08:00", None, "2026-10-04T01:00:00+08:00"]),
           "generalize_ip": pa.array(["36.1.2.3", None, "2408:8207::1"]),
           "generalize_gps": pa.array(["30.57,104.06", None, "39.9,116.4"]),
           "generalize_place": pa.array(["30.57,104.06", None, "48.85,2.35"]),
           "generalize_device": pa.array(["iPhone 15 Pro", None, "Redmi K70"]),
           "bucket": pa.array([75, None, 130], pa.int64())}


@pytest.mark.parametrize("op", GENERALIZING, ids=lambda o: o.op)
def test_every_level_of_a_ladder_keeps_the_released_type(op):
    """A release has one type per column: whatever level a day's partition reached (suppress included), the column
    keeps the declared operator's type."""
    values = SAMPLES[op.op]
    declared = apply_operator(op, values, key=b"k" * 32)
    for level in op.ladder()[1:]:
        got = hide(values, declared.type) if level.op == "suppress" else apply_operator(level, values, key=b"k" * 32)
        assert got.type == declared.type, (op.op, level.describe())
    assert set(SAMPLES) == {o.op for o in GENERALIZING} and all(o in OPERATORS for o in SAMPLES)


_READER = """
import sys, time, json
sys.path.insert(0, {root!r})
from tests.test_analysts import read_everywhere
from pathlib import Path
release, expected = Path(sys.argv[1]), json.loads(sys.argv[2])
reads = errors = 0
print("ready", flush=True)
deadline = time.time() + 600
while time.time() < deadline and not Path(sys.argv[3]).exists():
    for ds, n in expected.items():
        try:
            counts = read_everywhere(release, ds)
        except Exception as e:
            errors += 1
            print("error", ds, type(e).__name__, str(e)[:200], flush=True)
            continue
        if set(counts.values()) != {{n}}:
            errors += 1
            print("mismatch", ds, counts, n, flush=True)
        reads += 1
    try:  # the whole release in one glob, as an analyst exploring it would (no staged file may be in it)
        import duckdb
        whole = duckdb.sql(f"SELECT count(*) FROM read_parquet('{{release}}/**/*.parquet', hive_partitioning = true, "
                           f"union_by_name = true)").fetchall()[0][0]
        if whole != sum(expected.values()):
            errors += 1
            print("mismatch whole release", whole, sum(expected.values()), flush=True)
    except Exception as e:
        errors += 1
        print("error whole release", type(e).__name__, str(e)[:200], flush=True)
print("done", reads, errors, flush=True)
"""


@pytest.mark.slow
def test_readers_see_a_whole_release_before_during_and_after_a_forced_backfill(released, tmp_path):
    """pandas, DuckDB and Polars read every dataset in a loop while ``piiflow deidentify --force`` redoes the whole
    release in another process: every read succeeds with the same row counts, and so does DuckDB's glob over the
    whole release folder (nothing is staged inside it)."""
    cat_path, _ = released
    work = tmp_path / "lake"
    copy_lake(cat_path.parent, work)
    root = work / "releases" / "analytics"
    expected = {ds: read_everywhere(root, ds)["duckdb"] for ds in ("device_events", "app_logs", "usage_events")}
    stop = tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    reader = subprocess.Popen([sys.executable, "-c", _READER.format(root=str(ROOT)), str(root), json.dumps(expected),
                               str(stop)], stdout=subprocess.PIPE, text=True, env=env)
    assert reader.stdout.readline().strip() == "ready"
    run = subprocess.run([sys.executable, "-m", "flows.cli", "deidentify", "-c", str(work / "catalog.yaml"),
                          "--release", "analytics", "--force", "--json"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["published"] == sum(len(list((root / ds).iterdir())) for ds in expected)
    time.sleep(1)
    stop.touch()
    out, _ = reader.communicate(timeout=120)
    last = out.strip().splitlines()[-1].split()
    assert last[0] == "done" and int(last[1]) >= 3 and int(last[2]) == 0, out[-3000:]


def _png_is_not_blank(png: bytes) -> bool:
    """Decode a PNG's pixel rows just enough to see more than one colour (no imaging library needed)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        kind = png[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return len(set(raw[i] for i in range(0, len(raw), 7))) > 8


@pytest.mark.slow
def test_the_html_report_renders_in_a_real_browser(released, tmp_path):
    """Debian's chromium, headless: the page loads without a console error and its charts draw (the screenshot is
    not blank; the SVG bars are in the rendered DOM)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: `make test-slow` installs Debian's chromium (make browser)"
    cat_path, _ = released
    page = cat_path.parent / "releases" / "analytics" / "_meta" / "report.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    shot = tmp_path / "report.png"
    run = subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert shot.exists() and _png_is_not_blank(shot.read_bytes()), run.stderr[-2000:]
    assert "Uncaught" not in run.stderr and "CONSOLE" not in run.stderr, run.stderr[-2000:]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert "Release analytics" in dom and dom.count("<rect") > 10
    index = json.loads((page.parent / "index.json").read_text())
    for name, d in index["datasets"].items():  # per dataset: rows over time, a cell per quasi-identifier and day
        quasi = [c["name"] for c in d["columns"] if c["kind"] == "quasi"]
        assert f"{name}: rows per day" in dom
        cells = re.findall(r"<title>(\w+) (\d{4}-\d{2}-\d{2}): (as declared|hidden|coarser: [^<]+)</title>", dom)
        assert len([c for c in cells if c[0] in quasi]) >= len(quasi) * d["coverage"]["partitions"], name
        assert f"{name}: risk and checks" in dom
    assert dom.count('class="pass"') == 5 * len(index["datasets"]) and 'class="fail"' not in dom


def test_a_run_that_changes_nothing_changes_no_document_and_counts_reconcile(released, tmp_path):
    """A backfill over days with no data and a re-run on unchanged data leave index.json, dictionary.md and
    report.html byte for byte as they were; the index reconciles what was read, suppressed, left out for the
    purpose (the marketing release's minors) and released, per dataset and per day, and the report's headline is
    the release as published, not the last run."""
    from flows.deidentify import deidentify_flow
    cat_path, _ = released
    work = tmp_path / "lake"
    copy_lake(cat_path.parent, work)
    cat = str(work / "catalog.yaml")
    meta = work / "releases" / "analytics" / "_meta"
    docs = {n: (meta / n).read_bytes() for n in ("index.json", "dictionary.md", "report.html")}
    empty = deidentify_flow(cat, "analytics", start=date(2020, 1, 1), end=date(2020, 1, 7))
    assert empty["published"] == 0 and empty["warnings"]
    again = deidentify_flow(cat, "analytics")
    assert again["published"] == 0 and again["skipped"] > 0
    assert {n: (meta / n).read_bytes() for n in docs} == docs
    index = json.loads(docs["index.json"])
    for d in index["datasets"].values():
        c = d["coverage"]
        assert c["rows_read"] == c["rows"] + c["suppressed"]
        assert sum(p["rows_in"] for p in d["partitions"]) == c["rows_read"]
    assert "As published" in docs["report.html"].decode()
    deidentify_flow(cat, "marketing")
    m_index = json.loads((work / "releases" / "marketing" / "_meta" / "index.json").read_text())
    c = m_index["datasets"]["usage_events"]["coverage"]
    from deltalake import DeltaTable
    raw_rows = DeltaTable(str(work / "raw" / "usage_events")).to_pyarrow_table(columns=["event_id"]).num_rows
    assert c["left_out"].get("minors", 0) > 0 and c["rows_read"] + sum(c["left_out"].values()) == raw_rows
    dictionary = (work / "releases" / "marketing" / "_meta" / "dictionary.md").read_text()
    assert f"{c['left_out']['minors']:,}" in dictionary and "left out for the release's purpose" in dictionary


def test_every_day_of_a_release_has_one_level_per_quasi_identifier(released):
    """Global recoding (#30): a daily series compares like with like. Every published day of a dataset is at the
    same level per quasi-identifier, the one index.json reports; a partition published at other levels is redone."""
    from transforms.gate import redo_reason

    cat_path, _ = released
    meta = cat_path.parent / "releases" / "analytics" / "_meta"
    index = json.loads((meta / "index.json").read_text())
    for name, d in index["datasets"].items():
        manifests = [json.loads(p.read_text()) for p in (meta / name).glob("dt=*/manifest.json")]
        levels = {json.dumps(m["gate"]["k_anonymity"]["generalisation"], sort_keys=True) for m in manifests}
        assert len(manifests) > 1 and len(levels) == 1, (name, levels)
        assert d["levels"] == json.loads(levels.pop()) and "mixed" not in d["levels"].values()
    m = manifests[0]
    same = dict(fingerprint=m["input_fingerprint"], inputs=m["inputs"], policy_hash=m["policy_hash"],
                key_fingerprint=m["key_fingerprint"], state_digest=m.get("state_digest", ""), force=False,
                exclusion_digest=m.get("exclusion_digest", ""))
    assert redo_reason(m, **same, levels=m["gate"]["k_anonymity"]["generalisation"]) is None
    assert redo_reason(m, **same, levels={c: "suppress" for c in m["gate"]["k_anonymity"]["generalisation"]}) \
        == "levels"
