"""``sunset``: a discontinued product's datasets deleted or anonymised (privacy policy 5.2.2), in raw data and
releases, planned first, crash-safe like the purge.

- ``delete``: every raw file of the datasets is deleted, and every release's partitions of them.
- ``anonymise``: first every date of each dataset is de-identified to the release standard, with every direct
  identifier dropped (pseudonyms too: a keyed pseudonym is still personal information), free text redacted, and
  k-anonymity met (:data:`ARCHIVE_K`), gated and published partition by partition, with manifests, as the
  ``sunset_archive`` release (``releases/sunset_archive/<dataset>/``); then the raw data and the other releases'
  partitions go as in ``delete``. A date the gate blocks stops the sunset before anything is deleted.

The run writes ``state/sunset/pending/<id>.json`` before it changes anything and moves it to the ``delete`` phase
only when the archive is complete; every file operation is atomic; so a run killed at any point and run again
ends as one uninterrupted run. A completed sunset gets a receipt, a line in ``state/sunset/ledger.jsonl`` and
audit entries (counts only); running it again finds nothing left and records nothing new.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, get_run_logger

from configs.catalog import RESERVED_RECIPIENTS, RESERVED_RELEASES, Catalog, Release, load_catalog
from configs.checks import check_sunset_request
from configs.errors import ReleaseBlocked, StorageError, incomplete
from configs.operators import Drop
from configs.settings import Settings
from flows.audit import AuditLog
from flows.lake_key import check_lake_key
from flows.naming import sunset_run_name
from flows.reports import publish_artifacts, report_audit_head
from flows.runtime import RUN_TIMEOUT_SECONDS
from flows.storage import lake_fs, recover_lake, recover_release, release_store, storage_for, survey
from transforms.keys import derive_key
from transforms.reporting import sunset_markdown

#: The release an anonymising sunset publishes its archive as, and the k it meets.
ARCHIVE, ARCHIVE_RECIPIENT, ARCHIVE_K = RESERVED_RELEASES[0], RESERVED_RECIPIENTS[0], 5


def sunset_id(datasets: list[str], mode: str) -> str:
    return hashlib.sha256(json.dumps([sorted(datasets), mode]).encode()).hexdigest()[:16]


def archive_catalog(catalog: Catalog, datasets: list[str]) -> Catalog:
    """The catalog as the archive sees it: the datasets with every direct column dropped, and the archive release."""
    dropped = {name: ds.model_copy(update={"columns": {
        c: (p.model_copy(update={"op": Drop()}) if p.kind == "direct" else p) for c, p in ds.columns.items()}})
        for name, ds in catalog.datasets.items() if name in datasets}
    archive = Release(recipient=ARCHIVE_RECIPIENT, purpose="analytics", datasets=tuple(datasets), k_anonymity=ARCHIVE_K,
                      description="what is left of a discontinued product, anonymised (privacy policy 5.2.2)")
    return catalog.model_copy(update={"datasets": {**catalog.datasets, **dropped},
                                      "releases": {**catalog.releases, ARCHIVE: archive}})


def plan_sunset(catalog: Catalog, datasets: list[str], mode: str) -> dict:
    """What a sunset reaches: raw files per dataset, published partitions per release (nothing is changed)."""
    raw = {name: sum(len(p.paths) for p in storage_for(catalog, name).list_partitions()) for name in datasets}
    releases = {f"{r}/{d}": len(release_store(catalog, r, d).partitions())
                for r, rel in catalog.releases.items() for d in rel.datasets if d in datasets}
    return {"sunset_id": sunset_id(datasets, mode), "datasets": list(datasets), "mode": mode, "raw_files": raw,
            "release_partitions": {k: v for k, v in releases.items() if v}}


def _pending_path(catalog: Catalog, sid: str) -> Path:
    return catalog.state_path / "sunset" / "pending" / f"{sid}.json"


def _archive(catalog: Catalog, datasets: list[str], settings: Settings, audit: AuditLog, run_id: str) -> dict:
    """Publish every date of ``datasets`` anonymised as the archive release; raises ReleaseBlocked (nothing deleted)
    if the gate blocks a date. Dates archived by an interrupted run are skipped as unchanged."""
    from flows.deidentify import plan_dates, release_partition

    arch = archive_catalog(catalog, datasets)
    fs = lake_fs(catalog)
    recover_release(fs, arch.release_path(ARCHIVE))
    key = derive_key(settings.master_key(), arch.releases[ARCHIVE].recipient)
    counts = {"published": 0, "skipped": 0, "rows_out": 0}
    for name in datasets:
        for dt, paths in plan_dates(arch, name, None, None).items():
            res = release_partition(arch, ARCHIVE, name, dt, paths, key, settings)
            if res.status in ("blocked", "unreadable"):
                audit.append("sunset.stopped", run_id=run_id, dataset=name, dt=dt.isoformat(), status=res.status)
                raise ReleaseBlocked(f"sunset: {name} dt={dt} cannot be anonymised ({res.status}: "
                                     f"{(res.reasons or ['?'])[0]}); nothing was deleted (--mode delete deletes it)",
                                     {"reasons": res.reasons})
            counts[res.status] = counts.get(res.status, 0) + 1
            counts["rows_out"] += res.rows_out
    return counts


def _delete(catalog: Catalog, datasets: list[str], audit: AuditLog, run_id: str) -> dict:
    """Delete every raw file of ``datasets`` and every declared release's partitions of them, one atomic step at a
    time (a re-run deletes what is left)."""
    fs = lake_fs(catalog)
    done: dict[str, int] = {}
    for name in datasets:
        store = storage_for(catalog, name)
        files = [p for part in store.list_partitions() for p in part.paths]
        for path in files:
            store.delete_file(path)
        if catalog.datasets[name].format == "delta":
            store.vacuum()  # old versions must not keep the rows readable by time travel
        done[name] = len(files)
        audit.append("sunset.raw", run_id=run_id, dataset=name, files=len(files))
    for rname, rel in catalog.releases.items():
        for name in (d for d in rel.datasets if d in datasets):
            folders = [catalog.release_path(rname, name), catalog.release_path(rname) / "_meta" / name]
            n = len(release_store(catalog, rname, name).partitions())
            for folder in folders:
                if fs.exists(folder):
                    fs.delete_tree(folder, catalog.release_path(rname))
            done[f"{rname}/{name}"] = n
            audit.append("sunset.release", run_id=run_id, release=rname, dataset=name, partitions=n)
    return done


def run_sunset(catalog: Catalog, datasets: list[str], mode: str, execute: bool, settings: Settings) -> dict:
    """Plan, and with ``execute`` carry out, a sunset. Plain Python (no Prefect): :func:`sunset_flow` runs it."""
    check_sunset_request(catalog, datasets, mode)
    problems = [str(p) for p in survey(catalog, datasets=list(datasets))]
    plan = plan_sunset(catalog, datasets, mode)
    result = {**plan, "executed": False, "problems": problems}
    if execute and problems:  # all or nothing: a sunset that cannot reach everything changes nothing
        raise StorageError(f"sunset refused, nothing changed: {problems[0]}"
                           + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    if not execute:
        return result
    fs, audit = lake_fs(catalog), AuditLog.of(catalog, settings)
    with fs.exclusive_lock(catalog.state_path, "sunset"):
        recover_lake(catalog)
        sid, run_id = plan["sunset_id"], uuid.uuid4().hex[:12]
        pending = _pending_path(catalog, sid)
        phase = json.loads(fs.read_bytes(pending))["phase"] if fs.exists(pending) else None
        if phase is None and not any(plan["raw_files"].values()) and not plan["release_partitions"]:
            result["nothing_left"] = True
            return result
        audit.append("sunset.start", run_id=run_id, sunset_id=sid, datasets=list(datasets), mode=mode,
                     resumed=phase is not None, policy_hash=catalog.policy_hash)
        if phase is None:
            phase = "archive" if mode == "anonymise" else "delete"
            fs.write_bytes(pending, json.dumps({"sunset_id": sid, "phase": phase}).encode())
        if phase == "archive":
            result["archive"] = _archive(catalog, datasets, settings, audit, run_id)
            fs.write_bytes(pending, json.dumps({"sunset_id": sid, "phase": "delete"}).encode())
        result["deleted"] = _delete(catalog, datasets, audit, run_id)
        receipt = {"sunset_id": sid, "run_id": run_id, "completed_at": datetime.now(timezone.utc).isoformat(),
                   "datasets": list(datasets), "mode": mode, "planned": {k: plan[k] for k in (
                       "raw_files", "release_partitions")}, "archive": (fs.rel(catalog.release_path(ARCHIVE))
                                                                     if mode == "anonymise" else None),
                   "policy_hash": catalog.policy_hash}
        fs.write_bytes(catalog.state_path / "sunset" / "receipts" / f"{sid}-{run_id}.json",
                       json.dumps(receipt, indent=2).encode())
        fs.append_line(catalog.state_path / "sunset" / "ledger.jsonl", json.dumps(receipt) + "\n")
        fs.delete_file(pending)
        audit.append("sunset.end", run_id=run_id, sunset_id=sid)
        result["executed"], result["receipt"] = True, receipt
    return result


@flow(name="sunset", timeout_seconds=RUN_TIMEOUT_SECONDS, flow_run_name=sunset_run_name)
def sunset_flow(catalog_path: str, datasets: list[str], mode: str, execute: bool = False, root: str | None = None,
                settings: Settings | None = None) -> dict:
    """Plan (default) or, with ``execute``, carry out the sunset of a discontinued product's ``datasets``:
    ``mode`` ``delete`` or ``anonymise`` (see the module docstring), in raw data and every release."""
    catalog = load_catalog(catalog_path, root=root)
    settings = settings or Settings()
    check_lake_key(catalog, settings)
    result = run_sunset(catalog, list(datasets), mode, execute, settings)
    publish_artifacts("sunset", sunset_markdown(result))
    report_audit_head(catalog, settings, result["executed"])
    get_run_logger().info("sunset (%s, %s) of %s: %d raw file(s), %d release dataset(s)",
                          mode, "execute" if execute else "plan", ", ".join(datasets), sum(result["raw_files"].values()),
                          len(result["release_partitions"]))
    if result["problems"]:
        raise incomplete("sunset", result["problems"], result)
    return result
