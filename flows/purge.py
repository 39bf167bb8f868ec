"""``purge``: retention per dataset and per release (clause 5.2.1). Plans by default; ``execute`` acts.

Whole expired partitions are removed; a partition the cutoff falls inside (or an undated file) is read and, if
it holds expired rows, rewritten atomically without them. Rows whose event time is missing or unparseable are
never deleted: they are counted and reported.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.compute as pc
from prefect import flow, get_run_logger

from configs.catalog import Catalog, load_catalog
from flows.reports import md_table, publish_artifacts, write_report
from flows.storage import _DT_DIR, is_hidden, storage_for
from transforms.errors import PolicyError
from transforms.operators import to_timestamp
from transforms.retention import cutoff, expired_mask, partition_status


@dataclass
class PurgeAction:
    target: str  # dataset name or release/dataset
    partition: str
    action: str  # delete | rewrite
    rows: int
    bytes: int
    reason: str
    missing_time: int = 0
    paths: list[str] = field(default_factory=list)


def resolve_as_of(as_of: date | datetime | None, tz: str, now: datetime | None = None) -> datetime:
    """``as_of`` as an aware instant in ``tz`` (a date means its midnight). Refuses a moment in the future."""
    zone = ZoneInfo(tz)
    now = now or datetime.now(zone)
    if as_of is None:
        return now
    moment = as_of if isinstance(as_of, datetime) else datetime.combine(as_of, time(), zone)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if moment > now:
        raise PolicyError(f"--as-of {as_of} is in the future; retention is only enforced up to now")
    return moment


def plan_dataset(catalog: Catalog, name: str, as_of: datetime) -> list[PurgeAction]:
    ds = catalog.datasets[name]
    if ds.retention is None:
        return []
    cut = cutoff(as_of, ds.retention)
    store = storage_for(catalog, name)
    reason = f"older than {ds.retention.days}d retention (cutoff {cut.isoformat(timespec='seconds')})"
    actions = []
    for part in store.list_partitions():
        status = partition_status(part.dt, cut, catalog.lake.timezone)
        if status == "live":
            continue
        table = store.read(part, columns=[ds.event_time])
        if status == "expired":
            actions.append(PurgeAction(name, part.label, "delete", table.num_rows, part.bytes, reason,
                                       paths=[str(p) for p in part.paths]))
            continue
        mask = expired_mask(to_timestamp(table.column(ds.event_time), catalog.lake.timezone), cut)
        expired = pc.sum(pc.fill_null(mask, False).cast("int64")).as_py() or 0
        missing = mask.null_count
        if expired:
            actions.append(PurgeAction(name, part.label, "rewrite", expired, 0, reason, missing_time=missing,
                                       paths=[str(p) for p in part.paths]))
    return actions


def plan_release(catalog: Catalog, release: str, as_of: datetime) -> list[PurgeAction]:
    rel = catalog.releases[release]
    if rel.retention is None:
        return []
    cut = cutoff(as_of, rel.retention)
    actions = []
    for ds in rel.datasets:
        folder = catalog.release_path(release, ds)
        if not folder.exists():
            continue
        for child in sorted(folder.iterdir()):
            m = _DT_DIR.match(child.name)
            if is_hidden(child.name) or not m:
                continue
            if partition_status(date.fromisoformat(m.group(1)), cut, catalog.lake.timezone) == "expired":
                size = sum(f.stat().st_size for f in child.rglob("*") if f.is_file())
                actions.append(PurgeAction(f"{release}/{ds}", child.name, "delete", -1, size,
                                           f"release older than {rel.retention.days}d retention",
                                           paths=[str(child)]))
    return actions


def execute(catalog: Catalog, action: PurgeAction, as_of: datetime) -> None:
    if "/" in action.target:
        shutil.rmtree(action.paths[0], ignore_errors=True)
        return
    ds = catalog.datasets[action.target]
    store = storage_for(catalog, action.target)
    part = next((p for p in store.list_partitions() if p.label == action.partition), None)
    if part is None:  # already gone (a re-run after a crash)
        return
    if action.action == "delete":
        store.delete_partition(part)
        return
    table = store.read(part)
    mask = expired_mask(to_timestamp(table.column(ds.event_time), catalog.lake.timezone),
                        cutoff(as_of, ds.retention))
    store.replace(part, table.filter(pc.invert(pc.fill_null(mask, False))))


@flow(name="purge")
def purge_flow(catalog_path: str, as_of: date | None = None, execute_plan: bool = False,
               root: str | None = None) -> dict:
    """Plan (default) or execute retention for every dataset and release of the catalog."""
    catalog = load_catalog(catalog_path, root=root)
    moment = resolve_as_of(as_of, catalog.lake.timezone)
    actions = [a for n in catalog.datasets for a in plan_dataset(catalog, n, moment)]
    actions += [a for r in catalog.releases for a in plan_release(catalog, r, moment)]
    if execute_plan:
        for a in actions:
            execute(catalog, a, moment)
    result = {"as_of": moment.isoformat(), "executed": execute_plan, "actions": [a.__dict__ for a in actions],
              "rows": sum(max(a.rows, 0) for a in actions), "bytes": sum(a.bytes for a in actions),
              "missing_time_rows": sum(a.missing_time for a in actions)}
    md = (f"# Purge {'executed' if execute_plan else 'plan'} as of {result['as_of']}\n\n"
          + md_table([a.__dict__ for a in actions], ["target", "partition", "action", "rows", "bytes", "reason"]))
    result["report"] = str(write_report(catalog.state_path, "purge", result, md))
    publish_artifacts("purge", md)
    get_run_logger().info("purge (%s): %d actions, %d rows", "execute" if execute_plan else "plan",
                          len(actions), result["rows"])
    return result
