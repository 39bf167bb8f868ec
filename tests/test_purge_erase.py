"""Retention and erasure on generated lakes: every format, legal holds, immutable quarantine, missing event times,
erasure in delete and anonymise modes, ledger idempotency, audit tampering, and bad input that changes nothing."""

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from configs.catalog import load_catalog
from configs.errors import PolicyError
from configs.settings import Settings
from flows.audit import AuditLog, verify, verify_catalog
from flows.erase import run_erase
from flows.purge import run_purge
from flows.storage import storage_for
from tests.helpers import AS_OF, END, START, copy_lake, make_lake, release_inputs, short_retention


@pytest.fixture()
def lake(tmp_path_factory, request):
    base = tmp_path_factory.getbasetemp() / "pristine-retention"
    if not base.exists():
        make_lake(base, rows=800, start=START, end=END, seed=21)
    dst = tmp_path_factory.mktemp("lake")
    copy_lake(base, dst, dirs_exist_ok=True)
    return dst / "catalog.yaml"


def rows_of(catalog, name):
    store = storage_for(catalog, name)
    tables = [store.read(p) for p in store.list_partitions()]
    return pa.concat_tables(tables, promote_options="permissive") if tables else None


def times(catalog, name):
    from transforms.times import to_timestamp
    ds = catalog.datasets[name]
    return to_timestamp(rows_of(catalog, name).column(ds.event_time), "Asia/Shanghai")


@pytest.mark.parametrize("dataset", ["device_events", "app_logs", "call_records", "chat_messages"])
def test_purge_plans_then_executes_for_each_format(lake, dataset):
    cat = short_retention(lake)
    before = rows_of(cat, dataset).num_rows
    plan = run_purge(cat, AS_OF, execute=False, settings=Settings())
    assert rows_of(cat, dataset).num_rows == before  # a plan touches nothing
    mine = [a for a in plan["actions"] if a["target"] == dataset]
    assert {a["action"] for a in mine} == {"delete", "rewrite"}  # whole days go, the cutoff day is rewritten
    res = run_purge(cat, AS_OF, execute=True, settings=Settings())
    t = times(cat, dataset)
    cut = AS_OF - timedelta(days=5)
    assert pc.min(t).as_py() >= cut
    expected_gone = sum(a["deleted"] for a in mine)
    assert rows_of(cat, dataset).num_rows == before - expected_gone
    assert res["executed"] and verify_catalog(cat, Settings()).ok


def test_second_purge_is_a_no_op(lake):
    cat = short_retention(lake)
    run_purge(cat, AS_OF, execute=True, settings=Settings())
    again = run_purge(cat, AS_OF, execute=False, settings=Settings())
    assert again["actions"] == [] and again["rows"] == 0


def test_legal_hold_keeps_subjects_and_says_why(lake):
    cat = short_retention(lake)
    victim = rows_of(cat, "device_events").column("user_id")[0].as_py()
    (lake.parent / "holds.csv").write_text(f"subject_id\n{victim}\n", encoding="utf-8")
    cat = short_retention(lake, '\nlegal_holds: [{subjects_file: holds.csv, reason: "case 2026-17", until: 2027-06-30}]\n')
    plan = run_purge(cat, AS_OF, execute=False, settings=Settings())
    held = [a for a in plan["actions"] if a["held"]]
    assert held and all(a["holds"] == ["case 2026-17"] for a in held)
    run_purge(cat, AS_OF, execute=True, settings=Settings())
    t = rows_of(cat, "device_events")
    old = t.filter(pc.less(t.column("ts"), pa.scalar(AS_OF - timedelta(days=5), pa.timestamp("ms", tz="Asia/Shanghai"))))
    assert old.num_rows > 0 and set(old.column("user_id").to_pylist()) == {victim}


def test_expired_hold_no_longer_protects(lake):
    original = lake.read_text(encoding="utf-8")
    cat = short_retention(lake, '\nlegal_holds: [{datasets: [device_events], reason: "audit", until: 2026-09-01}]\n')
    plan = run_purge(cat, AS_OF, execute=False, settings=Settings())
    assert "device_events" not in plan["held_datasets"]
    lake.write_text(original, encoding="utf-8")
    cat = short_retention(lake, '\nlegal_holds: [{datasets: [device_events], reason: "audit", until: 2026-12-31}]\n')
    plan = run_purge(cat, AS_OF, execute=False, settings=Settings())
    assert plan["held_datasets"]["device_events"] == "audit (until 2026-12-31)"
    assert not [a for a in plan["actions"] if a["target"] == "device_events"]


