"""``purge``: retention per dataset and per release (clause 5.2.1). Plans by default; ``execute`` acts.

Work is per file, the unit storage can replace atomically: a file whose rows are all expired is removed, a file
with some expired rows is rewritten without them (temp, fsync, rename), so a purge killed at any point and run
again ends as one uninterrupted run would. Partitions whose whole day is inside retention are not read at all.

Rows under an active legal hold are kept, and the plan says which hold kept them. Rows whose event time is missing
or unparseable are never deleted: they are counted, and kept or quarantined as the catalog says. Immutable
datasets are never rewritten: their expired rows are quarantined (excluded from every read path) instead.
Executed actions are recorded in the hash-chained audit log with the files' content hashes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow, get_run_logger

from configs.catalog import Catalog, LegalHold, load_catalog
from configs.errors import StorageError, incomplete
from configs.settings import Settings
from flows import quarantine
from flows.audit import AuditLog
from flows.lake_key import check_lake_key
from flows.naming import purge_run_name
from flows.progress import progress_callback
from flows.reports import publish_artifacts, report_audit_head, write_report
from flows.runtime import RUN_TIMEOUT_SECONDS
from flows.storage import Problem, dt_of, lake_fs, recover_lake, release_store, storage_for, survey
from transforms.reporting import purge_markdown
from transforms.retention import cutoff, decide_rows, partition_status, resolve_as_of
from transforms.times import to_timestamp


@dataclass
class FileAction:
    target: str  # dataset name, or release/dataset
    partition: str
    path: str  # relative to the lake's root
    action: str  # delete | rewrite | quarantine
    rows: int  # rows in the file
    expired: int
    deleted: int
    held: int = 0
    missing_time: int = 0
    quarantined: int = 0
    bytes: int = 0
    reason: str = ""
    holds: list[str] = field(default_factory=list)


@dataclass
class PurgePlan:
    as_of: datetime
    actions: list[FileAction] = field(default_factory=list)
    held_datasets: dict[str, str] = field(default_factory=dict)
    missing_time: dict[str, int] = field(default_factory=dict)
    delta: dict[str, dict] = field(default_factory=dict)
    #: What the purge refused or could not handle (links, unreadable files, folders that are no partition).
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "actions": [a.__dict__ for a in self.actions],
                "held_datasets": self.held_datasets, "missing_time": self.missing_time, "delta": self.delta,
                "problems": [str(p) for p in dict.fromkeys(self.problems)],
                "rows": sum(max(a.deleted, 0) for a in self.actions), "bytes": sum(a.bytes for a in self.actions),
                "held_rows": sum(a.held for a in self.actions),
                "quarantined": sum(a.quarantined for a in self.actions)}


def active_holds(catalog: Catalog, as_of: datetime) -> list[tuple[LegalHold, frozenset[str]]]:
    out = []
    for hold in catalog.legal_holds:
        if hold.until < as_of.date():
            continue
        subjects = set(hold.subjects)
        if hold.subjects_file is not None:
            from flows.subject_files import read_subjects_file  # here: pandas (via the operators) costs a plan 0.3 s

            subjects.update(read_subjects_file(hold.subjects_file))
        out.append((hold, frozenset(subjects)))
    return out


def plan_dataset(catalog: Catalog, name: str, as_of: datetime, holds,
                 problems: list[Problem]) -> tuple[list[FileAction], str | None, int]:
    """(file actions, reason the whole dataset is held or None, rows with a missing event time seen). A file that
    cannot be read is reported in ``problems`` and left alone."""
    ds = catalog.datasets[name]
    if ds.retention is None:
        return [], None, 0
    for hold, subjects in holds:
        if name in hold.datasets and not subjects:
            return [], f"{hold.reason} (until {hold.until})", 0
    held_subjects = _held_for(holds, name)
    hold_names = [h.reason for h, s in holds if s and (not h.datasets or name in h.datasets)]
    cut = cutoff(as_of, ds.retention)
    store = storage_for(catalog, name)
    reason = f"older than {ds.retention.days}d retention (cutoff {cut.isoformat(timespec='seconds')})"
    cols = [ds.event_time] + ([ds.subject_key] if ds.subject_key else []) + (
        [ds.row_key] if ds.row_key and ds.row_key not in (ds.event_time, ds.subject_key) else [])
    actions, missing_total = [], 0
    quarantined = quarantine.load(catalog, name) if ds.immutable else None
    for part in store.list_partitions():
        if partition_status(part.dt, cut, catalog.lake.timezone) == "live" and ds.on_missing_time == "keep":
            continue
        for path in part.paths:
            try:
                table = store.read_file(path, columns=[c for c in cols])
                times = to_timestamp(table.column(ds.event_time), catalog.lake.timezone)
            except (StorageError, KeyError, pa.ArrowException) as e:
                aside = ds.on_bad_file == "quarantine" and ds.format != "delta"
                problems.append(Problem(store.fs.rel(path), _unreadable(e, aside)))
                if aside:
                    actions.append(FileAction(name, part.label, store.fs.rel(path), "set_aside", -1, -1, -1,
                                              reason="unreadable (on_bad_file: quarantine)"))
                continue
            subjects = table.column(ds.subject_key).combine_chunks().cast(pa.string()) if ds.subject_key else None
            d = decide_rows(times, subjects, cut, held_subjects=held_subjects, immutable=ds.immutable,
                            on_missing_time=ds.on_missing_time)
            missing_total += d.missing_time
            q = d.quarantined
            if q and quarantined is not None and len(quarantined):
                keys = table.column(ds.row_key).combine_chunks().cast(pa.string()).filter(d.quarantine)
                q = int(len(keys) - pc.sum(pc.is_in(keys, quarantined).cast(pa.int64())).as_py())
            if not d.deleted and not q:
                continue
            action = ("delete" if d.deleted == table.num_rows else "rewrite") if d.deleted else "quarantine"
            actions.append(FileAction(name, part.label, store.fs.rel(path), action, table.num_rows, d.expired,
                                      d.deleted, held=d.held, missing_time=d.missing_time, quarantined=q,
                                      bytes=store.fs.size(path) if action == "delete" else 0,
                                      reason=reason if d.deleted or ds.immutable else "event time missing",
                                      holds=hold_names if d.held else []))
    for path, dt in store.bad_files():  # set aside earlier: they expire with their date like any other file
        if partition_status(dt, cut, catalog.lake.timezone) == "expired":
            actions.append(FileAction(name, path.parent.name if dt else path.name, store.fs.rel(path),
                                      "delete_unreadable", -1, -1, -1, bytes=store.fs.size(path),
                                      reason=f"{reason}; a file set aside as unreadable"))
    problems += store.problems
    return actions, None, missing_total


def _unreadable(e: Exception, aside: bool = False) -> str:
    """Why a file could not be used, in one line (a StorageError already names the file: keep its reason)."""
    fate = "set aside as .bad-<name> (on_bad_file: quarantine)" if aside else "left alone"
    if isinstance(e, KeyError):
        return f"cannot be read: the column {e.args[0]!r} is missing; {fate}"
    msg = str(e).split(": ", 1)[-1] if isinstance(e, StorageError) else type(e).__name__
    return f"cannot be read ({msg}); {fate}"


def plan_release(catalog: Catalog, release: str, as_of: datetime, problems: list[Problem]) -> list[FileAction]:
    rel = catalog.releases[release]
    if rel.retention is None:
        return []
    cut = cutoff(as_of, rel.retention)
    actions = []
    for ds in rel.datasets:
        store = release_store(catalog, release, ds)
        for dt, folder in store.partitions():
            if partition_status(dt, cut, catalog.lake.timezone) == "expired":
                actions.append(FileAction(f"{release}/{ds}", folder.name, store.fs.rel(folder), "delete", -1, -1, -1,
                                          bytes=store.size(folder),
                                          reason=f"release older than {rel.retention.days}d retention"))
        problems += store.problems
    return actions


def plan_purge(catalog: Catalog, as_of: datetime) -> PurgePlan:
    plan = PurgePlan(as_of)
    holds = active_holds(catalog, as_of)
    for name in catalog.datasets:
        actions, held, missing = plan_dataset(catalog, name, as_of, holds, plan.problems)
        plan.actions += actions
        if held:
            plan.held_datasets[name] = held
        if missing:
            plan.missing_time[name] = missing
    for rel in catalog.releases:
        plan.actions += plan_release(catalog, rel, as_of, plan.problems)
    return plan


def _held_for(holds, dataset: str) -> frozenset[str]:
    """Subjects under an active hold that covers ``dataset``."""
    return frozenset().union(*[s for h, s in holds if not h.datasets or dataset in h.datasets]) if holds \
        else frozenset()


def execute_action(catalog: Catalog, a: FileAction, as_of: datetime, holds, audit: AuditLog, run_id: str) -> None:
    """Carry out one planned action, re-deciding from the file as it is now (so a re-run after a crash is exact).
    Kept rows come out exactly as they went in (text files keep their lines byte for byte)."""
    fs = lake_fs(catalog)
    path = catalog.lake.root / a.path
    if "/" in a.target:
        release, dataset = a.target.split("/", 1)
        if fs.exists(path):
            release_store(catalog, release, dataset).delete_partition(dt_of(path.name))
            audit.append("purge.release_partition", run_id=run_id, release=a.target, partition=a.partition)
        return
    if not fs.exists(path):
        return  # removed by an earlier, interrupted run
    ds = catalog.datasets[a.target]
    store = storage_for(catalog, a.target)
    if a.action in ("set_aside", "delete_unreadable"):
        before = fs.digest(path)
        if a.action == "set_aside":
            moved = store.quarantine_file(path)
            audit.append("purge.set_aside", run_id=run_id, dataset=a.target, path=a.path, to=fs.rel(moved),
                         sha256=before, reason=a.reason)
        else:
            store.delete_file(path)
            audit.append("purge.file", run_id=run_id, dataset=a.target, path=a.path, sha256_before=before,
                         sha256_after=None, reason=a.reason, policy_hash=catalog.policy_hash)
        return
    cols = [c for c in (ds.event_time, ds.subject_key, ds.row_key) if c]
    table = store.read_file(path, columns=list(dict.fromkeys(cols)))
    held_subjects = _held_for(holds, a.target)
    times = to_timestamp(table.column(ds.event_time), catalog.lake.timezone)
    subjects = table.column(ds.subject_key).combine_chunks().cast(pa.string()) if ds.subject_key else None
    d = decide_rows(times, subjects, cutoff(as_of, ds.retention), held_subjects=held_subjects,
                    immutable=ds.immutable, on_missing_time=ds.on_missing_time)
    before = fs.digest(path)
    added = 0
    if d.quarantined:
        added = quarantine.add(catalog, a.target, table.column(ds.row_key).combine_chunks().filter(d.quarantine))
    if d.deleted and d.deleted == table.num_rows:
        store.delete_file(path)
        after = None
    elif d.deleted:
        store.delete_rows(path, d.delete)
        after = fs.digest(path)
    else:
        after = before
    if d.deleted or added:
        audit.append("purge.file", run_id=run_id, dataset=a.target, path=a.path, sha256_before=before,
                     sha256_after=after, rows_before=table.num_rows, rows_deleted=d.deleted, rows_held=d.held,
                     rows_quarantined=added, missing_time=d.missing_time, holds=a.holds,
                     cutoff=cutoff(as_of, ds.retention).isoformat(), policy_hash=catalog.policy_hash)


def run_purge(catalog: Catalog, as_of: date | datetime | None, execute: bool, settings: Settings,
              progress=None) -> dict:
    """Plan, and with ``execute`` carry out, retention for the whole catalog. Plain Python (no Prefect): see
    :func:`purge_flow`. What the purge refused or could not handle is listed in the result's ``problems``."""
    moment = resolve_as_of(as_of, catalog.lake.timezone, datetime.now(ZoneInfo(catalog.lake.timezone)))
    fs = lake_fs(catalog)
    surveyed = survey(catalog)  # the root exists and piiflow's own folders hold no link, before anything is written
    if execute:
        audit = AuditLog.of(catalog, settings)
        with fs.exclusive_lock(catalog.state_path, "purge"):
            recover_lake(catalog)
            plan = plan_purge(catalog, moment)
            _execute(catalog, plan, moment, audit, progress)
    else:
        plan = plan_purge(catalog, moment)
    plan.problems = surveyed + plan.problems
    return {**plan.as_dict(), "executed": execute}


