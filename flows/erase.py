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

import hashlib
import json
import os
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow

from configs.catalog import Catalog, load_catalog
from configs.settings import Settings
from flows.audit import AuditLog
from flows.runtime import RUN_TIMEOUT_SECONDS
from flows.storage import (_DT_DIR, exclusive_lock, file_digest, is_hidden, storage_for, sweep_temporaries,
                           write_bytes_atomic)
from transforms.errors import PolicyError, StorageError
from transforms.operators import derive_key, pseudonymize, state_key, subject_hash


@dataclass
class ErasureTarget:
    target: str  # dataset, or release/dataset
    path: str
    rows: int
    matched: int
    mode: str  # delete | anonymise


@dataclass
class ErasurePlan:
    request_id: str
    subject_hashes: list[str]
    org_hash: str | None
    members_added: int
    targets: list[ErasureTarget] = field(default_factory=list)
    already_processed: bool = False
    #: The raw subject ids (requested and found through the organisation): held in memory for execution only,
    #: never written, logged or returned.
    subjects: list[str] = field(default_factory=list, repr=False)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.targets:
            out[t.target] = out.get(t.target, 0) + t.matched
        return out


def _ledger_path(catalog: Catalog) -> Path:
    return catalog.state_path / "erasure" / "ledger.jsonl"


def ledger(catalog: Catalog) -> list[dict]:
    path = _ledger_path(catalog)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def erased_hashes(catalog: Catalog) -> tuple[frozenset[str], frozenset[str]]:
    """(subject hashes, organisation hashes) of every processed request: kept out of later releases."""
    subs, orgs = set(), set()
    for entry in ledger(catalog):
        subs.update(entry["subject_hashes"])
        if entry.get("org_hash"):
            orgs.add(entry["org_hash"])
    return frozenset(subs), frozenset(orgs)


def _text(col) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.cast(pa.string())


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
                hit = pc.fill_null(pc.equal(_text(t.column(ds.org_key)), org), False)
                if pc.any(hit).as_py():
                    found = True
                    if ds.subject_key:
                        members.update(v for v in _text(t.column(ds.subject_key)).filter(hit).to_pylist() if v)
    return found, members


def _raw_mask(table: pa.Table, ds, subjects: pa.Array, org: str | None) -> pa.Array:
    mask = pa.array([False] * table.num_rows, pa.bool_())
    if ds.subject_key and ds.subject_key in table.column_names:
        mask = pc.or_(mask, pc.fill_null(pc.is_in(_text(table.column(ds.subject_key)), subjects), False))
    if org is not None and ds.org_key and ds.org_key in table.column_names:
        mask = pc.or_(mask, pc.fill_null(pc.equal(_text(table.column(ds.org_key)), org), False))
    return mask


def _release_tokens(catalog: Catalog, release: str, dataset: str, column: str | None, values: list[str],
                    master: bytes) -> pa.Array | None:
    """The release's pseudonyms of ``values`` in ``column`` (None when the column is not pseudonymised there)."""
    if column is None:
        return None
    op = catalog.datasets[dataset].columns[column].op
    if op.op != "pseudonymize":
        return None
    key = derive_key(master, catalog.releases[release].recipient)
    return pseudonymize(pa.array(values, pa.string()), key=key, length=op.length, prefix=op.prefix)


def _release_files(catalog: Catalog, release: str, dataset: str) -> list[Path]:
    folder = catalog.release_path(release, dataset)
    if not folder.exists():
        return []
    return sorted(f for d in folder.iterdir() if _DT_DIR.match(d.name) and not is_hidden(d.name)
                  for f in d.glob("*.parquet") if not is_hidden(f.name))