def test_immutable_dataset_is_quarantined_not_rewritten(lake, prefect_harness):
    text = lake.read_text(encoding="utf-8").replace("  usage_events:\n", "  usage_events:\n    immutable: true\n")
    lake.write_text(text, encoding="utf-8")
    cat = short_retention(lake)
    files = {p: p.read_bytes() for p in (cat.dataset_path("usage_events")).rglob("*.parquet")}
    res = run_purge(cat, AS_OF, execute=True, settings=Settings())
    q = [a for a in res["actions"] if a["target"] == "usage_events"]
    assert q and {a["action"] for a in q} == {"quarantine"} and sum(a["quarantined"] for a in q) > 0
    assert {p: p.read_bytes() for p in files} == files  # not a byte rewritten
    # quarantined rows are out of every read path: a release built now has none of them
    kept = sum(t.num_rows for _, t in release_inputs(cat, "usage_events"))
    assert kept == rows_of(cat, "usage_events").num_rows - sum(a["quarantined"] for a in q)
    again = run_purge(cat, AS_OF, execute=False, settings=Settings())
    assert not [a for a in again["actions"] if a["target"] == "usage_events"]  # nothing new to quarantine


@pytest.mark.parametrize("policy", ["keep", "quarantine"])
def test_rows_without_event_time_are_never_deleted(lake, policy):
    cat = short_retention(lake)
    store = storage_for(cat, "call_records")
    part = store.list_partitions()[0]  # an expired day
    t = store.read(part)
    broken = t.set_column(t.column_names.index("ts"), "ts", pa.array(["not a time"] + t.column("ts").to_pylist()[1:]))
    store.replace_file(part.paths[0], broken)
    if policy == "quarantine":
        lake.write_text(lake.read_text(encoding="utf-8").replace(
            "    row_key: call_id\n", "    row_key: call_id\n    on_missing_time: quarantine\n"), encoding="utf-8")
        cat = short_retention(lake)
    res = run_purge(cat, AS_OF, execute=True, settings=Settings())
    assert res["missing_time"]["call_records"] == 1
    left = rows_of(cat, "call_records")
    assert "not a time" in left.column("ts").to_pylist()
    from flows import quarantine
    assert (len(quarantine.load(cat, "call_records")) == 1) == (policy == "quarantine")


def test_retention_below_legal_minimum_is_refused(lake):
    text = lake.read_text(encoding="utf-8").replace("    retention: 30d", "    retention: 30d\n    min_retention: 180d")
    lake.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"datasets.app_logs.retention: expected at least 180d \(the legal minimum "
                                          r"declared in min_retention\), found 30d"):
        load_catalog(lake)


def test_future_as_of_changes_nothing(lake):
    cat = short_retention(lake)
    before = sorted(p.name for p in cat.lake.root.rglob("*"))
    with pytest.raises(PolicyError, match="in the future"):
        run_purge(cat, date.today() + timedelta(days=2), execute=True, settings=Settings())
    assert sorted(p.name for p in cat.lake.root.rglob("*")) == before


def _subjects_file(tmp_path, ids):
    f = tmp_path / "subjects.txt"
    f.write_text("\n".join(ids) + "\n", encoding="utf-8")
    return f


def test_erasure_deletes_everywhere_and_is_idempotent(lake, tmp_path, prefect_harness):
    from flows.deidentify import deidentify_flow
    cat = load_catalog(lake)
    deidentify_flow(str(lake), "crm_research")
    victim = rows_of(cat, "call_records").column("user_id")[0].as_py()
    f = _subjects_file(tmp_path, [victim])
    plan = run_erase(cat, f, None, execute=False, settings=Settings())
    assert plan["planned"]["call_records"] > 0 and plan["planned"]["crm_research/call_records"] > 0
    res = run_erase(cat, f, None, execute=True, settings=Settings())
    assert res["receipt"]["rows"] == plan["planned"]
    for name, ds in cat.datasets.items():
        if ds.subject_key:
            assert victim not in rows_of(cat, name).column(ds.subject_key).to_pylist()
    again = run_erase(cat, f, None, execute=True, settings=Settings())
    assert again["already_processed"] and not again["executed"]
    ledger = (cat.state_path / "erasure" / "ledger.jsonl").read_text()
    assert victim not in ledger and len(ledger.splitlines()) == 1
    audit = (cat.state_path / "audit.jsonl").read_text()
    assert victim not in audit and verify_catalog(cat, Settings()).ok


def test_erased_subjects_stay_out_of_later_releases(lake, tmp_path):
    cat = load_catalog(lake)
    victim = rows_of(cat, "chat_messages").column("user_id")[0].as_py()
    run_erase(cat, _subjects_file(tmp_path, [victim]), None, execute=True, settings=Settings())
    # late-arriving data for the erased subject
    store = storage_for(cat, "chat_messages")
    part = store.list_partitions()[-1]
    t = store.read(part)
    late = t.slice(0, 1).set_column(t.column_names.index("user_id"), "user_id", pa.array([victim]))
    store.replace_file(part.paths[0], pa.concat_tables([t, late]))
    seen = [v for _, tab in release_inputs(cat, "chat_messages") for v in tab.column("user_id").to_pylist()]
    assert victim not in seen and seen


