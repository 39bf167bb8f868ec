"""``erase``: account cancellation (clauses 2.1, 8.3, 5.2.2) across every raw dataset and every release.

A request names subject ids and/or an organisation. An organisation stands for its own rows (``org_key``) and for
its members (subjects found beside it in any dataset that has both keys). Raw rows are deleted, or anonymised
where the dataset says ``on_erase: anonymise`` (subject key replaced by an irreversible random token, direct
identifiers nulled). The subjects' own identifiers (their phone number, in a column the catalog declares
``identifier: phone``) are erased wherever else they appear too: the cell is nulled in other users' rows (a call
record of somebody who phoned them). Release rows are found through that release's pseudonyms and deleted, or the
identifier cell nulled.

Work is per file with atomic replaces (kept lines of text files stay byte for byte), so a killed run re-run ends as
one uninterrupted run. The request then gets a receipt and a line in the erasure ledger (``state/erasure/``), which
holds keyed hashes only. Re-running a processed request erases what arrived since and records nothing new; with
``ledger``, every processed request is applied again to what arrived since (the nightly does this), by matching
keyed hashes: an erased subject's late rows never survive.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow, get_run_logger

from configs.catalog import Catalog, load_catalog
from configs.checks import check_erase_request
from configs.errors import PolicyError, StorageError, incomplete
from configs.settings import Settings
from flows import ledger
from flows import requests_register as register
from flows.audit import AuditLog
from flows.lake_key import check_lake_key, state_keys
from flows.naming import erase_run_name
from flows.reports import publish_artifacts, report_audit_head
from flows.runtime import RUN_TIMEOUT_SECONDS
from flows.storage import Problem, lake_fs, recover_lake, release_store, storage_for, survey
from flows.subject_files import read_subjects_file
from transforms.erasure import (
    Erased,
    ErasurePlan,
    ErasureTarget,
    add_cells,
    anonymizing_changes,
    as_text,
    changed_cells,
    collect_identifiers,
    identifier_cells,
    identifier_columns,
    ledger_erased,
    own_rows,
    release_erased,
    request_id,
)
from transforms.keys import derive_key, state_key, subject_hash
from transforms.reporting import erasure_markdown
from transforms.tables import count_true


def _key_columns(ds) -> list[str]:
    return list(dict.fromkeys(c for c in (ds.subject_key, ds.org_key, *identifier_columns(ds)) if c))


def _each_raw_file(catalog: Catalog, problems: list[Problem]):
    """(dataset name, dataset, store, path, table of its key and identifier columns) for every readable raw file;
    a file that cannot be read is reported in ``problems``."""
    for name, ds in catalog.datasets.items():
        cols = _key_columns(ds)
        if not cols:
            continue
        store = storage_for(catalog, name)
        for part in store.list_partitions():
            for path in part.paths:
                try:
                    t = store.read_file(path)
                    yield name, ds, store, path, t.select([c for c in cols if c in t.column_names])
                except (StorageError, pa.ArrowException) as e:
                    problems.append(Problem(store.fs.rel(path), f"cannot be read ({type(e).__name__}); not erased"))
        problems += store.problems


def _who(catalog: Catalog, subjects: list[str], org: str | None, skey: bytes,
         problems: list[Problem]) -> tuple[Erased, set[str]]:
    """The request as found in the data: its subjects with the organisation's members, their own identifiers, and
    which of the requested subjects appear anywhere."""
    members, found, idents = set(), set(), {}
    org_set = frozenset([org]) if org is not None else frozenset()
    for _, ds, _, _, t in (_each_raw_file(catalog, problems) if org is not None else ()):
        if ds.org_key in t.column_names and ds.subject_key in t.column_names:
            hit = Erased(orgs=org_set).isin(t.column(ds.org_key), org_set)
            members.update(v for v in as_text(t.column(ds.subject_key)).filter(hit).to_pylist() if v)
    wanted = Erased(frozenset(subjects) | members, org_set)
    org_seen = False
    for _, ds, _, _, t in _each_raw_file(catalog, [] if org is not None else problems):
        rows = own_rows(t, ds, wanted)
        if ds.subject_key in t.column_names:
            found.update(v for v in as_text(t.column(ds.subject_key)).filter(rows).to_pylist() if v)
        org_seen = org_seen or (ds.org_key in t.column_names and org is not None and count_true(
            wanted.isin(t.column(ds.org_key), org_set)) > 0)
        for label, values in collect_identifiers(t, ds, rows).items():
            idents.setdefault(label, set()).update(values)
    if org is not None and not org_seen:
        raise PolicyError(f"erase: unknown organisation (hash {subject_hash(skey, org)[:12]}): it appears in no "
                          f"dataset's org_key column")
    return Erased(wanted.subjects, wanted.orgs, {k: frozenset(v) for k, v in idents.items()}), found


def plan_erasure(catalog: Catalog, subjects: list[str], org: str | None, settings: Settings) -> ErasurePlan:
    """The files an erasure request reaches, with the rows and identifier cells it matches in each (nothing is
    changed). A request none of whose subjects appears anywhere is refused (nothing to erase, nothing recorded)."""
    if not subjects and org is None:
        raise PolicyError("erase: expected subject ids (--subjects FILE) or an organisation (--org ID), found neither")
    skey = state_key(settings.master_key())
    problems: list[Problem] = []
    erased, found = _who(catalog, subjects, org, skey, problems)
    hashed = erased.hashed(skey)
    everyone = sorted(erased.subjects)
    org_hash = subject_hash(skey, org) if org is not None else None
    plan = ErasurePlan(request_id(sorted(hashed.subjects), org_hash), sorted(hashed.subjects), org_hash,
                       len(set(everyone) - set(subjects)), subjects=everyone, org=org)
    earlier = _pending(catalog, plan.request_id)
    if earlier is not None:  # an interrupted run of this request: its identifiers, whatever rows are left
        erased = dataclasses.replace(erased, earlier=ledger_erased([earlier], skey))
    plan.erased, plan.problems = erased, problems
    plan.not_found = len(set(subjects) - found)
    plan.already_processed = any(e["request_id"] == plan.request_id for e in ledger.entries(catalog))
    interrupted = AuditLog.of(catalog, settings).interrupted("erase", plan.request_id)
    if not found and org is None and not plan.already_processed and not interrupted:
        raise PolicyError(f"erase: none of the {len(set(subjects))} subject(s) appears in any dataset: nothing to "
                          f"erase, nothing recorded (a wrong file?)")
    plan.targets = _raw_targets(catalog, erased, problems) + _release_targets(catalog, erased, settings)
    return plan


def _raw_targets(catalog: Catalog, erased: Erased, problems: list[Problem]) -> list[ErasureTarget]:
    targets = []
    for name, ds, store, path, t in _each_raw_file(catalog, problems):
        n, columns = _raw_changes(t, ds, erased)
        if n or columns:
            targets.append(ErasureTarget(name, store.fs.rel(path), t.num_rows, n, ds.on_erase, columns=columns))
    return targets


def _raw_changes(table: pa.Table, ds, erased: Erased) -> tuple[int, dict[str, int]]:
    """(the subjects' own rows, {column: cells changed in rows that stay}) an erasure makes in one raw table."""
    own, cells = own_rows(table, ds, erased), identifier_cells(table, ds, erased)
    anonymise = ds.on_erase == "anonymise"
    changes = anonymizing_changes(table, ds, own, cells, anonymise=anonymise, token=lambda: "")
    return count_true(own), changed_cells(changes, None if anonymise else own)


def each_release_file(catalog: Catalog, erased: Erased, settings: Settings, purposes: tuple[str, ...] | None = None):
    """(release, dataset name, dataset, store, path, table, what ``erased`` looks like there) for every published
    file of every release (of ``purposes``, when given): the subjects are found through the release's pseudonyms
    (:func:`~transforms.erasure.release_erased`)."""
    for rname, rel in catalog.releases.items():
        if purposes is not None and rel.purpose not in purposes:
            continue
        key = derive_key(settings.master_key(), rel.recipient)
        for dname in rel.datasets:
            ds = catalog.datasets[dname]
            looked_for = release_erased(ds, erased, key)
            store = release_store(catalog, rname, dname)
            for path in store.all_files():
                yield rname, dname, ds, store, path, store.read_file(path), looked_for


def _release_targets(catalog: Catalog, erased: Erased, settings: Settings) -> list[ErasureTarget]:
    targets = []
    for rname, dname, ds, store, path, t, looked_for in each_release_file(catalog, erased, settings):
        own, cells = own_rows(t, ds, looked_for), identifier_cells(t, ds, looked_for)
        n, columns = count_true(own), _cells_left(cells, own)
        if n or columns:
            targets.append(ErasureTarget(f"{rname}/{dname}", store.fs.rel(path), t.num_rows, n, "delete",
                                         columns=columns))
    return targets


def _cells_left(cells: dict[str, pa.Array], own: pa.Array) -> dict[str, int]:
    """{column: identifier cells nulled in rows that are not deleted}."""
    return changed_cells({col: (hit, None) for col, hit in cells.items()}, own)


def _erase_raw_file(catalog: Catalog, target: ErasureTarget, erased: Erased) -> tuple[int, dict[str, int]]:
    """(rows erased, {column: cells changed in rows that stay}) in one raw file, re-decided from the file as it is
    now (a re-run after a crash is exact). Kept rows and cells stay exactly as they were."""
    ds = catalog.datasets[target.target]
    store = storage_for(catalog, target.target)
    path = catalog.lake.root / target.path
    table = store.read_file(path)
    own, cells = own_rows(table, ds, erased), identifier_cells(table, ds, erased)
    n = count_true(own)
    anonymise = ds.on_erase == "anonymise"
    changes = anonymizing_changes(table, ds, own, cells, anonymise=anonymise)
    columns = changed_cells(changes, None if anonymise else own)
    if n and n == table.num_rows and not anonymise:
        store.delete_file(path)
        return n, {}
    if changes:
        store.update_rows(path, changes)
    if n and not anonymise:
        store.delete_rows(path, own)
    return n, columns


def _erase_release_file(catalog: Catalog, target: ErasureTarget, erased: Erased, settings: Settings) -> tuple[int, int]:
    rname, dname = target.target.split("/", 1)
    ds = catalog.datasets[dname]
    store = release_store(catalog, rname, dname)
    path = catalog.lake.root / target.path
    table = store.read_file(path)
    looked_for = release_erased(ds, erased, derive_key(settings.master_key(), catalog.releases[rname].recipient))
    own, cells = own_rows(table, ds, looked_for), identifier_cells(table, ds, looked_for)
    columns = _cells_left(cells, own)
    for col, hit in cells.items():
        i = table.column_names.index(col)
        old = table.column(i).combine_chunks()
        table = table.set_column(i, col, pc.if_else(hit, pa.nulls(len(old), old.type), old))
    store.replace_file(path, table.filter(pc.invert(own)))
    return count_true(own), columns


def _vacuum_delta(catalog: Catalog, erased: Erased, audit: AuditLog, run_id: str) -> None:
    """Old Delta versions must not keep the erased rows readable: vacuum, then check by time travel."""
    for name, ds in catalog.datasets.items():
        if ds.format == "delta":
            store = storage_for(catalog, name)
            store.vacuum()
            bad = store.history_holds(lambda t, ds=ds: own_rows(t, ds, erased))
            audit.append("erase.delta_vacuum", run_id=run_id, dataset=name, old_versions_with_rows=bad)
            if bad:
                raise StorageError(f"{name}: Delta versions {bad} still hold erased rows after vacuum")


def execute_erasure(catalog: Catalog, plan: ErasurePlan, settings: Settings) -> dict:
    """Carry out a plan, file by file (each replace atomic), then record the receipt and, for a new request, the
    ledger line (keyed hashes of its subjects, organisation and identifiers)."""
    fs = lake_fs(catalog)
    audit = AuditLog.of(catalog, settings)
    run_id = uuid.uuid4().hex[:12]
    event = "erase.late" if plan.already_processed else "erase"
    audit.append(f"{event}.start", run_id=run_id, request_id=plan.request_id, subjects=len(plan.subject_hashes),
                 org_hash=plan.org_hash, policy_hash=catalog.policy_hash)
    # a new request, before anything changes: what its rows say (subjects, identifiers) as keyed hashes, kept
    # until it completes so that a re-run after a kill still knows identifiers whose rows are gone
    hashed = None if plan.already_processed else plan.erased.hashed(state_key(settings.master_key()))
    if hashed is not None:
        fs.write_bytes(_pending_path(catalog, plan.request_id), json.dumps(
            {"request_id": plan.request_id, "subject_hashes": plan.subject_hashes, "org_hash": plan.org_hash,
             "identifier_hashes": {k: sorted(v) for k, v in hashed.identifiers.items()}}).encode())
    done: dict[str, int] = {}
    cells_done: dict[str, dict[str, int]] = {}
    for t in plan.targets:
        path = catalog.lake.root / t.path
        if not fs.exists(path):
            continue
        before = fs.digest(path)
        try:
            n, columns = (_erase_release_file(catalog, t, plan.erased, settings) if "/" in t.target
                    else _erase_raw_file(catalog, t, plan.erased))
        except StorageError as e:
            plan.problems.append(Problem(t.path, f"not erased: {str(e).split(': ', 1)[-1]}"))
            continue
        except OSError as e:  # the disk, not the file: stop, saying what changed before (a re-run completes it)
            audit.append(f"{event}.stopped", run_id=run_id, request_id=plan.request_id, error=type(e).__name__,
                         at=t.path, changed=done)
            changed = ", ".join(f"{k} ({v} rows)" for k, v in done.items()) or "nothing"
            raise StorageError(f"erase stopped at {t.path}: {e.strerror or type(e).__name__}; changed before it "
                               f"stopped: {changed}; run the request again to complete it") from e
        if n or columns:
            done[t.target] = done.get(t.target, 0) + n
            add_cells(cells_done, t.target, columns)
            audit.append("erase.file", run_id=run_id, request_id=plan.request_id, target=t.target, path=t.path,
                         mode=t.mode, rows=n, cells=columns, sha256_before=before,
                         sha256_after=fs.digest(path) if fs.exists(path) else None)
    _vacuum_delta(catalog, plan.erased, audit, run_id)
    receipt = {"request_id": plan.request_id, "run_id": run_id, "completed_at": datetime.now(timezone.utc).isoformat(),
               "subjects": len(plan.subject_hashes), "not_found": plan.not_found, "org_hash": plan.org_hash,
               "members_added": plan.members_added, "planned": plan.counts(), "rows": done,
               "planned_cells": plan.cell_counts(), "cells": cells_done,
               "late_arrivals": plan.already_processed, "policy_hash": catalog.policy_hash}
    receipt_path = catalog.state_path / "erasure" / "receipts" / f"{plan.request_id}-{run_id}.json"
    fs.write_bytes(receipt_path, json.dumps(receipt, indent=2).encode())
    if hashed is not None:
        ledger.append(catalog, {"request_id": plan.request_id, "subject_hashes": plan.subject_hashes,
                                "org_hash": plan.org_hash, "completed_at": receipt["completed_at"], "run_id": run_id,
                                "identifier_hashes": {k: sorted(v) for k, v in hashed.identifiers.items()}})
    fs.delete_file(_pending_path(catalog, plan.request_id))
    audit.append(f"{event}.end", run_id=run_id, request_id=plan.request_id, rows=sum(done.values()))
    return receipt


def _pending_path(catalog: Catalog, request_id: str):
    return catalog.state_path / "erasure" / "pending" / f"{request_id}.json"


def _pending(catalog: Catalog, request_id: str) -> dict | None:
    """The record an earlier, interrupted run of this request wrote before it changed anything (None if none)."""
    path = _pending_path(catalog, request_id)
    fs = lake_fs(catalog)
    return json.loads(fs.read_bytes(path)) if fs.exists(path) else None


def plan_ledger_sweep(catalog: Catalog, settings: Settings) -> ErasurePlan:
    """Every processed request applied again to the raw data, by keyed hashes: the rows and identifier cells of
    erased subjects that arrived after their erasure (releases leave them out by themselves)."""
    erased = ledger_erased(ledger.entries(catalog), *state_keys(catalog, settings.master_key()))
    plan = ErasurePlan("ledger", [], None, 0, already_processed=True)
    plan.erased, plan.problems = erased, []
    if erased:
        plan.targets = _raw_targets(catalog, erased, plan.problems)
    return plan


def run_erase(catalog: Catalog, subjects_file: Path | None, org: str | None, execute: bool,
              settings: Settings, sweep_ledger: bool = False, received: date | None = None) -> dict:
    """Plan, and with ``execute`` carry out, one erasure request received on ``received`` (default today; the
    requests register keeps it), or with ``sweep_ledger`` every processed one again. Plain Python (no Prefect):
    :func:`erase_flow` runs it as a flow."""
    received = received or datetime.now(ZoneInfo(catalog.lake.timezone)).date()
    subjects = read_subjects_file(subjects_file) if subjects_file else []
    fs = lake_fs(catalog)
    surveyed = survey(catalog)
    receipt = None

    def plan_now() -> ErasurePlan:
        return plan_ledger_sweep(catalog, settings) if sweep_ledger else plan_erasure(catalog, subjects, org,
                                                                                        settings)

    if execute:
        with fs.exclusive_lock(catalog.state_path, "erase"):  # plan under the lock that the execution holds
            recover_lake(catalog)
            plan = plan_now()
            if plan.targets or not plan.already_processed:
                if not sweep_ledger:
                    register.record(catalog, plan.request_id, "erasure", received, "started",
                                    subjects=len(plan.subject_hashes))
                receipt = execute_erasure(catalog, plan, settings)
    else:
        plan = plan_now()
    result = {"request_id": plan.request_id, "subjects": len(plan.subject_hashes), "not_found": plan.not_found,
              "members_added": plan.members_added, "already_processed": plan.already_processed,
              "executed": receipt is not None, "planned": plan.counts(), "planned_cells": plan.cell_counts(),
              "files": len(plan.targets),
              "problems": [str(p) for p in dict.fromkeys(surveyed + plan.problems)]}
    if receipt is not None:
        result["receipt"] = receipt
    if not sweep_ledger:
        done = receipt is not None or plan.already_processed
        state = "planned" if not execute else "partly done" if result["problems"] else "executed" if done else "planned"
        register.record(catalog, plan.request_id, "erasure", received, state, subjects=len(plan.subject_hashes),
                        why=result["problems"][0] if execute and result["problems"] else "")
    return result


@flow(name="erase", timeout_seconds=RUN_TIMEOUT_SECONDS, flow_run_name=erase_run_name)
def erase_flow(catalog_path: str, subjects_file: str | None = None, org: str | None = None, execute: bool = False,
               ledger: bool = False, root: str | None = None, settings: Settings | None = None,
               received: date | None = None) -> dict:
    """Plan (default) or, with ``execute``, carry out an erasure request: the subject ids in ``subjects_file`` (one
    a line, or the first column of a CSV) and/or the organisation ``org``, in every raw dataset and every release.
    With ``ledger`` (and no request), every processed request is applied again to what arrived since."""
    check_erase_request(subjects_file, org, ledger)
    catalog = load_catalog(catalog_path, root=root)
    settings = settings or Settings()
    check_lake_key(catalog, settings)
    result = run_erase(catalog, Path(subjects_file) if subjects_file else None, org, execute, settings,
                       sweep_ledger=ledger, received=received)
    publish_artifacts("erasure", erasure_markdown(result))
    report_audit_head(catalog, settings, result["executed"])
    get_run_logger().info("erase (%s): request %s, %d file(s), %d problem(s)", "execute" if execute else "plan",
                          result["request_id"], result["files"], len(result["problems"]))
    if result["problems"]:
        raise incomplete("erase", result["problems"], result)
    return result