def _execute(catalog: Catalog, plan: PurgePlan, moment: datetime, audit: AuditLog, progress) -> None:
    run_id = uuid.uuid4().hex[:12]
    holds = active_holds(catalog, moment)
    audit.append("purge.start", run_id=run_id, as_of=moment.isoformat(), policy_hash=catalog.policy_hash,
                 planned=len(plan.actions), held_datasets=plan.held_datasets)
    done: dict[str, int] = {}
    for i, a in enumerate(plan.actions, 1):
        try:
            execute_action(catalog, a, moment, holds, audit, run_id)
        except StorageError as e:  # this file only: reported, the others go on
            plan.problems.append(Problem(a.path, _unreadable(e)))
        except OSError as e:  # the disk, not the file: stop, saying what changed before
            audit.append("purge.stopped", run_id=run_id, error=type(e).__name__, at=a.path, changed=done)
            changed = ", ".join(f"{t} ({n} file(s))" for t, n in done.items()) or "nothing"
            raise StorageError(f"purge stopped at {a.path}: {e.strerror or type(e).__name__}; changed before it "
                               f"stopped: {changed}; the rest is as it was") from e
        done[a.target] = done.get(a.target, 0) + 1
        if progress:
            progress(i, len(plan.actions))
    plan.delta = vacuum_and_check(catalog, moment, holds, audit, run_id)
    audit.append("purge.end", run_id=run_id, files=len(plan.actions),
                 rows_deleted=sum(a.deleted for a in plan.actions if a.deleted > 0),
                 problems=len(plan.problems))

