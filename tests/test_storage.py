"""Storage adapters: atomic writes, hidden temporaries, encodings, partitions and the region check."""

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from configs.catalog import catalog_from_dict
from configs.errors import StorageError
from flows import storage
from flows.storage import LakeFS, storage_for
from flows.storage import fs as fs_module


def _catalog(root: Path, fmt="jsonl", files="app-{dt}.jsonl.gz", region=None):
    ds = {"category": "log", "location": "raw/logs", "format": fmt, "event_time": "ts",
          "columns": {"ts": {"kind": "quasi"}, "msg": {"kind": "free_text", "op": "redact_entities"}}}
    if files:
        ds["files"] = files
    if region:
        ds["region"] = region
    return catalog_from_dict({"lake": {"root": str(root), "region": "cn-north-1", "allowed_regions": ["cn-*"]},
                              "datasets": {"logs": ds}})


def test_atomic_file_leaves_old_content_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    fs = LakeFS(tmp_path)
    fs.write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with fs.atomic_file(target) as tmp:
            tmp.write_bytes(b"half")
            assert tmp.name.startswith(".tmp-")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_reader_never_lists_temporaries(tmp_path):
    cat = _catalog(tmp_path)
    store = storage_for(cat, "logs")
    store.write_partition(date(2026, 1, 1), pa.table({"ts": ["2026-01-01T10:00:00+08:00"], "msg": ["你好"]}))
    (store.path / ".tmp-app-2026-01-02.jsonl.gz-abcd").write_bytes(b"partial")
    (store.path / "_manifest.json").write_text("{}")
    assert [p.label for p in store.list_partitions()] == ["dt=2026-01-01"]


@pytest.mark.parametrize("fmt, files", [("jsonl", "app-{dt}.jsonl.gz"), ("jsonl", "app-{dt}.jsonl"),
                                        ("csv", "calls-{dt}.csv"), ("csv", "calls-{dt}.csv.gz")])
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_text_round_trip_any_encoding(tmp_path, fmt, files, encoding):
    cat = _catalog(tmp_path, fmt, files)
    store = storage_for(cat, "logs")
    table = pa.table({"ts": ["2026-01-01T10:00:00+08:00", None], "msg": ["手机13800138000，地址成都", "plain, \"quoted\""]})
    part = store.write_partition(date(2026, 1, 1), table, encoding=encoding)
    assert store.detect_encoding(part.paths[0]) == encoding
    assert store.read(part).to_pylist() == table.to_pylist()
    # Replacing keeps the file's encoding
    store.replace_file(part.paths[0], table.slice(0, 1))
    assert store.detect_encoding(part.paths[0]) == encoding
    assert store.read(part).num_rows == 1


def test_csv_keeps_phone_numbers_as_text(tmp_path):
    cat = _catalog(tmp_path, "csv", "calls-{dt}.csv")
    store = storage_for(cat, "logs")
    part = store.write_partition(date(2026, 1, 1), pa.table({"ts": ["x"], "msg": ["013800138000"]}))
    assert store.read(part).column("msg").to_pylist() == ["013800138000"]  # leading zero kept


def test_parquet_partitions_by_date_and_range(tmp_path):
    cat = catalog_from_dict({"lake": {"root": str(tmp_path), "region": "cn-north-1"}, "datasets": {"d": {
        "category": "device", "location": "raw/d", "format": "parquet", "columns": {"x": {"kind": "other"}}}}})
    store = storage_for(cat, "d")
    for day in (1, 2, 3):
        store.write_partition(date(2026, 1, day), pa.table({"x": [day]}))
    assert [p.label for p in store.list_partitions()] == ["dt=2026-01-01", "dt=2026-01-02", "dt=2026-01-03"]
    assert [p.dt.day for p in store.list_partitions(date(2026, 1, 2), date(2026, 1, 2))] == [2]
    part = store.list_partitions()[0]
    store.delete_file(part.paths[0])
    assert not (tmp_path / "raw" / "d" / "dt=2026-01-01").exists()