def plan_erasure(catalog: Catalog, subjects: list[str], org: str | None, settings: Settings) -> ErasurePlan:
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
    request_id = hashlib.sha256(json.dumps([hashes, org_hash]).encode()).hexdigest()[:16]
    plan = ErasurePlan(request_id, hashes, org_hash, len(members - set(subjects)), subjects=everyone)
    plan.already_processed = any(e["request_id"] == request_id for e in ledger(catalog))
    if plan.already_processed:
        return plan
    subj = pa.array(everyone, pa.string())
    for name, ds in catalog.datasets.items():
        if not ds.subject_key and not ds.org_key:
            continue
        store = storage_for(catalog, name)
        cols = [c for c in (ds.subject_key, ds.org_key) if c]
        for part in store.list_partitions():
            for path in part.paths:
                t = store.read_file(path, columns=cols)
                n = int(pc.sum(_raw_mask(t, ds, subj, org).cast(pa.int64())).as_py() or 0)
                if n:
                    plan.targets.append(ErasureTarget(name, str(path), t.num_rows, n, ds.on_erase))
    for rname, rel in catalog.releases.items():
        for dname in rel.datasets:
            ds = catalog.datasets[dname]
            s_tok = _release_tokens(catalog, rname, dname, ds.subject_key, everyone, master)
            o_tok = _release_tokens(catalog, rname, dname, ds.org_key, [org], master) if org else None
            for path in _release_files(catalog, rname, dname):
                n, rows = _release_match(path, ds, s_tok, o_tok)
                if n:
                    plan.targets.append(ErasureTarget(f"{rname}/{dname}", str(path), rows, n, "delete"))
    return plan


def _release_mask(t: pa.Table, ds, s_tok, o_tok) -> pa.Array:
    mask = pa.array([False] * t.num_rows, pa.bool_())
    if s_tok is not None and ds.subject_key in t.column_names:
        mask = pc.or_(mask, pc.fill_null(pc.is_in(t.column(ds.subject_key), s_tok), False))
    if o_tok is not None and ds.org_key in t.column_names:
        mask = pc.or_(mask, pc.fill_null(pc.is_in(t.column(ds.org_key), o_tok), False))
    return mask


def _release_match(path: Path, ds, s_tok, o_tok) -> tuple[int, int]:
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    return int(pc.sum(_release_mask(t, ds, s_tok, o_tok).cast(pa.int64())).as_py() or 0), t.num_rows


def _anonymise(table: pa.Table, ds, mask: pa.Array) -> pa.Table:
    """Rows under ``mask`` get a random token as subject key and nulls in every other direct column."""
    cols = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        pol = ds.columns.get(name)
        if name == ds.subject_key:
            tokens = pa.array([f"erased-{secrets.token_hex(8)}" for _ in range(len(col))], pa.string())
            col = pc.if_else(mask, tokens, col.cast(pa.string()))
        elif pol is not None and pol.kind == "direct":
            col = pc.if_else(mask, pa.nulls(len(col), col.type), col)
        cols[name] = col
    return pa.table(cols)


