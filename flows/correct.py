"""``correct``: correction requests (privacy policy 8.1), in every raw dataset (:mod:`transforms.correction`).

Planned by default; executed, each raw file a correction reaches is rewritten keeping every other row and cell
as it was (the storage layer's atomic ``update_rows``, as the erasure rewrites), file by file, so that a run killed
at any point leaves each file whole and a re-run completes the request: the plan's old values are kept as keyed
hashes in ``state/correction/pending/`` until it completes. Then a receipt counts every cell changed, the ledger
(``state/correction/ledger.jsonl``) gets the request's keyed hashes (never an old or a new value), and the audit
records it. Releases are not rewritten here: the files changed, so their partitions are redone from the
corrected data on their next run (reason ``input``), with pseudonyms of the new values.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
from prefect import flow, get_run_logger

from configs.catalog import Catalog, load_catalog
from configs.errors import PolicyError, StorageError, incomplete
from configs.settings import Settings
from flows import requests_register as register
from flows.audit import AuditLog
from flows.lake_key import check_lake_key
from flows.reports import publish_artifacts, report_audit_head
from flows.runtime import RUN_TIMEOUT_SECONDS
from flows.storage import Problem, lake_fs, recover_lake, storage_for, survey
from transforms.correction import (
    Correction,
    cell_changes,
    correctable,
    old_values,
    other_columns,
    own_columns,
    parse_corrections,
)
from transforms.erasure import changed_cells
from transforms.keys import state_key, subject_hash


def read_corrections(catalog: Catalog, path: Path) -> list[Correction]:
    """The request file, checked against what the catalog lets be corrected."""
    labels, columns = set(), set()
    for ds in catalog.datasets.values():
        a, b = correctable(ds)
        labels |= a
        columns |= b
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(f"correct: {path}: cannot read the request file ({type(e).__name__})") from e
    return parse_corrections(text, str(path), labels, columns)


def _files(catalog: Catalog, corrections: list[Correction], problems: list[Problem] | None):
    """(dataset, ds, store, path, table) of every raw file of a dataset a correction can reach, with only the columns
    a correction reads (the subject key, and the columns of each kind corrected); a file that cannot be read is
    reported in ``problems`` (when given) and skipped."""
    whats = {c.what for c in corrections}
    for name, ds in catalog.datasets.items():
        cols = [c for w in whats for c in own_columns(ds, w) + other_columns(ds, w)]
        if not cols:
            continue
        wanted = list(dict.fromkeys([ds.subject_key, *cols]))
        store = storage_for(catalog, name)
        for part in store.list_partitions():
            for path in part.paths:
                try:
                    t, _ = store.read_columns(path, wanted)
                except (StorageError, pa.ArrowException) as e:
                    if problems is not None:
                        problems.append(Problem(store.fs.rel(path), f"cannot be read ({type(e).__name__}); not "
                                                                    f"corrected"))
                    continue
                yield name, ds, store, path, t
        if problems is not None:
            problems += store.problems


def _pending_path(catalog: Catalog, rid: str) -> Path:
    return catalog.state_path / "correction" / "pending" / f"{rid}.json"


def plan_correction(catalog: Catalog, corrections: list[Correction], settings: Settings) -> dict:
    """What the request changes, file by file (nothing is changed): the subjects' old values as keyed hashes (with
    those an interrupted run recorded), and per file the cells each column would change."""
    skey = state_key(settings.master_key())
    subjects = sorted({subject_hash(skey, c.subject) for c in corrections})
    rid = hashlib.sha256(json.dumps(sorted((subject_hash(skey, c.subject), c.what, subject_hash(skey, c.new))
                                           for c in corrections)).encode()).hexdigest()[:16]
    problems: list[Problem] = []
    old: dict[tuple[str, str], set[str]] = {}
    found: set[str] = set()
    for _, ds, _, _, t in _files(catalog, corrections, problems):
        for k, v in old_values(t, ds, corrections).items():
            old.setdefault(k, set()).update(v)
        if ds.subject_key in t.column_names:
            found |= set(t.column(ds.subject_key).cast(pa.string()).to_pylist()) & {c.subject for c in corrections}
    hashes = {f"{c.subject}\x1f{c.what}": sorted(subject_hash(skey, v) for v in old.get((c.subject, c.what), ()))
              for c in corrections}
    pending = _pending_path(catalog, rid)
    fs = lake_fs(catalog)
    if fs.exists(pending):  # an interrupted run: the old values it saw, whatever the files hold now
        for k, v in json.loads(fs.read_bytes(pending))["old_hashes"].items():
            hashes[k] = sorted(set(hashes.get(k, [])) | set(v))
    missing = {c.subject for c in corrections} - found
    if missing == {c.subject for c in corrections} and not fs.exists(pending):
        raise PolicyError(f"correct: none of the {len(missing)} subject(s) appears in any dataset: nothing to "
                          f"correct, nothing recorded (a wrong file?)")
    matcher = {tuple(k.split("\x1f", 1)): frozenset(v) for k, v in hashes.items()}
    targets = []
    for name, ds, store, path, t in _files(catalog, corrections, None):
        cells = changed_cells(cell_changes(t, ds, corrections, matcher, skey), None)
        if cells:
            targets.append({"dataset": name, "path": store.fs.rel(path), "cells": cells})
    return {"request_id": rid, "subject_hashes": subjects, "whats": sorted({c.what for c in corrections}),
            "not_found": len(missing), "targets": targets, "old_hashes": hashes, "problems": problems,
            "planned_cells": _sum(targets)}


def _sum(targets: list[dict]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for t in targets:
        for col, n in t["cells"].items():
            out.setdefault(t["dataset"], {})[col] = out.get(t["dataset"], {}).get(col, 0) + n
    return out


def execute_correction(catalog: Catalog, plan: dict, corrections: list[Correction], settings: Settings) -> dict:
    """Carry out a plan file by file (each rewrite atomic, each file re-decided from what it holds now), then the
    receipt, the ledger line and the audit."""
    fs, audit = lake_fs(catalog), AuditLog.of(catalog, settings)
    skey = state_key(settings.master_key())
    rid, run_id = plan["request_id"], uuid.uuid4().hex[:12]
    audit.append("correct.start", run_id=run_id, request_id=rid, subjects=len(plan["subject_hashes"]),
                 whats=plan["whats"], policy_hash=catalog.policy_hash)
    fs.write_bytes(_pending_path(catalog, rid), json.dumps({"request_id": rid, "old_hashes": plan["old_hashes"]})
                   .encode())
    matcher = {tuple(k.split("\x1f", 1)): frozenset(v) for k, v in plan["old_hashes"].items()}
    done: dict[str, dict[str, int]] = {}
    for t in plan["targets"]:
        store = storage_for(catalog, t["dataset"])
        path = catalog.lake.root / t["path"]
        if not fs.exists(path):
            continue
        before = fs.digest(path)
        table = store.read_file(path)
        changes = cell_changes(table, catalog.datasets[t["dataset"]], corrections, matcher, skey)
        cells = changed_cells(changes, None)
        if not cells:
            continue
        store.update_rows(path, changes)
        for col, n in cells.items():
            done.setdefault(t["dataset"], {})[col] = done.get(t["dataset"], {}).get(col, 0) + n
        audit.append("correct.file", run_id=run_id, request_id=rid, dataset=t["dataset"], path=t["path"],
                     cells=cells, sha256_before=before, sha256_after=fs.digest(path))
    receipt = {"request_id": rid, "run_id": run_id, "completed_at": datetime.now(timezone.utc).isoformat(),
               "subjects": len(plan["subject_hashes"]), "not_found": plan["not_found"], "whats": plan["whats"],
               "planned_cells": plan["planned_cells"], "cells": done, "policy_hash": catalog.policy_hash}
    fs.write_bytes(catalog.state_path / "correction" / "receipts" / f"{rid}-{run_id}.json",
                   json.dumps(receipt, indent=2).encode())
    ledger = catalog.state_path / "correction" / "ledger.jsonl"
    recorded = any(e["request_id"] == rid for e in fs.records(ledger))
    if not recorded:  # (a run killed after its ledger line and re-run records nothing twice)
        fs.append_line(ledger, json.dumps(
            {"request_id": rid, "subject_hashes": plan["subject_hashes"], "whats": plan["whats"],
             "completed_at": receipt["completed_at"], "run_id": run_id,
             "cells": sum(n for cols in done.values() for n in cols.values())}) + "\n")
    fs.delete_file(_pending_path(catalog, rid))
    audit.append("correct.end", run_id=run_id, request_id=rid, cells=done)
    return receipt


def run_correct(catalog: Catalog, requests_file: Path, execute: bool, settings: Settings,
                received: date | None = None) -> dict:
    """Plan, and with ``execute`` carry out, one correction request. Plain Python (no Prefect)."""
    corrections = read_corrections(catalog, requests_file)
    received = received or datetime.now(ZoneInfo(catalog.lake.timezone)).date()
    surveyed = survey(catalog)
    fs = lake_fs(catalog)
    receipt = None
    if execute:
        with fs.exclusive_lock(catalog.state_path, "correct"):
            recover_lake(catalog)
            plan = plan_correction(catalog, corrections, settings)
            register.record(catalog, plan["request_id"], "correction", received, "started",
                            subjects=len(plan["subject_hashes"]))
            receipt = execute_correction(catalog, plan, corrections, settings)
    else:
        plan = plan_correction(catalog, corrections, settings)
    problems = [str(p) for p in dict.fromkeys(surveyed + plan["problems"])]
    state = "planned" if not execute else "partly done" if problems else "executed"
    register.record(catalog, plan["request_id"], "correction", received, state,
                    subjects=len(plan["subject_hashes"]), why=problems[0] if execute and problems else "")
    result = {"request_id": plan["request_id"], "subjects": len(plan["subject_hashes"]),
              "not_found": plan["not_found"], "whats": plan["whats"], "executed": receipt is not None,
              "planned_cells": plan["planned_cells"], "files": len(plan["targets"]), "problems": problems}
    if receipt is not None:
        result["receipt"] = receipt
    return result


@flow(name="correct", timeout_seconds=RUN_TIMEOUT_SECONDS)
def correct_flow(catalog_path: str, requests_file: str, execute: bool = False, root: str | None = None,
                 settings: Settings | None = None, received: date | None = None) -> dict:
    """Plan (default) or, with ``execute``, carry out the corrections in ``requests_file`` (CSV: subject_id, what,
    new_value) in every raw dataset; releases are redone from the corrected data on their next run."""
    catalog = load_catalog(catalog_path, root=root)
    settings = settings or Settings()
    check_lake_key(catalog, settings)
    result = run_correct(catalog, Path(requests_file), execute, settings, received)
    publish_artifacts("correction", f"# Correction {result['request_id']}\n\n{result['subjects']} subject(s), "
                                    f"{result['files']} file(s); cells: {json.dumps(result['planned_cells'])}")
    report_audit_head(catalog, settings, result["executed"])
    get_run_logger().info("correct (%s): request %s, %d file(s), %d cell(s)", "execute" if execute else "plan",
                          result["request_id"], result["files"],
                          sum(n for cols in result["planned_cells"].values() for n in cols.values()))
    if result["problems"]:
        raise incomplete("correct", result["problems"], result)
    return result

