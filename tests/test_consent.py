"""The policy's promises on consent and minors (clauses 8.2, 8.3, 7) on a generated demo lake, checked independently
of the code under test: releases are read back as files and joined to the raw data through pseudonyms computed here
with HMAC (the recipient key derivation the design documents), ages are computed here from the raw birth dates."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from configs.errors import PolicyError, StorageError
from tests.helpers import make_lake, pseudonym
from transforms.consent import Exclusions, ages_on, birth_dates, leave_out, minor_counts, purposes_reached

START, END = date(2026, 10, 1), date(2026, 10, 6)
SECURITY = """
  security_review:
    recipient: security-team
    purpose: security
    description: abuse investigations (lawful without consent)
    datasets: [usage_events]
    k_anonymity: 5
"""


def release_rows(root: Path, release: str, dataset: str = "usage_events") -> list[tuple[str, str]]:
    """(dt, user pseudonym) of every row of a published release, read from its files."""
    out = []
    for f in sorted((root / "releases" / release / dataset).glob("dt=*/*.parquet")):
        out += [(f.parent.name[3:], u) for u in pq.read_table(f, columns=["user_id"]).column("user_id").to_pylist()]
    return out


def raw_usage(root: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(f, columns=["user_id", "ts"]) for f in
                             sorted((root / "raw" / "usage_events").rglob("*.parquet"))])


def write_ids(path: Path, ids: list[str]) -> Path:
    path.write_text("subject_id\n" + "\n".join(ids) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lake(tmp_path_factory, prefect_harness):
    from flows.deidentify import deidentify_flow

    cat_path, gen = make_lake(tmp_path_factory.mktemp("consent") / "lake", rows=4000, start=START, end=END, seed=5)
    cat_path.write_text(cat_path.read_text(encoding="utf-8") + SECURITY, encoding="utf-8")
    first = {r: deidentify_flow(str(cat_path), r) for r in ("marketing", "analytics", "security_review")}
    return cat_path, gen.root, first


def minors_on(root: Path) -> dict[str, tuple[date, bool]]:
    """{user id: (birth date, guardian consent)} of users born less than 18 years before the lake's last day."""
    reg = pa.concat_tables([pq.read_table(f) for f in (root / "raw" / "registration").rglob("*.parquet")])
    out = {}
    for u, b, g in zip(*(reg.column(c).to_pylist() for c in ("user_id", "birth_date", "guardian_consent"))):
        if b is not None and b > date(END.year - 18, END.month, END.day):
            out[u] = (b, bool(g))
    return out


def test_minors_are_left_out_of_marketing_but_not_of_analytics(lake):
    cat_path, root, first = lake
    minors = minors_on(root)
    assert minors and any(g for _, g in minors.values()) and not all(g for _, g in minors.values())
    unconsented = {pseudonym("marketing-team", u) for u, (b, g) in minors.items() if not g}
    consented = {pseudonym("marketing-team", u) for u, (b, g) in minors.items() if g}
    rows = release_rows(root, "marketing")
    assert rows and not {u for _, u in rows} & unconsented
    assert {u for _, u in rows} & consented, "a guardian's consent keeps a minor's rows"
    in_analytics = {u for _, u in release_rows(root, "analytics")}
    assert in_analytics & {pseudonym("analytics-team", u) for u, (b, g) in minors.items() if not g}
    # the manifests count them (counts only); the run's summary adds them up
    left = sum(json.loads(m.read_text())["left_out"].get("minors", 0)
               for m in (root / "releases" / "marketing" / "_meta").rglob("manifest.json"))
    raw = raw_usage(root)
    expected = sum(1 for u in raw.column("user_id").to_pylist() if u in minors and not minors[u][1])
    assert left == expected == first["marketing"]["left_out"]["minors"] > 0
    assert "left_out" not in first["analytics"] or "minors" not in first["analytics"]["left_out"]


def test_scan_counts_minors_per_dataset(lake, tmp_path):
    from flows.scan import scan_flow

    cat_path, root, _ = lake
    result = scan_flow(str(cat_path), dataset="registration")
    counts = result["datasets"][0]["minors"]
    reg = pa.concat_tables([pq.read_table(f) for f in (root / "raw" / "registration").rglob("*.parquet")])
    ages = [(t.date() - timedelta(0)).year - b.year - ((t.month, t.day) < (b.month, b.day))
            for b, t in zip(reg.column("birth_date").to_pylist(), reg.column("registered_at").to_pylist())]
    assert counts["under_18"] == sum(a < 18 for a in ages) > 0
    assert counts["under_14"] == sum(a < 14 for a in ages) > 0
    assert counts["with_age"] == reg.num_rows
    text = Path(result["report"]).with_suffix(".md").read_text(encoding="utf-8")
    assert f"{counts['under_18']} under 18" in text


def _active(root: Path, n: int, skip: set[str]) -> list[str]:
    minors = minors_on(root)
    counts = Counter(raw_usage(root).column("user_id").to_pylist())
    return [u for u, _ in counts.most_common() if u not in minors and u not in skip][:n]