def execute_erasure(catalog: Catalog, plan: ErasurePlan, org: str | None, settings: Settings) -> dict:
    import pyarrow.parquet as pq

    from flows.storage import atomic_file

    audit = AuditLog(catalog.state_path)
    run_id = uuid.uuid4().hex[:12]
    master = settings.master_key()
    everyone = plan.subjects
    subj = pa.array(everyone, pa.string())
    audit.append("erase.start", run_id=run_id, request_id=plan.request_id, subjects=len(plan.subject_hashes),
                 org_hash=plan.org_hash, policy_hash=catalog.policy_hash)
    done: dict[str, int] = {}
    for t in plan.targets:
        path = Path(t.path)
        if not path.exists():
            continue
        before = file_digest(path)
        if "/" in t.target:
            rname, dname = t.target.split("/", 1)
            ds = catalog.datasets[dname]
            table = pq.read_table(path)
            mask = _release_mask(table, ds, _release_tokens(catalog, rname, dname, ds.subject_key, everyone, master),
                                 _release_tokens(catalog, rname, dname, ds.org_key, [org], master) if org else None)
            n = int(pc.sum(mask.cast(pa.int64())).as_py() or 0)
            if n:
                with atomic_file(path) as tmp:
                    pq.write_table(table.filter(pc.invert(mask)), tmp, compression="zstd")
        else:
            ds = catalog.datasets[t.target]
            store = storage_for(catalog, t.target)
            table = store.read_file(path)
            mask = _raw_mask(table, ds, subj, org)
            n = int(pc.sum(mask.cast(pa.int64())).as_py() or 0)
            if n and ds.on_erase == "anonymise":
                store.replace_file(path, _anonymise(table, ds, mask))
            elif n and n == table.num_rows:
                store.delete_file(path)
            elif n:
                store.replace_file(path, table.filter(pc.invert(mask)))
        if n:
            done[t.target] = done.get(t.target, 0) + n
            audit.append("erase.file", run_id=run_id, request_id=plan.request_id, target=t.target, path=str(path),
                         mode=t.mode, rows=n, sha256_before=before,
                         sha256_after=file_digest(path) if path.exists() else None)
    for name, ds in catalog.datasets.items():  # old Delta versions must not keep the erased rows readable
        if ds.format == "delta":
            store = storage_for(catalog, name)
            store.vacuum()
            bad = store.history_holds(lambda t, ds=ds: _raw_mask(t, ds, subj, org))
            audit.append("erase.delta_vacuum", run_id=run_id, dataset=name, old_versions_with_rows=bad)
            if bad:
                raise StorageError(f"{name}: Delta versions {bad} still hold erased rows after vacuum")
    receipt = {"request_id": plan.request_id, "run_id": run_id, "completed_at": datetime.now(timezone.utc).isoformat(),
               "subjects": len(plan.subject_hashes), "org_hash": plan.org_hash, "members_added": plan.members_added,
               "planned": plan.counts(), "rows": done, "policy_hash": catalog.policy_hash}
    write_bytes_atomic(catalog.state_path / "erasure" / "receipts" / f"{plan.request_id}.json",
                       json.dumps(receipt, indent=2).encode())
    line = json.dumps({"request_id": plan.request_id, "subject_hashes": plan.subject_hashes, "org_hash": plan.org_hash,
                       "completed_at": receipt["completed_at"], "run_id": run_id}) + "\n"
    lp = _ledger_path(catalog)
    lp.parent.mkdir(parents=True, exist_ok=True)
    with open(lp, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    audit.append("erase.end", run_id=run_id, request_id=plan.request_id, rows=sum(done.values()))
    return receipt


def exclude_erased(catalog: Catalog, dataset: str, table: pa.Table, master: bytes) -> pa.Table:
    """``table`` without the rows of subjects (or organisations) in the erasure ledger."""
    subs, orgs = erased_hashes(catalog)
    ds = catalog.datasets[dataset]
    if not subs and not orgs:
        return table
    skey = state_key(master)
    keep = pa.array([True] * table.num_rows, pa.bool_())
    for col, hashes in ((ds.subject_key, subs), (ds.org_key, orgs)):
        if not col or not hashes or col not in table.column_names:
            continue
        values = _text(table.column(col))
        enc = pc.dictionary_encode(values)
        hit = pa.array([v is not None and subject_hash(skey, v) in hashes for v in enc.dictionary.to_pylist()])
        keep = pc.and_(keep, pc.invert(pc.fill_null(hit.take(enc.indices), False)))
    return table.filter(keep)


def run_erase(catalog: Catalog, subjects_file: Path | None, org: str | None, execute: bool,
              settings: Settings | None = None) -> dict:
    from flows.purge import read_subjects_file

    settings = settings or Settings()
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
                receipt = execute_erasure(catalog, plan, org, settings)
    else:
        plan = plan_erasure(catalog, subjects, org, settings)
    result = {"request_id": plan.request_id, "subjects": len(plan.subject_hashes), "members_added": plan.members_added,
              "already_processed": plan.already_processed, "executed": receipt is not None, "planned": plan.counts(),
              "files": len(plan.targets)}
    if receipt is not None:
        result["receipt"] = receipt
    return result


@flow(name="erase", timeout_seconds=RUN_TIMEOUT_SECONDS)
def erase_flow(catalog_path: str, subjects_file: str | None = None, org: str | None = None,
               execute_plan: bool = False, root: str | None = None) -> dict:
    """Plan (default) or execute an erasure request."""
    catalog = load_catalog(catalog_path, root=root)
    return run_erase(catalog, Path(subjects_file) if subjects_file else None, org, execute_plan)