def test_undecodable_file_is_a_clear_error(tmp_path):
    cat = _catalog(tmp_path, "jsonl", "app-{dt}.jsonl")
    store = storage_for(cat, "logs")
    store.path.mkdir(parents=True)
    (store.path / "app-2026-01-01.jsonl").write_bytes(b'{"ts": "x", "msg": "\xff\xfe\xfa"}\n')
    cat2 = cat.model_copy(update={"datasets": {"logs": cat.datasets["logs"].model_copy(
        update={"encodings": ("utf-8",)})}})
    with pytest.raises(StorageError, match=r"raw/logs/app-2026-01-01.jsonl: cannot decode with any of \['utf-8'\]"):
        storage_for(cat2, "logs").read(storage_for(cat2, "logs").list_partitions()[0])


def test_write_outside_allowed_region_is_refused(tmp_path):
    cat = _catalog(tmp_path)
    store = storage_for(cat, "logs")
    store.region = "us-east-1"  # as if the catalog had been bypassed
    with pytest.raises(StorageError, match="refusing to write dataset 'logs' in region 'us-east-1'"):
        store.write_partition(date(2026, 1, 1), pa.table({"ts": ["x"], "msg": ["y"]}))
    assert not (tmp_path / "raw" / "logs").exists()


def test_publish_dir_swaps_and_recovers(tmp_path):
    fs = LakeFS(tmp_path)
    target = tmp_path / "rel" / "dt=2026-01-01"
    s1 = fs.staging_dir(target)
    (s1 / "a").write_text("v1")
    fs.publish_dir(s1, target)
    s2 = fs.staging_dir(target)
    (s2 / "a").write_text("v2")
    fs.publish_dir(s2, target)
    assert (target / "a").read_text() == "v2"
    assert [p.name for p in target.parent.iterdir()] == ["dt=2026-01-01"]
    # A run killed between the two renames of a publish: the previous folder comes back.
    old = target.parent / f".old-{target.name}"
    target.rename(old)
    fs.recover(tmp_path / "rel")
    assert (target / "a").read_text() == "v2"
    # Killed after both renames, before the old one was removed: the old one goes, the new one stays.
    (old / "a").parent.mkdir()
    (old / "a").write_text("v1")
    fs.recover(tmp_path / "rel")
    assert not old.exists() and (target / "a").read_text() == "v2"


def test_is_hidden():
    assert storage.is_hidden(".tmp-x") and storage.is_hidden("_manifest.json") and not storage.is_hidden("dt=1")


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "delta"])
def test_read_columns_selects_and_names_every_column(tmp_path, fmt):
    """A release reads only the columns it needs and still learns every column the file has (to report the
    undeclared ones); columnar formats never decode the others."""
    files = {"jsonl": "d-{dt}.jsonl"}.get(fmt)
    ds = {"category": "device", "location": "raw/d", "format": fmt, "columns": {"x": {"kind": "other"}}}
    if files:
        ds["files"] = files
    cat = catalog_from_dict({"lake": {"root": str(tmp_path), "region": "cn-north-1"}, "datasets": {"d": ds}})
    store = storage_for(cat, "d")
    store.write_partition(date(2026, 1, 1), pa.table({"x": [1, 2], "secret": ["a", "b"], "y": [3, 4]}))
    path = store.list_partitions()[0].paths[0]
    table, names = store.read_columns(path, ["y", "x", "absent"])
    assert sorted(table.column_names) == ["x", "y"] and [str(v) for v in table.column("x").to_pylist()] == ["1", "2"]
    assert {"x", "secret", "y"} <= set(names)


