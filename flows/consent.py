"""``object`` and ``withdraw``: the consent ledger (privacy policy 8.2 objection, 8.3 withdrawal of consent), and
who each release leaves out (those requests, and minors under clause 7).

A request names subjects (and, for an objection, purposes). Planned by default; executed, it gets a line in
``state/consent/ledger.jsonl`` (keyed hashes of its subjects, never a raw id), a receipt under
``state/consent/receipts/`` and audit entries. Raw data is not touched: retention and erasure still apply. From then
on every release the request reaches leaves the subjects out, rows that arrive later included; a published
partition that holds them (found through the release's pseudonyms) is redone on the release's next run, because
its exclusion digest (:meth:`transforms.consent.Exclusions.digest`) changed. Re-running a request records nothing
new; a subject that appears in no dataset is counted as not found, and a request none of whose subjects appears is
refused.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow, get_run_logger

from configs.catalog import MINOR_RESTRICTED, Catalog, load_catalog
from configs.checks import check_consent_request
from configs.errors import PolicyError, StorageError, incomplete
from configs.settings import Settings
from flows import requests_register as register
from flows.audit import AuditLog
from flows.erase import each_release_file
from flows.lake_key import check_lake_key, state_keys
from flows.naming import consent_run_name
from flows.reports import publish_artifacts, report_audit_head
from flows.runtime import RUN_TIMEOUT_SECONDS
from flows.storage import Problem, lake_fs, recover_lake, storage_for, survey
from flows.subject_files import read_subjects_file
from transforms.consent import (
    Exclusions,
    age_columns,
    columns_for_ages,
    consent_exclusions,
    minor_births,
    purposes_reached,
    request_id,
)
from transforms.erasure import Erased, as_text, own_rows
from transforms.keys import state_key, subject_hash
from transforms.reporting import consent_markdown
from transforms.tables import count_true


def ledger_path(catalog: Catalog) -> Path:
    return catalog.state_path / "consent" / "ledger.jsonl"


def entries(catalog: Catalog) -> list[dict]:
    """The consent ledger's lines: one per recorded request (kind, purposes, subject hashes, when)."""
    return lake_fs(catalog).records(ledger_path(catalog))


# --------------------------------------------------------------------------------------------------------------
# What a release leaves out
# --------------------------------------------------------------------------------------------------------------


def today_in(catalog: Catalog) -> date:
    return datetime.now(ZoneInfo(catalog.lake.timezone)).date()


def release_exclusions(catalog: Catalog, release: str, settings: Settings, since: date | None) -> Exclusions:
    """Who ``release`` (a row-level or an aggregate release) leaves out: see :func:`purpose_exclusions`."""
    rel = catalog.releases[release] if release in catalog.releases else catalog.aggregates[release]
    return purpose_exclusions(catalog, rel.purpose, settings, since)


def purpose_exclusions(catalog: Catalog, purpose: str, settings: Settings, since: date | None) -> Exclusions:
    """Who a release for ``purpose`` leaves out: the subjects of recorded requests that reach the purpose, and, for
    a purpose in :data:`~configs.catalog.MINOR_RESTRICTED`, the subjects who were minors on some date from
    ``since`` on (the earliest partition the run builds) without a guardian's consent, by every dataset that tells
    ages."""
    skey, earlier = state_keys(catalog, settings.master_key())
    consent = consent_exclusions(entries(catalog), purpose)
    minors: dict[str, date] = {}
    if purpose in MINOR_RESTRICTED and since is not None:
        consented: set[str] = set()
        today = today_in(catalog)
        for name, ds in catalog.datasets.items():
            if not age_columns(ds):
                continue
            store = storage_for(catalog, name)
            for part in store.list_partitions():
                for path in part.paths:
                    t = store.read_file(path, columns_for_ages(ds))
                    births, yes = minor_births(t, ds, skey, catalog.lake.timezone, today, since)
                    for h, b in births.items():
                        minors[h] = max(b, minors.get(h, b))
                    consented |= yes
        minors = {h: b for h, b in minors.items() if h not in consented}
    return Exclusions(skey, consent, minors, earlier)


# --------------------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------------------


def _found(catalog: Catalog, subjects: list[str], problems: list[Problem]) -> set[str]:
    """The requested subjects that appear in some dataset's subject key column (only that column is read)."""
    wanted, found = pa.array(sorted(set(subjects)), pa.string()), set()
    for name, ds in catalog.datasets.items():
        if not ds.subject_key:
            continue
        store = storage_for(catalog, name)
        for part in store.list_partitions():
            for path in part.paths:
                try:
                    col = as_text(store.read_file(path, [ds.subject_key]).column(ds.subject_key))
                except (StorageError, pa.ArrowException) as e:
                    problems.append(Problem(store.fs.rel(path), f"cannot be read ({type(e).__name__})"))
                    continue
                found.update(pc.unique(col.filter(pc.fill_null(pc.is_in(col, wanted), False))).to_pylist())
        problems += store.problems
    return found