def test_objection_to_marketing_leaves_analytics_alone(lake, tmp_path):
    from flows.consent import consent_flow, entries
    from flows.deidentify import deidentify_flow

    cat_path, root, _ = lake
    objectors = _active(root, 3, set())
    ids = write_ids(tmp_path / "objectors.txt", objectors + ["u00000000"])
    plan = consent_flow(str(cat_path), "objection", str(ids), ["marketing"])
    assert not plan["executed"] and plan["not_found"] == 1 and not entries(load(cat_path))
    assert plan["releases"]["marketing"]["rows"] > 0 and "analytics" not in plan["releases"]
    done = consent_flow(str(cat_path), "objection", str(ids), ["marketing"], execute=True)
    assert done["executed"] and done["receipt"]["request_id"] == plan["request_id"]
    ledger = (root / "state" / "consent" / "ledger.jsonl").read_bytes()
    assert not any(u.encode() in ledger for u in objectors)  # keyed hashes only
    again = consent_flow(str(cat_path), "objection", str(ids), ["marketing"], execute=True)
    assert again["already_recorded"] and not again["executed"]
    assert (root / "state" / "consent" / "ledger.jsonl").read_bytes() == ledger

    mk = deidentify_flow(str(cat_path), "marketing")
    an = deidentify_flow(str(cat_path), "analytics")
    assert mk["redone"].get("consent", 0) > 0 and mk["left_out"]["objection"] > 0
    assert an["published"] == 0  # an objection to marketing changes no analytics partition
    theirs = {pseudonym("marketing-team", u) for u in objectors}
    assert not {u for _, u in release_rows(root, "marketing")} & theirs
    assert {u for _, u in release_rows(root, "analytics")} >= {pseudonym("analytics-team", u) for u in objectors}
    assert deidentify_flow(str(cat_path), "marketing")["published"] == 0  # and then it is stable


def load(cat_path):
    from configs.catalog import load_catalog

    return load_catalog(cat_path)


def test_withdrawal_reaches_every_release_but_security_and_later_arrivals(lake, tmp_path):
    from flows.consent import consent_flow
    from flows.deidentify import deidentify_flow
    from flows.storage import storage_for

    cat_path, root, _ = lake
    taken = set(_active(root, 3, set()))
    withdrawn = _active(root, 2, taken)
    consent_flow(str(cat_path), "withdrawal", str(write_ids(tmp_path / "w.txt", withdrawn)), execute=True)
    # a later day arrives with their rows in it (a copy of the last day, a day on)
    catalog = load(cat_path)
    store = storage_for(catalog, "usage_events")
    last = store.list_partitions()[-1]
    t = store.read(last)
    later = END + timedelta(days=1)
    t = t.set_column(t.column_names.index("ts"), "ts", pc.add(t.column("ts"), pa.scalar(timedelta(days=1))))
    t = t.set_column(t.column_names.index("event_id"), "event_id",
                     pc.binary_join_element_wise(t.column("event_id"), pa.scalar("-late"), ""))
    if "dt" in t.column_names:
        t = t.drop_columns(["dt"])
    store.write_partition(later, t)
    assert set(withdrawn) & set(t.column("user_id").to_pylist())
    results = {r: deidentify_flow(str(cat_path), r) for r in ("marketing", "analytics", "security_review")}
    assert results["analytics"]["left_out"]["withdrawal"] > 0
    for release, recipient in (("marketing", "marketing-team"), ("analytics", "analytics-team")):
        rows = release_rows(root, release)
        assert any(dt == later.isoformat() for dt, _ in rows), "the later day is released"
        assert not {u for _, u in rows} & {pseudonym(recipient, u) for u in withdrawn}
    security = {u for _, u in release_rows(root, "security_review")}
    assert security >= {pseudonym("security-team", u) for u in withdrawn}


def test_a_request_nobody_matches_is_refused_and_bad_calls_fail_first(lake, tmp_path):
    from configs.checks import check_consent_request
    from configs.settings import Settings
    from flows.consent import run_consent

    cat_path, root, _ = lake
    with pytest.raises(PolicyError, match="none of the 2 subject"):
        run_consent(load(cat_path), "objection", write_ids(tmp_path / "x.txt", ["u00000000", "u00000001"]),
                    ("marketing",), True, Settings())
    assert not (root / "state" / "consent" / "receipts").exists() or all(
        "u0000000" not in p.read_text() for p in (root / "state" / "consent" / "receipts").iterdir())
    for kind, purposes, msg in (("objection", ["security"], "cannot reach it"), ("objection", [], "expected --purpose"),
                                ("objection", ["ads"], "expected one of analytics"),
                                ("withdrawal", ["marketing"], "give it no --purpose")):
        with pytest.raises(PolicyError, match=msg):
            check_consent_request(kind, purposes)


# ------------------------------------------------------------------------------------------------------------------
# Pure parts
# ------------------------------------------------------------------------------------------------------------------