def test_publishing_folders_synced_by_their_writer_only_renames(tmp_path, monkeypatch):
    """A release's tasks fsync what they stage (in parallel); publishing then renames, and fsyncs each parent
    folder once rather than once per partition."""
    import os

    fs = LakeFS(tmp_path)
    staged = []
    for ds, day in [("a", 1), ("a", 2), ("b", 1)]:
        target = tmp_path / "rel" / ds / f"dt=2026-01-0{day}"
        s = fs.staging_dir(target)
        (s / "part.parquet").write_text(f"{ds}{day}")
        fs.sync_tree(s)
        staged.append((s, target))
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(fs_module.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    for s, target in staged:
        fs.publish_dir(s, target, synced=True, sync_parent=False)
    assert synced == []  # renames only
    fs.sync_parents([t for _, t in staged])
    assert len(synced) == 2  # rel/a and rel/b, once each
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "rel").glob("*/dt=*/part.parquet")) == [
        "rel/a/dt=2026-01-01/part.parquet", "rel/a/dt=2026-01-02/part.parquet", "rel/b/dt=2026-01-01/part.parquet"]
    synced.clear()
    s = fs.staging_dir(staged[0][1])
    (s / "part.parquet").write_text("again")
    fs.publish_dir(s, staged[0][1])  # by default: the staged file and folder, then the parent
    assert len(synced) == 3


def test_delta_history_holds_names_the_old_versions_that_still_hold_rows_until_vacuum(tmp_path):
    """What the purge's and the erasure's time-travel check stands on: versions older than the current one whose
    files can still be read and hold a selected row are named (each shared file judged once), none after vacuum."""
    import pyarrow.compute as pc

    ds = {"category": "usage", "location": "raw/u", "format": "delta", "columns": {"u": {"kind": "other"}}}
    cat = catalog_from_dict({"lake": {"root": str(tmp_path), "region": "cn-north-1"}, "datasets": {"u": ds}})
    store = storage_for(cat, "u")
    store.write_partition(date(2026, 1, 1), pa.table({"u": ["keep", "gone"]}))  # version 0
    store.write_partition(date(2026, 1, 2), pa.table({"u": ["keep2"]}))  # version 1: day 1's file shared
    day1 = next(p for p in store.list_partitions() if p.dt == date(2026, 1, 1))
    store.replace_file(day1.paths[0], pa.table({"u": ["keep"]}))  # version 2: "gone" deleted
    reads = []
    real_read = store.read_file
    store.read_file = lambda path, columns=None: reads.append(str(path)) or real_read(path, columns)
    gone = (lambda t: pc.equal(t.column("u"), "gone"))
    assert store.history_holds(gone) == [0, 1]
    assert len(reads) == len(set(reads)) == 2  # day 1's old file and day 2's file, each read once
    assert store.history_holds(lambda t: pc.equal(t.column("u"), "never")) == []
    assert store.vacuum() >= 1
    assert store.history_holds(gone) == []


def test_a_delta_table_is_checkpointed_without_identifiers_and_its_history_still_checked(tmp_path):
    """Opening a table reads the commits since its last checkpoint: piiflow's tables are checkpointed every
    CHECKPOINT_INTERVAL commits. A checkpoint holds no identifier, and time travel past it still works."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from flows.storage.delta import CHECKPOINT_INTERVAL

    ds = {"category": "usage", "location": "raw/u", "format": "delta", "event_time": "ts",
          "columns": {"u": {"kind": "direct"}, "ts": {"kind": "other"}}}
    cat = catalog_from_dict({"lake": {"root": str(tmp_path), "region": "cn-north-1"}, "datasets": {"u": ds}})
    store = storage_for(cat, "u")
    for i in range(CHECKPOINT_INTERVAL + 2):
        store.write_partition(date(2026, 1, 1 + i), pa.table({"u": [f"secret-user-{i}"], "ts": [i]}))
    log = store.path / "_delta_log"
    checkpoints = sorted(log.glob("*.checkpoint.parquet"))
    assert checkpoints and (log / "_last_checkpoint").exists()
    assert "secret-user" not in "".join(str(pq.read_table(p).to_pylist()) for p in checkpoints)
    assert len(store.list_partitions()) == CHECKPOINT_INTERVAL + 2
    day1 = store.list_partitions()[0]
    store.replace_file(day1.paths[0], pa.table({"u": ["kept"], "ts": [0]}))
    assert store.history_holds(lambda t: pc.equal(t.column("u"), "secret-user-0")) == list(
        range(CHECKPOINT_INTERVAL + 2))
