"""``erase``: account cancellation (clauses 2.1, 8.3, 5.2.2) across every raw dataset and every release.

A request names subject ids and/or an organisation. An organisation stands for its own rows (``org_key``) and for
its members (subjects found beside it in any dataset that has both keys). Raw rows are deleted, or anonymised
where the dataset says ``on_erase: anonymise`` (subject key replaced by an irreversible random token, direct
identifiers nulled). Release rows are found through that release's pseudonym of the subject and deleted.

Work is per file with atomic replaces, so a killed run re-run ends as one uninterrupted run. The request then gets
a receipt and a line in the erasure ledger (``state/erasure/``), which holds keyed hashes only; a request already
in the ledger does nothing new, and later releases leave its subjects out.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import flow, get_run_logger

from configs.catalog import Catalog, load_catalog
from configs.errors import PolicyError, StorageError
from configs.settings import Settings
from flows import ledger
from flows.audit import AuditLog
from flows.reports import publish_artifacts
from flows.requests import read_subjects_file
from flows.runtime import RUN_TIMEOUT_SECONDS
from flows.storage import (
    _DT_DIR,
    atomic_file,
    exclusive_lock,
    file_digest,
    is_hidden,
    storage_for,
    sweep_temporaries,
    write_bytes_atomic,
)
from transforms.erasure import (
    ErasurePlan,
    ErasureTarget,
    anonymize_rows,
    as_text,
    matching_rows,
    raw_keys,
    release_keys,
    request_id,
)
from transforms.keys import derive_key, state_key, subject_hash
from transforms.reporting import erasure_markdown


def _org_members(catalog: Catalog, org: str) -> tuple[bool, set[str]]:
    """Whether ``org`` appears anywhere, and the subjects seen beside it."""
    found, members = False, set()
    for name, ds in catalog.datasets.items():
        if ds.org_key is None:
            continue
        store = storage_for(catalog, name)
        cols = [ds.org_key] + ([ds.subject_key] if ds.subject_key else [])
        for part in store.list_partitions():
            for path in part.paths:
                t = store.read_file(path, columns=cols)
                hit = matching_rows(t, {ds.org_key: pa.array([org], pa.string())})
                if pc.any(hit).as_py():
                    found = True
                    if ds.subject_key:
                        members.update(v for v in as_text(t.column(ds.subject_key)).filter(hit).to_pylist() if v)
    return found, members


def _release_files(catalog: Catalog, release: str, dataset: str) -> list[Path]:
    folder = catalog.release_path(release, dataset)
    if not folder.exists():
        return []
    return sorted(f for d in folder.iterdir() if _DT_DIR.match(d.name) and not is_hidden(d.name)
                  for f in d.glob("*.parquet") if not is_hidden(f.name))


def _recipient_key(catalog: Catalog, release: str, master: bytes) -> bytes:
    return derive_key(master, catalog.releases[release].recipient)


def _count(mask: pa.Array) -> int:
    return int(pc.sum(mask.cast(pa.int64())).as_py() or 0)


def plan_erasure(catalog: Catalog, subjects: list[str], org: str | None, settings: Settings) -> ErasurePlan:
    """The files an erasure request reaches, with the rows it matches in each (nothing is changed)."""
    if not subjects and org is None:
        raise PolicyError("erase: expected subject ids (--subjects FILE) or an organisation (--org ID), found neither")
    master = settings.master_key()
    skey = state_key(master)
    members: set[str] = set()
    if org is not None:
        found, members = _org_members(catalog, org)
        if not found:
            raise PolicyError(f"erase: unknown organisation (hash {subject_hash(skey, org)[:12]}): it appears in no "
                              f"dataset's org_key column")
    everyone = sorted(set(subjects) | members)
    hashes = sorted(subject_hash(skey, s) for s in everyone)
    org_hash = subject_hash(skey, org) if org is not None else None
    plan = ErasurePlan(request_id(hashes, org_hash), hashes, org_hash, len(members - set(subjects)),
                       subjects=everyone, org=org)
    plan.already_processed = any(e["request_id"] == plan.request_id for e in ledger.entries(catalog))
    if not plan.already_processed:
        plan.targets = _raw_targets(catalog, plan) + _release_targets(catalog, plan, master)
    return plan


def _raw_targets(catalog: Catalog, plan: ErasurePlan) -> list[ErasureTarget]:
    targets = []
    for name, ds in catalog.datasets.items():
        if not ds.subject_key and not ds.org_key:
            continue
        store = storage_for(catalog, name)
        cols = [c for c in (ds.subject_key, ds.org_key) if c]
        for part in store.list_partitions():
            for path in part.paths:
                t = store.read_file(path, columns=cols)
                n = _count(matching_rows(t, raw_keys(ds, plan.subjects, plan.org)))
                if n:
                    targets.append(ErasureTarget(name, str(path), t.num_rows, n, ds.on_erase))
    return targets


def _release_targets(catalog: Catalog, plan: ErasurePlan, master: bytes) -> list[ErasureTarget]:
    targets = []
    for rname, rel in catalog.releases.items():
        key = _recipient_key(catalog, rname, master)
        for dname in rel.datasets:
            wanted = release_keys(catalog.datasets[dname], plan.subjects, plan.org, key)
            for path in _release_files(catalog, rname, dname):
                t = pq.read_table(path)
                n = _count(matching_rows(t, wanted))
                if n:
                    targets.append(ErasureTarget(f"{rname}/{dname}", str(path), t.num_rows, n, "delete"))
    return targets


def _erase_release_file(catalog: Catalog, target: ErasureTarget, plan: ErasurePlan, master: bytes) -> int:
    rname, dname = target.target.split("/", 1)
    path = Path(target.path)
    table = pq.read_table(path)
    mask = matching_rows(table, release_keys(catalog.datasets[dname], plan.subjects, plan.org,
                                             _recipient_key(catalog, rname, master)))
    n = _count(mask)
    if n:
        with atomic_file(path) as tmp:
            pq.write_table(table.filter(pc.invert(mask)), tmp, compression="zstd")
    return n


def _erase_raw_file(catalog: Catalog, target: ErasureTarget, plan: ErasurePlan) -> int:
    """Re-decided from the file as it is now, so a re-run after a crash is exact."""
    ds = catalog.datasets[target.target]
    store = storage_for(catalog, target.target)
    path = Path(target.path)
    table = store.read_file(path)
    mask = matching_rows(table, raw_keys(ds, plan.subjects, plan.org))
    n = _count(mask)
    if n and ds.on_erase == "anonymise":
        store.replace_file(path, anonymize_rows(table, ds, mask))
    elif n and n == table.num_rows:
        store.delete_file(path)
    elif n:
        store.replace_file(path, table.filter(pc.invert(mask)))
    return n


def _vacuum_delta(catalog: Catalog, plan: ErasurePlan, audit: AuditLog, run_id: str) -> None:
    """Old Delta versions must not keep the erased rows readable: vacuum, then check by time travel."""
    for name, ds in catalog.datasets.items():
        if ds.format == "delta":
            store = storage_for(catalog, name)
            store.vacuum()
            bad = store.history_holds(lambda t, ds=ds: matching_rows(t, raw_keys(ds, plan.subjects, plan.org)))
            audit.append("erase.delta_vacuum", run_id=run_id, dataset=name, old_versions_with_rows=bad)
            if bad:
                raise StorageError(f"{name}: Delta versions {bad} still hold erased rows after vacuum")


def execute_erasure(catalog: Catalog, plan: ErasurePlan, settings: Settings) -> dict:
    """Carry out a plan, file by file (each replace atomic), then record the receipt and the ledger line."""
    audit = AuditLog(catalog.state_path)
    run_id = uuid.uuid4().hex[:12]
    master = settings.master_key()
    audit.append("erase.start", run_id=run_id, request_id=plan.request_id, subjects=len(plan.subject_hashes),
                 org_hash=plan.org_hash, policy_hash=catalog.policy_hash)
    done: dict[str, int] = {}
    for t in plan.targets:
        path = Path(t.path)
        if not path.exists():
            continue
        before = file_digest(path)
        n = _erase_release_file(catalog, t, plan, master) if "/" in t.target else _erase_raw_file(catalog, t, plan)
        if n:
            done[t.target] = done.get(t.target, 0) + n
            audit.append("erase.file", run_id=run_id, request_id=plan.request_id, target=t.target, path=str(path),
                         mode=t.mode, rows=n, sha256_before=before,
                         sha256_after=file_digest(path) if path.exists() else None)
    _vacuum_delta(catalog, plan, audit, run_id)
    receipt = {"request_id": plan.request_id, "run_id": run_id, "completed_at": datetime.now(timezone.utc).isoformat(),
               "subjects": len(plan.subject_hashes), "org_hash": plan.org_hash, "members_added": plan.members_added,
               "planned": plan.counts(), "rows": done, "policy_hash": catalog.policy_hash}
    write_bytes_atomic(catalog.state_path / "erasure" / "receipts" / f"{plan.request_id}.json",
                       json.dumps(receipt, indent=2).encode())
    ledger.append(catalog, {"request_id": plan.request_id, "subject_hashes": plan.subject_hashes,
                            "org_hash": plan.org_hash, "completed_at": receipt["completed_at"], "run_id": run_id})
    audit.append("erase.end", run_id=run_id, request_id=plan.request_id, rows=sum(done.values()))
    return receipt


def run_erase(catalog: Catalog, subjects_file: Path | None, org: str | None, execute: bool,
              settings: Settings) -> dict:
    """Plan, and with ``execute`` carry out, one erasure request. Plain Python (no Prefect): :func:`erase_flow`
    runs it as a flow."""
    subjects = read_subjects_file(subjects_file) if subjects_file else []
    receipt = None
    if execute:
        with exclusive_lock(catalog.state_path, "erase"):  # plan under the lock that the execution holds
            for name in catalog.datasets:
                sweep_temporaries(catalog.dataset_path(name))
            sweep_temporaries(catalog.lake.root / "releases")
            sweep_temporaries(catalog.state_path)
            plan = plan_erasure(catalog, subjects, org, settings)
            if not plan.already_processed:
                receipt = execute_erasure(catalog, plan, settings)
    else:
        plan = plan_erasure(catalog, subjects, org, settings)
    result = {"request_id": plan.request_id, "subjects": len(plan.subject_hashes), "members_added": plan.members_added,
              "already_processed": plan.already_processed, "executed": receipt is not None, "planned": plan.counts(),
              "files": len(plan.targets)}
    if receipt is not None:
        result["receipt"] = receipt
    return result


@flow(name="erase", timeout_seconds=RUN_TIMEOUT_SECONDS)
def erase_flow(catalog_path: str, subjects_file: str | None = None, org: str | None = None, execute: bool = False,
               root: str | None = None, settings: Settings | None = None) -> dict:
    """Plan (default) or, with ``execute``, carry out an erasure request: the subject ids in ``subjects_file`` (one
    a line) and/or the organisation ``org``, in every raw dataset and every release."""
    catalog = load_catalog(catalog_path, root=root)
    result = run_erase(catalog, Path(subjects_file) if subjects_file else None, org, execute, settings or Settings())
    publish_artifacts("erasure", erasure_markdown(result))
    get_run_logger().info("erase (%s): request %s, %d file(s)", "execute" if execute else "plan",
                          result["request_id"], result["files"])
    return result
