"""End to end on a small generated lake, under one Prefect test harness, in a local folder and on s3:// (the test S3
server): nightly purges, scans and publishes releases that carry their manifest, and no planted identifier reaches a
release."""

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from configs.catalog import load_catalog
from flows.storage import lake_fs, storage_for
from tests.helpers import ROOT, lake_files, lake_read, make_lake, upload_lake
from transforms.detection import mask_value

#: Planted identifier types no release may hold.
CHECKED = {"CN_MOBILE", "CN_LANDLINE", "EMAIL_ADDRESS", "CN_RESIDENT_ID", "BANK_CARD", "IMEI", "DEVICE_ID",
           "IP_ADDRESS", "MAC_ADDRESS", "GPS_COORDINATE", "CELL_ID", "QQ_NUMBER", "WECHAT_ID", "USER_ID", "URL",
           "PERSON", "CN_ADDRESS", "NICKNAME"}


def run_nightly(backend: str, request, tmp_path_factory):
    """The nightly on the same generated lake, in a local folder or in a bucket of the test S3 server (then the
    local copy keeps only what the generator planted, read as ground truth; every check of the lake goes through
    the storage layer). Yields (catalog path, what was generated, the nightly's result)."""
    from flows.nightly import nightly_flow

    end = date.today() - timedelta(days=1)
    base = tmp_path_factory.mktemp("e2e")
    cat_path, gen = make_lake(base / "lake", rows=12000, start=end - timedelta(days=33), end=end)
    env = pytest.MonkeyPatch()
    if backend == "s3":
        server = request.getfixturevalue("s3_server")
        for k, v in server.env.items():
            env.setenv(k, v)
        cat_path = upload_lake(base / "lake", server, server.bucket(), "lake", base / "s3")
    result = nightly_flow(str(cat_path))
    yield cat_path, gen, result
    env.undo()


@pytest.fixture(scope="module", params=["local"])
def nightly_run(request, tmp_path_factory, prefect_harness):
    """The nightly on a local lake; the same tests on s3:// are tests/test_flows_e2e_s3.py (a file of its own, so
    that the two nightlies run on two test workers at once)."""
    yield from run_nightly(request.param, request, tmp_path_factory)


#: The tests of the nightly's run, which tests/test_flows_e2e_s3.py runs again on an s3:// lake.
NIGHTLY_TESTS = ("test_nightly_purges_expired_log_days", "test_releases_carry_manifests_that_add_up",
                 "test_a_run_leaves_nothing_half_done", "test_analysts_read_an_s3_release_with_polars",
                 "test_no_planted_identifier_reaches_a_release",
                 "test_every_planted_slot_of_released_free_text_is_redacted",
                 "test_scan_finds_pii_and_no_drift_in_demo_policy",
                 "test_the_nightly_publishes_the_aggregate_release_within_its_budget")


def _parquet(cat_path, rel: str) -> pa.Table:
    cat = load_catalog(cat_path)
    return lake_fs(cat).read_parquet(cat.lake.root / rel)


def _read_where(cat_path, where: str) -> str:
    """A report the run named (a local path or an s3:// URI), read through the storage layer."""
    fs = lake_fs(load_catalog(cat_path))
    return fs.read_bytes(fs.path(where[len("s3:/"):]) if where.startswith("s3://") else fs.path(where)).decode()


def _release_strings(cat_path):
    values = set()
    for rel in lake_files(cat_path, "releases", ".parquet"):
        t = _parquet(cat_path, rel)
        for col in t.columns:
            if pa.types.is_string(col.type):
                values.update(v for v in pc.unique(col).to_pylist() if v is not None)
    return values


def test_nightly_purges_expired_log_days(nightly_run):
    cat_path, gen, result = nightly_run
    catalog = load_catalog(cat_path)
    purged = [a for a in result["purge"]["actions"] if a["target"] == "app_logs"]
    assert purged and result["purge"]["executed"]
    cut = date.today() - timedelta(days=30)
    left = [p.dt for p in storage_for(catalog, "app_logs").list_partitions()]
    assert left and min(left) >= cut - timedelta(days=1)
    # the other datasets keep every day (their retention is longer than the lake)
    assert len(storage_for(catalog, "device_events").list_partitions()) == 34


def test_releases_carry_manifests_that_add_up(nightly_run):
    cat_path, gen, result = nightly_run
    rel = result["releases"]["analytics"]
    assert rel["published"] > 0 and rel["blocked"] == 0
    meta = lake_files(cat_path, "releases/analytics/_meta")
    manifests = [m for m in meta if m.endswith("/manifest.json")]
    assert len(manifests) == rel["published"]
    total_out = 0
    for m in manifests:
        data = json.loads(lake_read(cat_path, m))
        assert data["policy_hash"] == load_catalog(cat_path).policy_hash
        assert len(data["key_fingerprint"]) == 16
        assert data["rows"]["in"] == data["rows"]["out"] + data["rows"]["suppressed"]
        folder = f"releases/analytics/{data['dataset']}/dt={data['dt']}"
        # the manifest (the partition's commit) names the one data file there, with its hash
        assert lake_files(cat_path, folder) == [f"{folder}/{o['path']}" for o in data["outputs"]]
        assert hashlib.sha256(lake_read(cat_path, f"{folder}/part-00000.parquet")).hexdigest() == \
            data["outputs"][0]["sha256"]
        out = _parquet(cat_path, f"{folder}/part-00000.parquet")
        assert out.num_rows == data["rows"]["out"]
        if out.num_rows:
            assert data["gate"]["k_anonymity"]["k_reached"] >= 5
        total_out += out.num_rows
        assert m.replace("manifest.json", "report.md") in meta
    assert total_out == rel["rows_out"]


