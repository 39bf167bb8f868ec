"""Whom a leak touched (clause 5.7, ``piiflow exposure``), checked independently of the code under test: the
subjects of a leaked release partition are found here from the raw rows of that day and the release's pseudonyms
recomputed with HMAC (the documented key derivation), and the owners of the numbers called from the raw
registration records."""

from __future__ import annotations

import csv
import json
import stat

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.helpers import pseudonym, released_lake

DAY = "2026-10-02"


@pytest.fixture(scope="module")
def lake(tmp_path_factory, prefect_harness):
    return released_lake(tmp_path_factory.mktemp("exposure") / "lake")


def _run(*args):
    from flows.cli import app

    return CliRunner().invoke(app, ["exposure", *args])


def test_a_leaked_release_partition_lists_its_subjects_and_the_owners_of_numbers_in_it(lake, tmp_path):
    root = lake.parent
    out = tmp_path / "notify.csv"
    res = _run("-c", str(lake), "--path", f"releases/crm_research/call_records/dt={DAY}", "--out", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    # independently: the day's raw rows, their users, and whose numbers they called
    raw = pacsv.read_csv(root / "raw" / "call_records" / f"calls-{DAY}.csv",
                         convert_options=pacsv.ConvertOptions(column_types={"callee_phone": pa.string(),
                                                                            "user_id": pa.string()}))
    released = pq.read_table(next((root / "releases" / "crm_research" / "call_records" / f"dt={DAY}").glob("*.parquet")))
    back = {pseudonym("crm-research", u): u for u in set(raw.column("user_id").to_pylist())}
    callers = {back[p] for p in released.column("user_id").to_pylist()}
    reg = pq.read_table(root / "raw" / "registration", columns=["user_id", "phone"])
    owner = {str(p): u for u, p in zip(reg.column("user_id").to_pylist(), reg.column("phone").to_pylist()) if p}
    by_pseudonym = {pseudonym("crm-research", p): u for p, u in owner.items()}
    called = {by_pseudonym[c] for c in released.column("callee_phone").to_pylist() if c in by_pseudonym}
    assert called, "the lake's calls reach some registered users' numbers"
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    listed = {r["subject_id"]: r for r in rows}
    assert set(listed) == callers | called
    assert all(listed[u]["named_in"] == "callee_phone" for u in called - callers)
    assert "callee_phone (pseudonymize" in rows[0]["information"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # what is printed and audited are counts: no id anywhere but the list
    summary = json.loads(res.stdout)
    assert summary["subjects"] == len(listed) and summary["rows"] == released.num_rows
    audit = (root / "state" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    entry = json.loads(audit[-1])
    assert entry["event"] == "exposure.listed" and entry["subjects"] == len(listed)
    assert "piiflow exposure --path releases/crm_research/call_records" in entry["command"]
    for text in (res.stdout, res.stderr, audit[-1]):
        assert not any(u in text for u in listed)


def test_bad_calls_are_refused_in_one_line_and_nothing_is_written(lake, tmp_path):
    inside = lake.parent / "notify.csv"
    cases = [
        (["--path", "releases/crm_research", "--out", str(inside)], "is inside the lake"),
        (["--path", "../outside", "--out", str(tmp_path / "a.csv")], "'..' in a path"),
        (["--release", "crm_research", "--path", "raw", "--out", str(tmp_path / "b.csv")], "either --path or --release"),
        (["--release", "nope", "--out", str(tmp_path / "c.csv")], "release 'nope' is not declared"),
        (["--release", "analytics_daily", "--out", str(tmp_path / "d.csv")], "aggregate release"),
    ]
    for args, message in cases:
        res = _run("-c", str(lake), *args)
        assert res.exit_code == 1 and message in res.stderr, (args, res.stderr)
    assert not inside.exists() and not list(tmp_path.glob("*.csv"))
    existing = tmp_path / "kept.csv"
    existing.write_text("do not overwrite\n")
    res = _run("-c", str(lake), "--release", "crm_research", "--out", str(existing))
    assert res.exit_code == 1 and "exists" in res.stderr and existing.read_text() == "do not overwrite\n"


def test_leaked_raw_files_list_their_subjects(lake, tmp_path):
    out = tmp_path / "raw.csv"
    res = _run("-c", str(lake), "--path", f"raw/call_records/calls-{DAY}.csv", "--out", str(out))
    assert res.exit_code == 0, res.stderr
    raw = pacsv.read_csv(lake.parent / "raw" / "call_records" / f"calls-{DAY}.csv",
                         convert_options=pacsv.ConvertOptions(column_types={"user_id": pa.string()}))
    own = {r["subject_id"] for r in csv.DictReader(out.open(encoding="utf-8")) if r["own_rows"] != "0"}
    assert own == set(raw.column("user_id").to_pylist())