def _held_by_releases(catalog: Catalog, purposes: tuple[str, ...], subjects: set[str], settings: Settings
                      ) -> dict[str, dict]:
    """{release: {"partitions": n, "rows": n}} of the published partitions of releases of ``purposes`` that hold
    the subjects, found through each release's pseudonyms (redone on the release's next run)."""
    out = {r: {"partitions": 0, "rows": 0} for r, rel in catalog.releases.items() if rel.purpose in purposes}
    for rname, _, ds, _, _, t, looked_for in each_release_file(catalog, Erased(frozenset(subjects)), settings,
                                                               purposes):
        n = count_true(own_rows(t, ds, looked_for))
        out[rname]["partitions"] += bool(n)
        out[rname]["rows"] += n
    return out


def run_consent(catalog: Catalog, kind: str, subjects_file: Path, purposes: tuple[str, ...], execute: bool,
                settings: Settings, received: date | None = None) -> dict:
    """Plan, and with ``execute`` record, one objection (to ``purposes``) or withdrawal of consent, received on
    ``received`` (default today; the requests register keeps it). Plain Python (no Prefect): :func:`consent_flow`
    runs it as a flow."""
    subjects = read_subjects_file(subjects_file)
    if not subjects:
        raise PolicyError(f"{kind}: {subjects_file} names no subject")
    skey = state_key(settings.master_key())
    hashes = sorted({subject_hash(skey, s) for s in subjects})
    reached = purposes_reached(kind, purposes)
    rid = request_id(kind, reached if kind == "objection" else (), hashes)
    fs = lake_fs(catalog)
    problems = list(survey(catalog))
    found = _found(catalog, subjects, problems)
    recorded = next((e for e in entries(catalog) if e["request_id"] == rid), None)
    if not found and recorded is None:
        raise PolicyError(f"{kind}: none of the {len(set(subjects))} subject(s) appears in any dataset: nothing "
                          f"recorded (a wrong file?)")
    result = {"request_id": rid, "kind": kind, "purposes": list(reached), "subjects": len(hashes),
              "not_found": len(set(subjects) - found), "already_recorded": recorded is not None,
              "executed": False, "releases": _held_by_releases(catalog, reached, found, settings),
              "problems": [str(p) for p in dict.fromkeys(problems)]}
    if execute and recorded is None:
        with fs.exclusive_lock(catalog.state_path, kind):
            recover_lake(catalog)
            if not any(e["request_id"] == rid for e in entries(catalog)):
                result["receipt"] = _record(catalog, settings, kind, rid, reached, hashes, result)
                result["executed"] = True
    state = "executed" if result["executed"] or recorded is not None else "planned"
    register.record(catalog, rid, kind, received or today_in(catalog), state, subjects=len(hashes))
    return result


def _record(catalog: Catalog, settings: Settings, kind: str, rid: str, purposes: tuple[str, ...],
            hashes: list[str], plan: dict) -> dict:
    """The request's receipt, then its ledger line (keyed hashes only), each written whole; audited."""
    fs, audit = lake_fs(catalog), AuditLog.of(catalog, settings)
    run_id = uuid.uuid4().hex[:12]
    audit.append(f"{kind}.start", run_id=run_id, request_id=rid, subjects=len(hashes), purposes=list(purposes))
    receipt = {"request_id": rid, "run_id": run_id, "kind": kind, "purposes": list(purposes),
               "recorded_at": datetime.now(timezone.utc).isoformat(), "subjects": len(hashes),
               "not_found": plan["not_found"], "releases_to_redo": plan["releases"],
               "policy_hash": catalog.policy_hash}
    fs.write_bytes(catalog.state_path / "consent" / "receipts" / f"{rid}-{run_id}.json",
                   json.dumps(receipt, indent=2).encode())
    # objections keep their purposes; a withdrawal is read as "every purpose the law does not still allow", so a
    # purpose added to the vocabulary later is reached too
    fs.append_line(ledger_path(catalog), json.dumps(
        {"request_id": rid, "kind": kind, "purposes": list(purposes) if kind == "objection" else [],
         "subject_hashes": hashes, "recorded_at": receipt["recorded_at"], "run_id": run_id}) + "\n")
    audit.append(f"{kind}.end", run_id=run_id, request_id=rid)
    return receipt


@flow(name="consent", timeout_seconds=RUN_TIMEOUT_SECONDS, flow_run_name=consent_run_name)
def consent_flow(catalog_path: str, kind: str, subjects_file: str, purposes: list[str] | None = None,
                 execute: bool = False, root: str | None = None, settings: Settings | None = None,
                 received: date | None = None) -> dict:
    """Plan (default) or, with ``execute``, record an objection (``kind="objection"``, to ``purposes``) or a
    withdrawal of consent (``kind="withdrawal"``) for the subject ids in ``subjects_file``. Releases it reaches
    leave the subjects out from their next run on."""
    check_consent_request(kind, purposes)
    catalog = load_catalog(catalog_path, root=root)
    settings = settings or Settings()
    check_lake_key(catalog, settings)
    result = run_consent(catalog, kind, Path(subjects_file), tuple(purposes or ()), execute, settings, received)
    publish_artifacts(kind, consent_markdown(result))
    report_audit_head(catalog, settings, result["executed"])
    get_run_logger().info("%s (%s): request %s, %d subject(s), %d not found, releases %s", kind,
                          "execute" if execute else "plan", result["request_id"], result["subjects"],
                          result["not_found"], ", ".join(result["releases"]) or "none")
    if result["problems"]:
        raise incomplete(kind, result["problems"], result)
    return result