def test_anonymise_mode_keeps_rows_without_identity(lake, tmp_path):
    lake.write_text(lake.read_text(encoding="utf-8").replace(
        "    row_key: employee_id\n", "    row_key: employee_id\n    on_erase: anonymise\n"), encoding="utf-8")
    cat = load_catalog(lake)
    before = rows_of(cat, "enterprise_contacts")
    victim = before.column("employee_id")[0].as_py()
    run_erase(cat, _subjects_file(tmp_path, [victim]), None, execute=True, settings=Settings())
    after = rows_of(cat, "enterprise_contacts")
    assert after.num_rows == before.num_rows
    row = [r for r in after.to_pylist() if r["employee_id"].startswith("erased-")]
    assert len(row) == 1 and row[0]["mobile"] is None and row[0]["resident_id"] is None
    assert row[0]["department"] == before.to_pylist()[0]["department"]


def test_org_erasure_reaches_members(lake):
    cat = load_catalog(lake)
    ec = rows_of(cat, "enterprise_contacts")
    org = ec.column("org_id")[0].as_py()
    members = set(ec.filter(pc.equal(ec.column("org_id"), org)).column("employee_id").to_pylist())
    res = run_erase(cat, None, org, execute=True, settings=Settings())
    assert res["members_added"] > 0 and res["receipt"]["rows"]["registration"] > 0
    reg = set(rows_of(cat, "registration").column("user_id").to_pylist())
    assert not members & reg


@pytest.mark.parametrize("content, message", [
    ("u1\nu 2\n", "line 2: expected one subject id per line"),
    (None, "cannot read the subjects file"),
])
def test_bad_subjects_file_changes_nothing(lake, tmp_path, content, message):
    cat = load_catalog(lake)
    f = tmp_path / "s.txt"
    if content is not None:
        f.write_text(content, encoding="utf-8")
    with pytest.raises(PolicyError, match=message):
        run_erase(cat, f, None, execute=True, settings=Settings())
    assert not (cat.state_path / "erasure").exists()


def test_unknown_org_is_refused(lake):
    with pytest.raises(PolicyError, match="unknown organisation"):
        run_erase(load_catalog(lake), None, "org-nope", execute=True, settings=Settings())


def _log(tmp_path):
    from flows.storage import LakeFS

    (tmp_path / "lake").mkdir(exist_ok=True)
    fs = LakeFS(tmp_path / "lake")
    return AuditLog(fs, tmp_path / "lake" / "state", b"k" * 32, tmp_path / "anchor.json"), \
        lambda **kw: verify(fs, tmp_path / "lake" / "state", kw.get("key", b"k" * 32), tmp_path / "anchor.json")


@pytest.mark.parametrize("tamper, problem", [
    (lambda lines: lines.__setitem__(1, lines[1].replace('"rows_deleted": ', '"rows_deleted": 1')), "edited"),
    (lambda lines: lines.pop(1), "removed or reordered"),
    (lambda lines: lines.insert(0, lines.pop(2)), "removed or reordered"),
    (lambda lines: lines.pop(), "removed from the end"),
])
def test_audit_verify_detects_tampering(tmp_path, tamper, problem):
    log, check = _log(tmp_path)
    for i in range(4):
        log.append("purge.file", rows_deleted=i, path=f"f{i}")
    assert check().ok and check().entries == 4 and check().anchored
    lines = log.path.read_text().splitlines(keepends=True)
    tamper(lines)
    log.path.write_text("".join(lines))
    v = check()
    assert not v.ok and problem in v.problem


def test_audit_survives_a_crash_between_append_and_head(tmp_path):
    log, check = _log(tmp_path)
    log.append("a")
    head = log.head.read_bytes()
    log.append("b")
    log.head.write_bytes(head)  # as if killed before the head moved
    log.anchor.write_bytes(head)
    assert check().ok
    with open(log.path, "ab") as fh:
        fh.write(b'{"seq": 3, "torn')  # a torn final line from a killed writer
    log.append("c")  # the next writer drops it
    assert check().ok and check().entries == 3


def test_delta_purge_deletes_vacuums_and_old_versions_hold_nothing(lake):
    from deltalake import DeltaTable
    cat = short_retention(lake)
    store = storage_for(cat, "usage_events")
    users = set(rows_of(cat, "usage_events").column("user_id").to_pylist())
    versions_before = DeltaTable(str(store.path)).version()
    res = run_purge(cat, AS_OF, execute=True, settings=Settings())
    assert res["delta"]["usage_events"]["versions_still_holding_expired_rows"] == []
    assert res["delta"]["usage_events"]["vacuumed_files"] > 0
    assert pc.min(times(cat, "usage_events")).as_py() >= AS_OF - timedelta(days=5)
    # time travel to the version before the purge: its files are gone, so the rows are unusable
    with pytest.raises(Exception):
        old = DeltaTable(str(store.path), version=versions_before)
        import pyarrow.parquet as pq
        for f in old.file_uris():
            pq.read_table(f)
    # the commit log (and its checkpoints) records partition values and time statistics only, never an identifier
    log = "".join(p.read_text() for p in (store.path / "_delta_log").glob("*.json"))
    log += "".join(str(pq.read_table(p).to_pylist()) for p in (store.path / "_delta_log").glob("*.checkpoint.parquet"))
    assert users and not [u for u in users if u in log]
