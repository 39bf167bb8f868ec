"""The fault-injection tests of ``tests/test_fault_injection.py`` on an object store: the lake in a bucket of the
test S3 server (moto's, on 127.0.0.1), where there is no rename: a purge, an erasure and a sunset SIGKILLed at
random points and re-run end exactly as an uninterrupted run, leave no temporary, staging, marker or lock object,
and an audit chain that verifies. (A file of its own so that it runs beside the local ones.)"""

import hashlib
import json
import random
from collections import Counter

import pytest

from configs.catalog import load_catalog
from configs.settings import Settings
from flows.audit import verify_catalog
from flows.storage import lake_fs, storage_for
from tests.helpers import copy_s3_lake, lake_files, lake_read, upload_lake
from tests.test_fault_injection import _kill_then_rerun, _timed, make_fault_lake, row_hashes

#: At least 10 kills of a purge on s3:// (#17); the erasure and each sunset mode fewer (each run costs more there).
PURGE_KILLS, ERASE_KILLS, SUNSET_KILLS = 10, 2, 2


def object_leftovers(server, bucket: str, prefix: str) -> list[str]:
    """What an interrupted run may leave under a lake's prefix: temporaries, staging, publish markers, the lock."""
    return [k for k in server.keys(bucket, prefix + "/") if ".tmp-" in k or "/_staging/" in k or "/state/staging/" in k
            or k.endswith(("/COMMITTING", "state/.lock"))]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return make_fault_lake(tmp_path_factory.mktemp("fault-pristine-s3"))


@pytest.fixture
def s3_pristine(pristine, s3, tmp_path):
    """The module's pristine lake uploaded to a new bucket: (server, bucket, catalog of the copy at prefix base)."""
    bucket = s3.bucket()
    return s3, bucket, upload_lake(pristine, s3, bucket, "base", tmp_path / "base")


@pytest.mark.slow
def test_purge_killed_at_random_points_on_s3(s3_pristine, tmp_path):
    s3, bucket, base = s3_pristine
    ref = copy_s3_lake(s3, base, "ref", tmp_path / "ref")
    window = _timed("purge", ref)
    expected = row_hashes(load_catalog(ref))
    rng = random.Random(2026)
    landed = 0
    for i in range(PURGE_KILLS):
        work = copy_s3_lake(s3, base, f"run{i}", tmp_path / f"run{i}")
        landed += _kill_then_rerun("purge", (work,), window, rng)
        cat = load_catalog(work)
        assert row_hashes(cat) == expected, f"kill {i}: rows differ from an uninterrupted run"
        assert object_leftovers(s3, bucket, f"run{i}") == []
        v = verify_catalog(cat, Settings())
        assert v.ok, v.problem
    print(f"purge on s3: {landed} of {PURGE_KILLS} kills landed mid-run (window {window:.2f}s)")
    assert landed >= PURGE_KILLS // 2, f"only {landed} of {PURGE_KILLS} kills landed mid-run"


@pytest.mark.slow
def test_erasure_killed_at_random_points_on_s3(s3_pristine, tmp_path, prefect_harness):
    from flows.deidentify import deidentify_flow

    s3, bucket, base = s3_pristine
    deidentify_flow(str(base), "crm_research")
    cat = load_catalog(base)
    calls = storage_for(cat, "call_records")
    users = sorted(set(calls.read(calls.list_partitions()[0]).column("user_id").to_pylist()))[:15]
    subjects = tmp_path / "subjects.txt"
    subjects.write_text("\n".join(users) + "\n")
    ref = copy_s3_lake(s3, base, "ref", tmp_path / "ref")
    window = _timed("erase", ref, subjects)
    expected = row_hashes(load_catalog(ref))
    releases_expected = lake_files(ref, "releases", ".parquet")
    assert releases_expected
    rng = random.Random(7)
    landed = 0
    for i in range(ERASE_KILLS):
        work = copy_s3_lake(s3, base, f"erun{i}", tmp_path / f"erun{i}")
        landed += _kill_then_rerun("erase", (work, subjects), window, rng)
        cat = load_catalog(work)
        assert row_hashes(cat) == expected, f"kill {i}"
        assert object_leftovers(s3, bucket, f"erun{i}") == []
        assert lake_files(work, "releases", ".parquet") == releases_expected
        ledger = lake_read(work, "state/erasure/ledger.jsonl").decode().splitlines()
        assert len(ledger) == 1, "a request is recorded once, however often it was interrupted"
        assert verify_catalog(cat, Settings()).ok
    print(f"erasure on s3: {landed} of {ERASE_KILLS} kills landed mid-run (window {window:.2f}s)")
    assert landed >= 1


def _archive_hashes(cat_path) -> dict[str, Counter]:
    cat = load_catalog(cat_path)
    fs = lake_fs(cat)
    out: dict[str, Counter] = {}
    for rel in lake_files(cat_path, "releases/sunset_archive", ".parquet"):
        dataset = rel.split("/")[2]
        if dataset.startswith("_"):
            continue
        c = out.setdefault(dataset, Counter())
        for r in fs.read_parquet(cat.lake.root / rel).to_pylist():
            c[hashlib.sha256(json.dumps(r, sort_keys=True, default=str).encode()).hexdigest()] += 1
    return out


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["delete", "anonymise"])
def test_sunset_killed_at_random_points_on_s3(s3_pristine, tmp_path, prefect_harness, mode):
    from flows.deidentify import deidentify_flow

    s3, bucket, base = s3_pristine
    for release in ("crm_research", "marketing"):
        deidentify_flow(str(base), release)
    ref = copy_s3_lake(s3, base, "ref", tmp_path / "ref")
    window = _timed("sunset", ref, mode)
    expected, archive = row_hashes(load_catalog(ref)), _archive_hashes(ref)
    assert not expected["call_records"] and not expected["usage_events"] and expected["chat_messages"]
    assert bool(archive) == (mode == "anonymise")
    releases_expected = lake_files(ref, "releases", ".parquet")
    rng = random.Random(55)
    landed = 0
    for i in range(SUNSET_KILLS):
        work = copy_s3_lake(s3, base, f"srun{i}", tmp_path / f"srun{i}")
        landed += _kill_then_rerun("sunset", (work, mode), window, rng)
        cat = load_catalog(work)
        assert row_hashes(cat) == expected, f"kill {i}"
        assert _archive_hashes(work) == archive, f"kill {i}: the archive differs"
        assert lake_files(work, "releases", ".parquet") == releases_expected
        assert object_leftovers(s3, bucket, f"srun{i}") == []
        assert len(lake_read(work, "state/sunset/ledger.jsonl").decode().splitlines()) == 1
        assert not lake_files(work, "state/sunset/pending", ".json")
        assert verify_catalog(cat, Settings()).ok
    print(f"sunset {mode} on s3: {landed} of {SUNSET_KILLS} kills landed mid-run (window {window:.2f}s)")