def vacuum_and_check(catalog: Catalog, moment: datetime, holds, audit: AuditLog, run_id: str) -> dict:
    """Vacuum every Delta dataset with a retention, then check by time travel that no old version can still be
    read with rows the purge deleted (expired and not held). A version that can is a failure."""
    out = {}
    for name, ds in catalog.datasets.items():
        if ds.format != "delta" or ds.retention is None:
            continue
        store = storage_for(catalog, name)
        removed = store.vacuum()
        cut = cutoff(moment, ds.retention)
        held = _held_for(holds, name)

        def deleted(t: pa.Table, ds=ds, cut=cut, held=held) -> pa.Array:
            subjects = t.column(ds.subject_key).combine_chunks().cast(pa.string()) if ds.subject_key else None
            return decide_rows(to_timestamp(t.column(ds.event_time), catalog.lake.timezone), subjects, cut,
                               held_subjects=held).delete

        bad = store.history_holds(deleted) if not ds.immutable else []
        out[name] = {"vacuumed_files": removed, "versions_still_holding_expired_rows": bad}
        audit.append("purge.delta_vacuum", run_id=run_id, dataset=name, vacuumed_files=removed,
                     old_versions_with_expired_rows=bad)
        if bad:
            raise StorageError(f"{name}: Delta versions {bad} still hold expired rows after vacuum")
    return out


@flow(name="purge", timeout_seconds=RUN_TIMEOUT_SECONDS, flow_run_name=purge_run_name)
def purge_flow(catalog_path: str, as_of: date | None = None, execute: bool = False, root: str | None = None,
               settings: Settings | None = None) -> dict:
    """Plan (default) or, with ``execute``, carry out retention for every dataset and release of the catalog as of
    ``as_of`` (a date means its midnight in the lake's time zone; default now). Fails at the end, having done the
    rest, if anything was refused or could not be handled."""
    catalog = load_catalog(catalog_path, root=root)
    settings = settings or Settings()
    check_lake_key(catalog, settings)
    result = run_purge(catalog, as_of, execute, settings, progress=progress_callback("purge"))
    md = purge_markdown(result)
    result["report"] = str(write_report(catalog, "purge", result, md))
    publish_artifacts("purge", md)
    report_audit_head(catalog, settings, execute)
    get_run_logger().info("purge (%s): %d actions, %d rows, %d problems", "execute" if execute else "plan",
                          len(result["actions"]), result["rows"], len(result["problems"]))
    if result["problems"]:
        raise incomplete("purge", result["problems"], result)
    return result
