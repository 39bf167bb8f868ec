"""The synthetic lake is deterministic, realistic in format, and its truth file matches its data exactly."""

from datetime import date

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from configs.catalog import load_catalog
from flows.storage import storage_for
from tests.helpers import make_lake
from transforms import synth
from transforms.checksums import luhn_ok, resident_id_ok


def _read_all(catalog, name):
    store = storage_for(catalog, name)
    import pyarrow as pa
    return pa.concat_tables([store.read(p) for p in store.list_partitions()], promote_options="permissive")


def test_same_seed_same_lake_different_seed_different(tmp_path):
    spec = dict(rows=600, start=date(2026, 3, 1), end=date(2026, 3, 3))
    _, a = make_lake(tmp_path / "a", seed=5, **spec)
    _, b = make_lake(tmp_path / "b", seed=5, **spec)
    _, c = make_lake(tmp_path / "c", seed=6, **spec)
    def files(root):  # Delta tables name files by UUID and log commit times: compared by rows below
        return sorted(p.relative_to(root) for p in root.rglob("*")
                      if p.is_file() and p.name != "catalog.yaml" and "usage_events" not in p.parts)
    files_a, files_b = files(a.root), files(b.root)
    assert files_a == files_b
    for rel in files_a:
        if rel.suffix == ".parquet":
            assert pq.read_table(a.root / rel).equals(pq.read_table(b.root / rel)), rel
        else:
            assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes(), rel
    ca, cb = load_catalog(a.root / "catalog.yaml"), load_catalog(b.root / "catalog.yaml")
    assert _read_all(ca, "usage_events").sort_by("event_id").equals(_read_all(cb, "usage_events").sort_by("event_id"))
    assert not pq.read_table(a.truth_path).equals(pq.read_table(c.truth_path))


def test_truth_matches_the_data(small_lake):
    cat_path, res = small_lake
    catalog = load_catalog(cat_path)
    truth = pq.read_table(res.truth_path)
    assert truth.num_rows > 1000
    assert set(pc.unique(truth["dataset"]).to_pylist()) == set(catalog.datasets)
    for name, ds in catalog.datasets.items():
        data = _read_all(catalog, name)
        rows = {r[ds.row_key]: r for r in data.to_pylist()}
        t = truth.filter(pc.equal(truth["dataset"], name)).to_pylist()
        assert t, name
        for rec in t:
            cell = rows[rec["row_key"]][rec["column"]]
            if rec["start"] is None:
                assert cell == rec["value"], (name, rec["column"])
            else:
                assert cell[rec["start"]:rec["end"]] == rec["value"], (name, rec["column"])


def test_free_text_carries_planted_identifiers_of_each_kind(small_lake):
    _, res = small_lake
    truth = pq.read_table(res.truth_path)
    free = truth.filter(pc.is_valid(truth["start"]))
    kinds = set(pc.unique(free["entity_type"]).to_pylist())
    assert {"PERSON", "CN_MOBILE", "CN_RESIDENT_ID", "EMAIL_ADDRESS", "CN_ADDRESS"} <= kinds


def test_checksums_are_valid(small_lake):
    _, res = small_lake
    truth = pq.read_table(res.truth_path)
    ids = truth.filter(pc.equal(truth["entity_type"], "CN_RESIDENT_ID"))["value"].to_pylist()
    imeis = truth.filter(pc.equal(truth["entity_type"], "IMEI"))["value"].to_pylist()
    cards = truth.filter(pc.equal(truth["entity_type"], "BANK_CARD"))["value"].to_pylist()
    assert ids and imeis
    assert all(resident_id_ok(v) for v in ids)
    assert all(luhn_ok(v) and len(v) == 15 for v in imeis)
    assert all(luhn_ok(v) for v in cards)


def test_formats_real_services_leave(small_lake):
    cat_path, res = small_lake
    root = res.root
    assert sorted(p.name for p in (root / "raw" / "device_events").iterdir())[0].startswith("dt=2026-10-01")
    logs = sorted((root / "raw" / "app_logs").glob("app-*.jsonl.gz"))
    assert len(logs) == 6
    catalog = load_catalog(cat_path)
    store = storage_for(catalog, "app_logs")
    encodings = {store.detect_encoding(p) for p in logs}
    assert encodings == {"utf-8", "gb18030"}  # some days GBK-encoded, all readable
    assert (root / "raw" / "call_records" / "calls-2026-10-01.csv").exists()
    assert (root / "raw" / "enterprise_contacts" / "contacts.csv").exists()


def test_rows_are_spread_over_days_exactly():
    spec = synth.LakeSpec(seed=1, rows=1003, start=date(2026, 1, 1), end=date(2026, 1, 10))
    assert sum(spec.rows_on("device_events", d) for d in spec.days) == 1003


def test_spec_rejects_inverted_range():
    with pytest.raises(ValueError, match="before start"):
        synth.LakeSpec(seed=1, rows=10, start=date(2026, 1, 2), end=date(2026, 1, 1))


def test_big_day_is_written_in_bounded_chunks(tmp_path, monkeypatch):
    """A day larger than CHUNK_ROWS is generated and written chunk by chunk, with the same total."""
    from flows import generate
    monkeypatch.setattr(generate, "CHUNK_ROWS", 150)
    cat_path, res = make_lake(tmp_path / "l", rows=400, start=date(2026, 2, 1), end=date(2026, 2, 1))
    assert res.rows["device_events"] == 400
    assert len(list((res.root / "raw" / "device_events" / "dt=2026-02-01").glob("*.parquet"))) == 3
    catalog = load_catalog(cat_path)
    assert _read_all(catalog, "app_logs").num_rows == 400  # three chunks appended to one gzip stream
