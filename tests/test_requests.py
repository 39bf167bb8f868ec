"""The requests register (the policy's 30 days, section 十): every erasure, objection and withdrawal gets a received
date and a state; ``piiflow requests`` lists them and exits 1 when one is overdue."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from tests.helpers import make_lake
from transforms.request_states import fold

TODAY = date(2026, 12, 8)


def _line(rid, state, received="2026-11-20", at="2026-11-20T10:00:00+00:00", kind="erasure", why=""):
    return {"request_id": rid, "kind": kind, "received": received, "state": state, "at": at, "why": why,
            "subjects": 1}


def test_a_request_is_as_far_as_it_got_and_due_thirty_days_after_it_was_received():
    got = {r["request_id"]: r for r in fold([
        _line("a", "planned", received="2026-11-01"), _line("a", "executed", received="2026-11-03"),
        _line("a", "planned", at="2026-11-25T00:00:00+00:00"),  # a plan after execution changes nothing
        _line("b", "planned", received="2026-11-01"),
        _line("c", "started"),  # an execution that never ended: interrupted
        _line("d", "partly done", why="raw/x.csv: cannot read"),
    ], TODAY)}
    assert got["a"]["state"] == "executed" and got["a"]["received"] == "2026-11-01" and not got["a"]["overdue"]
    assert got["b"]["state"] == "planned" and got["b"]["due"] == "2026-12-01" and got["b"]["days_left"] == -7
    assert got["b"]["overdue"]
    assert got["c"]["state"] == "partly done" and "interrupted" in got["c"]["why"] and got["c"]["days_left"] == 12
    assert got["d"]["why"] == "raw/x.csv: cannot read" and not got["d"]["overdue"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("requests-pristine")
    make_lake(root, rows=1500, start=date(2026, 10, 1), end=date(2026, 10, 3))
    return root


def test_commands_record_requests_and_an_overdue_one_pages(pristine, tmp_path, prefect_harness):
    """An erasure planned 40 days after it was received is overdue (exit 1, named); executed, it is answered;
    an objection recorded today is open... and executed, so not overdue. The register holds no subject id."""
    from flows.cli import app
    from flows.consent import consent_flow
    from flows.erase import erase_flow

    shutil.copytree(pristine, tmp_path / "lake")
    cat = tmp_path / "lake" / "catalog.yaml"
    import pyarrow.parquet as pq

    users = sorted(set(pq.read_table(tmp_path / "lake" / "raw" / "registration").column("user_id").to_pylist()))
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(users[:2]) + "\n", encoding="utf-8")
    long_ago = date.today() - timedelta(days=40)
    planned = erase_flow(str(cat), str(ids), received=long_ago)
    consent_flow(str(cat), "objection", str(ids), purposes=["marketing"], execute=True)

    res = CliRunner().invoke(app, ["requests", "-c", str(cat), "--json"])
    assert res.exit_code == 1 and f"1 request(s) overdue (past the 30 days): {planned['request_id']}" in res.stderr
    listed = {r["request_id"]: r for r in json.loads(res.stdout)["requests"]}
    assert listed[planned["request_id"]]["state"] == "planned"
    assert listed[planned["request_id"]]["received"] == long_ago.isoformat()
    assert [r["state"] for r in listed.values() if r["kind"] == "objection"] == ["executed"]

    from flows.requests_due import requests_flow
    from flows.requests_register import RequestsOverdue

    with pytest.raises(RequestsOverdue, match=planned["request_id"]):  # the daily deployment's run fails
        requests_flow(str(cat))
    erase_flow(str(cat), str(ids), execute=True)  # received again today: the earliest date stands
    res = CliRunner().invoke(app, ["requests", "-c", str(cat), "--json"])
    assert res.exit_code == 0, res.stderr
    listed = {r["request_id"]: r for r in json.loads(res.stdout)["requests"]}
    assert listed[planned["request_id"]]["state"] == "executed"
    assert listed[planned["request_id"]]["received"] == long_ago.isoformat()
    assert requests_flow(str(cat))["overdue"] == []
    register = (tmp_path / "lake" / "state" / "requests" / "register.jsonl").read_text(encoding="utf-8")
    assert not any(u in register for u in users[:2])


def test_a_received_date_in_the_future_is_refused_in_one_line(small_lake, tmp_path):
    from flows.cli import app

    cat, _ = small_lake
    ids = tmp_path / "ids.txt"
    ids.write_text("u1\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["erase", "-c", str(cat), "--subjects", str(ids), "--received", "2999-01-01"])
    assert res.exit_code == 1 and "--received: expected a date that has passed" in res.stderr
