"""Correction (clause 8.1, ``piiflow correct``), checked from the files: a subject's wrong phone number is replaced in
their own records and wherever it appears in other users' call records, and nowhere else; the receipt counts every
cell; the ledger and the audit hold no old or new value; the release is redone with the new number's pseudonym."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.helpers import pseudonym, released_lake

NEW = "13900001234"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, prefect_harness):
    return released_lake(tmp_path_factory.mktemp("correct") / "lake").parent


def _calls(root) -> pa.Table:
    opts = pacsv.ConvertOptions(column_types={"callee_phone": pa.string(), "user_id": pa.string()})
    return pa.concat_tables([pacsv.read_csv(f, convert_options=opts)
                             for f in sorted((root / "raw" / "call_records").glob("*.csv"))])


def _phones(root) -> dict[str, str]:
    reg = pq.read_table(root / "raw" / "registration", columns=["user_id", "phone"])
    return {u: str(p) for u, p in zip(reg.column("user_id").to_pylist(), reg.column("phone").to_pylist())}


def test_a_number_is_corrected_in_the_subjects_rows_and_where_others_called_it(pristine, tmp_path, prefect_harness):
    from flows.cli import app
    from flows.deidentify import deidentify_flow

    root = tmp_path / "lake"
    shutil.copytree(pristine, root)
    cat = root / "catalog.yaml"
    phones, calls = _phones(root), _calls(root)
    called = calls.column("callee_phone").to_pylist()
    subject = next(u for u, p in sorted(phones.items()) if called.count(p) >= 1)  # someone others called
    old = phones[subject]
    n_called = called.count(old)
    req = tmp_path / "c.csv"
    req.write_text(f"subject_id,what,new_value\n{subject},phone,{NEW}\n", encoding="utf-8")

    plan = CliRunner().invoke(app, ["correct", "-c", str(cat), "--requests", str(req), "--json"])
    assert plan.exit_code == 0, plan.stderr
    planned = json.loads(plan.stdout)
    assert planned["planned_cells"]["call_records"]["callee_phone"] == n_called and not planned["executed"]
    assert _phones(root)[subject] == old  # a plan changes nothing

    res = CliRunner().invoke(app, ["correct", "-c", str(cat), "--requests", str(req), "--execute", "--json"])
    assert res.exit_code == 0, res.stderr
    receipt = json.loads(res.stdout)["receipt"]
    after_phones, after_calls = _phones(root), _calls(root)
    assert after_phones[subject] == NEW
    assert {u: p for u, p in after_phones.items() if u != subject} == {u: p for u, p in phones.items() if u != subject}
    assert after_calls.num_rows == calls.num_rows
    before, now = calls.column("callee_phone").to_pylist(), after_calls.column("callee_phone").to_pylist()
    assert [b for b, a in zip(before, now) if b != a] == [old] * n_called and now.count(NEW) == n_called
    assert calls.drop_columns(["callee_phone"]).equals(after_calls.drop_columns(["callee_phone"]))
    assert receipt["cells"]["call_records"]["callee_phone"] == n_called
    assert receipt["cells"]["registration"]["phone"] >= 1
    for f in ("state/correction/ledger.jsonl", "state/audit.jsonl", "state/requests/register.jsonl"):
        text = (root / f).read_text(encoding="utf-8")
        assert old not in text and NEW not in text and subject not in text, f
    # a re-run does nothing more
    again = CliRunner().invoke(app, ["correct", "-c", str(cat), "--requests", str(req), "--execute", "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["receipt"]["cells"] == {}
    # the release is redone from the corrected data: the new number's pseudonym replaces the old one's
    summary = deidentify_flow(str(cat), "crm_research")
    assert summary["redone"].get("input", 0) >= 1
    released = pa.concat_tables([pq.read_table(f) for f in (root / "releases" / "crm_research" / "call_records")
                                 .glob("dt=*/*.parquet")]).column("callee_phone").to_pylist()
    assert pseudonym("crm-research", old) not in released
    assert released.count(pseudonym("crm-research", NEW)) == n_called


@pytest.mark.parametrize("text, message", [
    ("who,what,new_value\nu1,phone,1\n", "expected the header 'subject_id,what,new_value'"),
    ("subject_id,what,new_value\nu1,shoe_size,42\n", "line 2: expected what to correct to be one of"),
    ("subject_id,what,new_value\nu1,phone,\n", "line 2: expected a subject id, what to correct and the new value"),
    ("subject_id,what,new_value\nu1,phone,1\nu1,phone,2\n", "line 3: a second correction"),
])
def test_a_bad_request_file_is_refused_in_one_line_naming_no_value(small_lake, tmp_path, text, message):
    from flows.cli import app

    cat, _ = small_lake
    req = tmp_path / "c.csv"
    req.write_text(text, encoding="utf-8")
    res = CliRunner().invoke(app, ["correct", "-c", str(cat), "--requests", str(req), "--execute"])
    assert res.exit_code == 1 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "42" not in res.stderr