def test_purposes_reached():
    assert purposes_reached("objection", ["marketing"]) == ("marketing",)
    assert "security" not in purposes_reached("withdrawal") and "analytics" in purposes_reached("withdrawal")


def test_ages_from_birth_dates_resident_ids_and_ages():
    from configs.catalog import Dataset

    ds = Dataset.model_validate({
        "category": "registration", "location": "raw/x", "format": "parquet", "subject_key": "u", "event_time": "t",
        "guardian_consent": "g",
        "columns": {"u": {"kind": "direct"}, "t": {"kind": "other"}, "g": {"kind": "other"},
                    "b": {"kind": "quasi", "age_from": "birth_date"}, "rid": {"kind": "direct", "age_from": "resident_id"},
                    "age": {"kind": "quasi", "age_from": "age"}}})
    t = pa.table({"u": ["a", "b", "c", "d"], "t": ["2026-06-01T10:00:00", "2026-06-01T10:00:00",
                                                   "2026-06-01T10:00:00", "2026-06-01T10:00:00"],
                  "g": [None, "yes", None, None],
                  "b": [date(2008, 6, 2), None, None, date(1990, 1, 1)],
                  "rid": [None, "11010120120601123X", None, "110101199001011234"],
                  "age": [None, None, "13", None]})
    births = birth_dates(t, ds, "Asia/Shanghai", date(2026, 12, 1)).to_pylist()
    assert births == [date(2008, 6, 2), date(2012, 6, 1), date(2013, 6, 1), date(1990, 1, 1)]
    ages = ages_on(pa.array(births, pa.date32()), pa.array([date(2026, 6, 1)] * 4, pa.date32())).to_pylist()
    assert ages == [17, 14, 13, 36]  # a day before the 18th birthday is still 17
    assert minor_counts(t, ds, "Asia/Shanghai", date(2026, 12, 1)) == {
        "rows": 4, "with_age": 4, "under_18": 3, "under_14": 1, "guardian_consent": 1}


def test_exclusions_leave_out_by_reason_and_digest_only_what_they_reach():
    from transforms.keys import subject_hash

    key = b"k" * 32
    h = lambda s: subject_hash(key, s)  # noqa: E731
    excl = Exclusions(key, {h("a"): "objection", h("b"): "withdrawal"}, {h("c"): date(2010, 5, 5)})
    from configs.catalog import Dataset

    ds = Dataset.model_validate({"category": "usage", "location": "raw/x", "format": "parquet", "subject_key": "u",
                                 "columns": {"u": {"kind": "direct"}}})
    t = pa.table({"u": ["a", "a", "b", "c", "d", None]})
    kept, counts = leave_out(t, ds, excl, date(2026, 1, 1))
    assert kept.column("u").to_pylist() == ["d", None]
    assert counts == {"objection": 2, "withdrawal": 1, "minors": 1}
    _, counts = leave_out(t, ds, excl, date(2028, 5, 5))  # c's 18th birthday: an adult's rows stay
    assert "minors" not in counts
    assert excl.digest(pa.array(["d", "e"]), date(2026, 1, 1)) == ""
    assert excl.digest(pa.array(["a", "d"]), date(2026, 1, 1)) == excl.digest(pa.array(["a", "e"]), date(2026, 1, 1))
    assert excl.digest(pa.array(["a"]), date(2026, 1, 1)) != excl.digest(pa.array(["b"]), date(2026, 1, 1))
    assert len(excl.digest(pa.array(["a"]), date(2026, 1, 1))) == 64  # a hash of keyed hashes, never a raw id


def test_sunset_plans_first_and_refuses_bad_calls(lake, tmp_path):
    from configs.checks import check_sunset_request
    from configs.settings import Settings
    from flows.sunset import run_sunset

    cat_path, root, _ = lake
    before = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and "state" not in p.parts)
    plan = run_sunset(load(cat_path), ["chat_messages"], "delete", False, Settings())
    assert not plan["executed"] and plan["raw_files"]["chat_messages"] > 0
    assert sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and "state" not in p.parts) == before
    # a link in a dataset's folder: the plan reports it, execution refuses the whole sunset and changes nothing
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.csv").write_text("precious\n")
    link = root / "raw" / "chat_messages" / "dt=2099-01-01"
    link.symlink_to(outside)
    try:
        assert any("symbolic link" in p for p in run_sunset(load(cat_path), ["chat_messages"], "delete", False,
                                                             Settings())["problems"])
        with pytest.raises(StorageError, match="sunset refused, nothing changed: .*symbolic link"):
            run_sunset(load(cat_path), ["chat_messages"], "delete", True, Settings())
    finally:
        link.unlink()
    assert (outside / "keep.csv").read_text() == "precious\n"
    assert sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and "state" not in p.parts) == before
    for datasets, mode, msg in ((["chat_messages"], "shred", "expected one of delete, anonymise"),
                                ([], "delete", "found none"), (["nope"], "delete", "not declared")):
        with pytest.raises(PolicyError, match=msg):
            check_sunset_request(load(cat_path), datasets, mode)
