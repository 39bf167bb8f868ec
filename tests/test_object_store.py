"""The lake on an object store (#17): the same pipeline on ``s3://`` as on a folder, against a real S3 endpoint
(moto's standalone server on 127.0.0.1, started by the tests), with the guarantees that rest on rename and locks
kept by whole-object writes, a commit marker and conditional writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from configs.catalog import catalog_from_dict, load_catalog
from configs.errors import PolicyError, StorageError
from configs.locations import ObjectPath, parse_location
from configs.settings import Settings
from flows.storage import lake_fs, release_store, storage_for, survey
from tests.helpers import ROOT, make_lake, short_retention, upload_lake

BIN = Path(sys.executable).parent


# -- locations: no network -----------------------------------------------------------------------------------------


def test_a_location_is_a_path_or_an_s3_uri_and_an_s3_key_never_reaches_the_local_disk(tmp_path):
    p = parse_location("s3://lake-1/demo/x")
    assert isinstance(p, ObjectPath) and p.uri == "s3://lake-1/demo/x" and p.bucket == "lake-1" and p.key == "demo/x"
    assert isinstance(p / "releases", ObjectPath) and (p / "a").parent == p
    with pytest.raises(TypeError, match="not on the local disk"):
        open(p / "f", "wb")
    import pyarrow.parquet as pq

    with pytest.raises(TypeError):
        pq.write_table(pa.table({"a": [1]}), p / "f.parquet")
    assert parse_location(str(tmp_path)) == tmp_path
    for bad, why in [("gs://b/x", "gs:// URI"), ("s3://B/x", "bucket"), ("s3://lake-1/a/../b", "'..'"),
                     ("s3://lake-1//b", "empty")]:
        with pytest.raises(ValueError, match=why):
            parse_location(bad)


def test_a_catalog_on_s3_keeps_its_uri_and_refuses_credentials():
    import yaml

    raw = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    cat = catalog_from_dict(raw, root="s3://lake-1/prod")
    assert cat.lake.root == ObjectPath("/lake-1/prod") and cat.release_path("analytics") == ObjectPath(
        "/lake-1/prod/releases/analytics")
    raw["lake"]["storage"] = {"endpoint": "https://oss-cn-hangzhou.aliyuncs.com"}
    assert catalog_from_dict(raw, root="s3://lake-1/prod").lake.storage.endpoint.startswith("https://oss")
    for secret in ("secret_access_key", "aws_access_key_id", "session_token"):
        raw["lake"]["storage"] = {secret: "abc"}
        with pytest.raises(PolicyError, match="credentials never go in the catalog") as e:
            catalog_from_dict(raw, root="s3://lake-1/prod")
        assert "abc" not in str(e.value)


# -- on the S3 server ------------------------------------------------------------------------------------------------


def _env(server) -> dict:
    return {**os.environ, **server.env, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def test_generate_writes_the_bucket_and_nothing_local(s3, tmp_path):
    bucket = s3.bucket()
    r = subprocess.run([str(BIN / "piiflow"), "generate", "--dir", f"s3://{bucket}/lake", "--rows", "2000",
                        "--start", "2026-10-01", "--end", "2026-10-02", "--json"],
                       cwd=tmp_path, env=_env(s3), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["root"] == f"s3://{bucket}/lake"
    assert list(tmp_path.iterdir()) == []  # no folder named "s3:" here, nothing written locally
    keys = s3.keys(bucket)
    assert "lake/_truth/identifiers.parquet" in keys
    assert any(k.startswith("lake/raw/device_events/dt=2026-10-01/") for k in keys)
    assert s3.env["AWS_SECRET_ACCESS_KEY"] not in r.stdout + r.stderr


def test_a_missing_bucket_or_one_in_another_region_is_refused_in_one_line(s3, tmp_path):
    env = _env(s3)
    r = subprocess.run([str(BIN / "piiflow"), "generate", "--dir", "s3://no-such-bucket-here/lake", "--rows", "100"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "the bucket does not exist" in r.stderr and "Traceback" not in r.stderr
    abroad = s3.bucket(region="eu-west-1")
    r = subprocess.run([str(BIN / "piiflow"), "generate", "--dir", f"s3://{abroad}/lake", "--rows", "100"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "region 'eu-west-1'" in r.stderr, r.stderr
    assert s3.keys(abroad) == []  # clause 5.1: nothing written outside the allowed regions
    # a catalog whose s3 root holds nothing is refused like a local root that does not exist
    cat_path, _ = make_lake(tmp_path / "l", rows=200, start=date(2026, 9, 1), end=date(2026, 9, 1))
    empty = s3.bucket()
    typo = upload_lake(tmp_path / "l", s3, empty, "lake", tmp_path / "c")
    typo.write_text(typo.read_text().replace(f"s3://{empty}/lake", f"s3://{empty}/lakes"))
    r = subprocess.run([str(BIN / "piiflow"), "scan", "-c", str(typo)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and "does not exist (nothing under that prefix)" in r.stderr, r.stderr
    assert not [k for k in s3.keys(empty) if k.startswith("lakes/")]
    r = subprocess.run([str(BIN / "piiflow"), "scan", "-c", str(typo)], cwd=tmp_path,
                       env={k: v for k, v in env.items() if k != "AWS_SECRET_ACCESS_KEY"}, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and "no credentials for the object store" in r.stderr, r.stderr
    r = subprocess.run([str(BIN / "piiflow"), "generate", "--dir", "gs://bucket/lake", "--rows", "100"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "gs:// URI" in r.stderr and not (tmp_path / "gs:").exists()


def test_a_plain_http_endpoint_needs_allow_http(s3, monkeypatch):
    import yaml

    raw = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    monkeypatch.delenv("AWS_ALLOW_HTTP")
    with pytest.raises(StorageError, match="AWS_ALLOW_HTTP"):
        lake_fs(catalog_from_dict(raw, root="s3://lake-x/l"))
    raw["lake"]["storage"] = {"allow_http": True}
    assert lake_fs(catalog_from_dict(raw, root="s3://lake-x/l")).config.allow_http


def test_erasure_and_audit_on_s3(s3, tmp_path):
    """An erasure on s3:// removes the subjects' rows; a re-run changes nothing; the audit chain verifies; no raw
    identifier and no credential reaches the receipts, reports or audit log in the bucket. (Killed at random points:
    tests/test_fault_injection_s3.py.)"""
    from flows.audit import verify_catalog
    from flows.erase import run_erase

    make_lake(tmp_path / "l", rows=600, start=date(2026, 9, 1), end=date(2026, 9, 4), seed=5)
    bucket = s3.bucket()
    catalog = load_catalog(upload_lake(tmp_path / "l", s3, bucket, "lake", tmp_path / "c"))
    s3_server = s3
    reg = storage_for(catalog, "registration")
    users = sorted({u for p in reg.list_partitions() for u in reg.read(p, ["user_id"]).column(0).to_pylist()})[:2]
    subjects = tmp_path / "subjects.txt"
    subjects.write_text("\n".join(users) + "\n", encoding="utf-8")
    res = run_erase(catalog, subjects, None, execute=True, settings=Settings())
    assert res["executed"] and sum(res["receipt"]["rows"].values()) > 0
    for p in reg.list_partitions():
        assert not set(users) & set(reg.read(p, ["user_id"]).column(0).to_pylist())
    v = verify_catalog(catalog, Settings())
    assert v.ok and v.entries >= 3, v.problem
    again = run_erase(catalog, subjects, None, execute=True, settings=Settings())
    assert not again.get("receipt") or sum(again["receipt"]["rows"].values()) == 0
    text = json.dumps(res, default=str) + "".join(
        s3_server.client().get_object(Bucket=bucket, Key=k)["Body"].read().decode("utf-8", "replace")
        for k in s3_server.keys(bucket, "lake/state/") if k.endswith((".json", ".jsonl", ".md")))
    assert not any(u in text for u in users)  # no raw identifier in the receipts, reports or audit
    assert s3_server.env["AWS_SECRET_ACCESS_KEY"] not in text


def test_an_audit_append_on_s3_reads_the_log_once_and_a_writer_in_between_keeps_the_chain(s3, tmp_path):
    """An entry is made from the log as it is when written: one GET and one conditional PUT of the log (and the
    head's PUT), not five requests; if another writer appends between the GET and the PUT, the entry is made again
    after its entry, so the chain stays one line and verifies."""
    from flows.audit import AuditLog, verify_catalog

    make_lake(tmp_path / "l", rows=40, start=date(2026, 9, 1), end=date(2026, 9, 2), seed=5)
    bucket = s3.bucket()
    catalog = load_catalog(upload_lake(tmp_path / "l", s3, bucket, "lake", tmp_path / "c"))
    log, other = AuditLog.of(catalog, Settings()), AuditLog.of(catalog, Settings())
    log.append("test.first")
    calls: list[str] = []

    def count(model, **_):
        calls.append(model.name)

    events = log.fs.client.meta.events
    events.register("before-call.s3", count)
    try:
        log.append("test.second")
    finally:
        events.unregister("before-call.s3", count)
    assert sorted(calls) == ["GetObject", "PutObject", "PutObject"]

    put, raced = log.fs._put, []

    def put_after_another_writer(path, data, **conditions):
        if not raced and str(path).endswith("audit.jsonl"):
            raced.append(True)
            other.append("test.other")  # lands between this writer's read and its write
        return put(path, data, **conditions)

    log.fs._put = put_after_another_writer
    try:
        entry = log.append("test.third")
    finally:
        del log.fs._put
    lines = [json.loads(x) for x in s3.client().get_object(
        Bucket=bucket, Key="lake/state/audit.jsonl")["Body"].read().splitlines()]
    assert [e["event"] for e in lines] == ["test.first", "test.second", "test.other", "test.third"]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4] and entry == lines[-1]
    assert all(b["prev"] == a["hash"] for a, b in zip(lines, lines[1:]))
    v = verify_catalog(catalog, Settings())
    assert v.ok and v.entries == 4, v.problem


def test_a_digest_of_what_was_just_read_or_written_costs_a_head_and_follows_a_change(s3, tmp_path, monkeypatch):
    """A purge digests each file it has just read, and again after rewriting it: on an object store that is a HEAD
    (the ETag still the one read or written), not a second download; an object changed by someone else in between
    is downloaded again and digested as it is now. Uploads in one PUT and in parts alike."""
    import hashlib

    from flows.storage import objectstore

    make_lake(tmp_path / "l", rows=40, start=date(2026, 9, 1), end=date(2026, 9, 1), seed=5)
    bucket = s3.bucket()
    fs = lake_fs(load_catalog(upload_lake(tmp_path / "l", s3, bucket, "lake", tmp_path / "c")))
    path = next(p for p in fs.walk_files(fs.root) if str(p).endswith(".parquet"))
    calls: list[str] = []
    fs.client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))

    data = fs.read_bytes(path)
    calls.clear()
    assert fs.digest(path) == hashlib.sha256(data).hexdigest()
    assert calls == ["HeadObject"]

    key = ObjectPath(str(path)).key
    s3.client().put_object(Bucket=bucket, Key=key, Body=b"written by someone else")
    calls.clear()
    assert fs.digest(path) == hashlib.sha256(b"written by someone else").hexdigest()
    assert calls == ["HeadObject", "GetObject"]

    for single_put, body in ((objectstore._SINGLE_PUT, b"one put " * 100), (0, b"in parts " * 100)):
        monkeypatch.setattr(objectstore, "_SINGLE_PUT", single_put)
        with fs.atomic_file(path) as tmp:
            tmp.write_bytes(body)
        calls.clear()
        assert fs.digest(path) == hashlib.sha256(body).hexdigest()
        assert calls == ["HeadObject"]
    with pytest.raises(FileNotFoundError):
        fs.digest(fs.root / "no" / "such.parquet")


def test_a_hostile_key_is_reported_and_never_touched(s3, tmp_path):
    cat_path, _ = make_lake(tmp_path / "l", rows=300, start=date(2026, 9, 1), end=date(2026, 9, 2))
    bucket = s3.bucket()
    cat = load_catalog(upload_lake(tmp_path / "l", s3, bucket, "lake", tmp_path / "c"))
    c = s3.client()
    for key in ("lake/raw/device_events/../escape.parquet", "lake/raw/device_events//twice.parquet"):
        c.put_object(Bucket=bucket, Key=key, Body=b"x")
    problems = [str(p) for p in survey(cat, ["device_events"], [])]
    assert any("'..'" in p for p in problems) and any("empty" in p for p in problems), problems
    fs = lake_fs(cat)
    with pytest.raises(StorageError, match="'..' in a key"):
        fs.delete_file(cat.dataset_path("device_events") / ".." / "escape.parquet")
    with pytest.raises(StorageError, match="outside"):
        fs.write_bytes(ObjectPath(f"/{bucket}/elsewhere/x"), b"x")
    assert "lake/raw/device_events/../escape.parquet" in s3.keys(bucket)


def test_the_lakes_lock_on_s3(s3, tmp_path):
    cat_path, _ = make_lake(tmp_path / "l", rows=200, start=date(2026, 9, 1), end=date(2026, 9, 1))
    bucket = s3.bucket()
    cat = load_catalog(upload_lake(tmp_path / "l", s3, bucket, "lake", tmp_path / "c"))
    fs = lake_fs(cat)
    import contextvars

    def another_run():  # a run of its own: a fresh context, which holds no lock (a run's steps share its hold)
        with pytest.raises(StorageError, match="another piiflow run holds the lake's lock"):
            with fs.exclusive_lock(cat.state_path, "erase"):
                pass

    with fs.exclusive_lock(cat.state_path, "purge"):
        assert "lake/state/.lock" in s3.keys(bucket)
        with fs.exclusive_lock(cat.state_path, "purge step"):  # re-entrant within the run
            assert "lake/state/.lock" in s3.keys(bucket)
        contextvars.Context().run(another_run)
    assert "lake/state/.lock" not in s3.keys(bucket)
    # a lock whose owner on this host was killed is taken over; one held on another host is not
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    for host, pid, taken in ((socket.gethostname(), int(dead.stdout), True), ("other-host", 1, False)):
        s3.client().put_object(Bucket=bucket, Key="lake/state/.lock", Body=json.dumps(
            {"host": host, "pid": pid, "since": "2026-12-01T00:00:00Z"}).encode())
        if taken:
            with fs.exclusive_lock(cat.state_path, "purge"):
                pass
        else:
            with pytest.raises(StorageError, match="since 2026-12-01T00:00:00Z on host other-host"):
                with fs.exclusive_lock(cat.state_path, "purge"):
                    pass


def test_a_publish_killed_between_its_copies_is_rolled_forward_or_discarded(s3, tmp_path):
    """The manifest is a partition's commit: a staged partition marked COMMITTING (approved, copies begun) is
    finished by recovery; an unmarked one (never approved) is discarded and the published one stays as it was."""
    from flows.storage import recover_release
    from flows.storage.releases import COMMITTING

    cat_path, _ = make_lake(tmp_path / "l", rows=200, start=date(2026, 9, 1), end=date(2026, 9, 1))
    bucket = s3.bucket()
    cat = load_catalog(upload_lake(tmp_path / "l", s3, bucket, "lake", tmp_path / "c"))
    fs = lake_fs(cat)
    store = release_store(cat, "analytics", "device_events")
    dt = date(2026, 9, 1)

    def stage(version: int):
        st = store.stage(dt)
        fs.write_parquet(st / "data" / "part-00000.parquet", pa.table({"v": [version] * 3}))
        fs.write_bytes(st / "meta" / "manifest.json", json.dumps({"v": version}).encode())
        return st

    store.publish(stage(1), dt)
    assert store.manifest(dt) == {"v": 1}
    # killed after the data copy, before the manifest: marked, so rolled forward
    st = stage(2)
    fs.write_bytes(st / COMMITTING, b"")
    fs.copy(st / "data" / "part-00000.parquet", store.target(dt) / "part-00000.parquet")
    recover_release(fs, cat.release_path("analytics"))
    assert store.manifest(dt) == {"v": 2}
    assert store.read_file(store.files(store.target(dt))[0]).column("v").to_pylist() == [2, 2, 2]
    # staged but never approved: discarded
    stage(3)
    recover_release(fs, cat.release_path("analytics"))
    assert store.manifest(dt) == {"v": 2}
    assert not [k for k in s3.keys(bucket) if "/_staging/" in k or "/state/staging/" in k]


def test_delta_on_s3_through_delta_rs(s3, tmp_path):
    """A Delta table on the bucket: written, partly rewritten and vacuumed with delta-rs's own safe commits."""
    import yaml

    raw = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    bucket = s3.bucket()
    cat = catalog_from_dict(raw, root=f"s3://{bucket}/lake")
    delta = [n for n, d in cat.datasets.items() if d.format == "delta"]
    assert delta, "the demo catalog has a Delta dataset"
    store = storage_for(cat, delta[0])
    cols = [c for c in cat.datasets[delta[0]].columns if c != "dt"]
    table = pa.table({c: pa.array([f"{c}-{i}" for i in range(4)]) for c in cols})
    store.write_partition(date(2026, 9, 1), table)
    store.write_partition(date(2026, 9, 2), table)
    parts = store.list_partitions()
    assert [p.dt for p in parts] == [date(2026, 9, 1), date(2026, 9, 2)]
    path = parts[0].paths[0]
    store.delete_rows(path, pa.array([True, False, False, False]))
    assert sum(store.read(p).num_rows for p in store.list_partitions()) == 7
    assert store.vacuum() >= 1
    assert any(k.startswith(f"lake/{cat.datasets[delta[0]].location}/_delta_log/") for k in s3.keys(bucket))


def test_short_retention_purge_on_s3_matches_local(s3, tmp_path):
    """The same purge on a folder and on the bucket removes the same rows (and leaves the same ones)."""
    from flows.purge import run_purge
    from tests.helpers import AS_OF, END, START
    from tests.test_fault_injection import row_hashes

    cat_path, _ = make_lake(tmp_path / "l", rows=600, start=START, end=END, seed=9)
    short_retention(cat_path)
    s3_cat = upload_lake(tmp_path / "l", s3, s3.bucket(), "lake", tmp_path / "c")
    local = run_purge(load_catalog(cat_path), AS_OF, execute=True, settings=Settings())
    remote = run_purge(load_catalog(s3_cat), AS_OF, execute=True, settings=Settings())
    assert local["rows"] == remote["rows"] > 0
    assert row_hashes(load_catalog(cat_path)) == row_hashes(load_catalog(s3_cat))