def test_a_run_leaves_nothing_half_done(nightly_run):
    """No temporary, staging folder or publish marker anywhere in the lake; on an object store, no lock object."""
    cat_path, _, result = nightly_run
    left = [f for f in lake_files(cat_path) if ".tmp-" in f or "/_staging/" in f or "/state/staging/" in f or f.endswith("COMMITTING")]
    assert left == []
    if result["scan"]["report"].startswith("s3://"):
        assert "state/.lock" not in lake_files(cat_path, "state")


def test_analysts_read_an_s3_release_with_polars(nightly_run):
    """Polars reads a release straight from the bucket (its own S3 client) through the files its manifests list."""
    cat_path, _, result = nightly_run
    if not result["scan"]["report"].startswith("s3://"):
        pytest.skip("an s3:// lake only (local readers: tests/test_analysts.py)")
    pl = pytest.importorskip("polars")
    cat = load_catalog(cat_path)
    manifests = [json.loads(lake_read(cat_path, m)) for m in lake_files(
        cat_path, "releases/crm_research/_meta/call_records", "manifest.json")]
    uris = [f"{cat.lake.root.uri}/releases/crm_research/{m['dataset']}/dt={m['dt']}/{o['path']}"
            for m in manifests for o in m["outputs"]]
    env = os.environ
    df = pl.read_parquet(uris, storage_options={
        "aws_endpoint_url": env["AWS_ENDPOINT_URL"], "aws_region": "us-east-1", "aws_allow_http": "true",
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"]})
    assert df.height == sum(m["rows"]["out"] for m in manifests) > 0


def test_the_nightly_publishes_the_aggregate_release_within_its_budget(nightly_run):
    """The nightly runs the demo's aggregate release too: every day of device events once, one epsilon a day, the
    ledger and the index agreeing, every public cell of every day in the files."""
    cat_path, _, result = nightly_run
    agg = result["aggregates"]["analytics_daily"]
    days = lake_files(cat_path, "raw/device_events")
    n_days = len({d.split("/")[2] for d in days})
    assert agg["status"] == "published" and agg["published"] == n_days and agg["spent"] == pytest.approx(n_days)
    ledger = [json.loads(x) for x in lake_read(cat_path, "state/privacy/ledger.jsonl").decode().splitlines()]
    assert len(ledger) == n_days and {e["recipient"] for e in ledger} == {"analytics-team"}
    index = json.loads(lake_read(cat_path, "releases/analytics_daily/_meta/index.json"))
    assert index["budget"]["spent_total"] == pytest.approx(n_days) and index["budget"]["left_in_window"] >= 0
    files = lake_files(cat_path, "releases/analytics_daily/device_events", ".parquet")
    assert len(files) == n_days
    t = _parquet(cat_path, files[0])
    assert t.num_rows == 366 * 3 and {"users", "users_low", "users_high", "events"} <= set(t.column_names)
    assert result["summary"]["aggregate_days_published"] == n_days


def test_no_planted_identifier_reaches_a_release(nightly_run):
    cat_path, gen, result = nightly_run
    truth = pq.read_table(gen.truth_path)
    planted = set(truth.filter(pc.is_in(truth["entity_type"], pa.array(sorted(CHECKED))))["value"].to_pylist())
    released = _release_strings(cat_path)
    assert released
    assert not planted & released
    text = "\n".join(released)
    leaked = [v for v in planted if len(v) >= 7 and v in text]
    assert not leaked, f"{len(leaked)} planted values found inside released text"
    phones = truth.filter(pc.equal(truth["entity_type"], "CN_MOBILE"))["value"].to_pylist()
    unkeyed = {h(p.encode()).hexdigest()[:n] for p in phones for h in (hashlib.sha256, hashlib.md5) for n in (16, 32)}
    assert not unkeyed & released


def test_every_planted_slot_of_released_free_text_is_redacted(nightly_run):
    """Released free text that has the shape of one of the generator's templates has every planted slot replaced by
    a ``<TYPE>`` tag: no name, no address tail (…121号3栋2396室), no identifier survives. Checked against the
    templates, independently of the detector."""
    from transforms.synth import _CHAT_TEMPLATES, _QUERY_TEMPLATES

    templates = [t for t in _QUERY_TEMPLATES + _CHAT_TEMPLATES if any(e is None and p.strip() for p, e in t)]
    shapes = [re.compile("".join(re.escape(p) if e is None else "(.+?)" for p, e in t) + "$") for t in templates]
    # a slot is redacted when nothing but tags, and the honorifics and degrees around an English name, is left (an
    # honorific redacted as a name leaves its dot: "Ms. Allison Morris PhD" -> "<PERSON>. <PERSON> PhD")
    tag = re.compile(r"(?:\s|<[A-Z_]+(?:_\d+)?>\.?|Mrs?\.|Ms\.|Miss|Dr\.|MD|DDS|PhD|DVM|Jr\.|Sr\.|I{1,3}|IV|V)*")
    checked, leaks = 0, []
    for value in _release_strings(nightly_run[0]):
        m = next((m for m in (rx.match(value) for rx in shapes) if m), None)
        if m is None:
            continue
        checked += 1
        leaks += [mask_value(g) for g in m.groups() if not tag.fullmatch(g)]
    assert checked >= 10
    assert not leaks, f"{len(leaks)} planted values survived redaction: {leaks[:5]}"


def test_scan_finds_pii_and_no_drift_in_demo_policy(nightly_run):
    cat_path, _, result = nightly_run
    scan = result["scan"]
    by = {(d["dataset"], c["column"]): c for d in scan["datasets"] for c in d["columns"]}
    assert by[("registration", "phone")]["main_entity"] == "CN_MOBILE"
    assert by[("device_events", "ipv4")]["main_entity"] == "IP_ADDRESS"
    assert by[("app_logs", "query")]["entities"]
    assert scan["drift"] == []
    report = _read_where(cat_path, scan["report"])
    assert all("*" in c["evidence"] for c in by.values() if c["evidence"])  # evidence is masked
    truth = pq.read_table(nightly_run[1].truth_path)
    assert not any(v in report for v in truth.filter(pc.equal(truth["entity_type"], "CN_MOBILE"))["value"].to_pylist())


def _small_lake(backend: str, tmp_path, request):
    """A two-day lake in a folder, or uploaded to the test S3 server (its environment set for the test)."""
    cat_path, _ = make_lake(tmp_path / "l", rows=300, start=date(2026, 10, 1), end=date(2026, 10, 2))
    if backend == "local":
        return cat_path
    s3 = request.getfixturevalue("s3")
    return upload_lake(tmp_path / "l", s3, s3.bucket(), "lake", tmp_path / "s3")


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_policy_drift_is_flagged(tmp_path, prefect_harness, request, backend):
    from flows.scan import scan_flow

    cat_path = _small_lake(backend, tmp_path, request)
    text = cat_path.read_text(encoding="utf-8").replace("phone:         {kind: direct, op: drop, identifier: phone, owner: subject}",
                                                        "phone:         {kind: other, op: keep}")
    cat_path.write_text(text, encoding="utf-8")
    result = scan_flow(str(cat_path), "registration")
    assert result["drift"] == ["registration.phone"]


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_gate_blocks_a_direct_column_left_in_clear_and_keeps_previous_release(tmp_path, prefect_harness, request,
                                                                               backend):
    from configs.errors import ReleaseBlocked
    from flows.deidentify import deidentify_flow

    cat_path = _small_lake(backend, tmp_path, request)
    deidentify_flow(str(cat_path), "crm_research")
    before = {f: lake_read(cat_path, f) for f in lake_files(cat_path, "releases")}
    assert before
    text = cat_path.read_text(encoding="utf-8").replace('callee_phone: {kind: direct, op: pseudonymize, identifier: phone, owner: other, '
                                                        'description: "the number called"}',
                                                        "callee_phone: {kind: direct, op: keep}")
    cat_path.write_text(text, encoding="utf-8")
    with pytest.raises(ReleaseBlocked, match="call_records.callee_phone: direct identifier with operator 'keep'"):
        deidentify_flow(str(cat_path), "crm_research")
    assert {f: lake_read(cat_path, f) for f in lake_files(cat_path, "releases")} == before


@pytest.mark.slow
def test_cli_demo_runs_and_prints_where(tmp_path):
    env = dict(os.environ, PREFECT_HOME=str(ROOT / ".prefect"))
    env.pop("PIIFLOW_KEY", None)
    p = subprocess.run([sys.executable, "-m", "flows.cli", "demo", "--rows", "10000", "--dir", str(tmp_path / "lake"),
                        "--json"], capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    result = json.loads(p.stdout)
    assert result["releases"]["analytics"]["published"] > 0
    assert (tmp_path / ".lake.key").exists()  # the demo key lives outside the lake
    assert not any(f.name.endswith(".key") for f in (tmp_path / "lake").rglob("*"))
    small = subprocess.run([sys.executable, "-m", "flows.cli", "demo", "--rows", "500", "--dir", str(tmp_path / "x")],
                           capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert small.returncode == 1 and "--rows: expected at least 10,000" in small.stderr
