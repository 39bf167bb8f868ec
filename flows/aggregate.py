"""``aggregate``: publish a release of differentially private aggregates (:mod:`transforms.aggregates`) and keep
the privacy budget's ledger.

Per day, the release's measures per cell are computed from the raw rows once the release's purpose has left out
whom it must (erasures, objections, withdrawals, minors: the same as every release), noised by OpenDP, and published
as ``releases/<release>/<dataset>/dt=YYYY-MM-DD/part-00000.parquet`` with a manifest like any release.

The ledger (``state/privacy/ledger.jsonl``, one line per day spent: release, recipient, day, epsilon, delta, the
definition's digest, the output's digest; nothing about any person) is checked before any data is read: a run
that would take a recipient past the catalog's ``privacy_budget`` (per day, or over any window of days) is refused
in one line. Each noisy day is stored under ``state/privacy/outputs/`` before its spending is recorded and before it
is published, so that re-running a published day spends nothing and publishes the same values (fresh noise on the
same data would let averaging undo it). A published day is not recomputed when its raw data changes later (an
erasure, a withdrawal): what was published is protected by the guarantee, and recomputing would spend again; a
changed definition (dimensions, measures, bounds, epsilon) is a new query and spends again.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from prefect import flow, get_run_logger

from configs.catalog import Catalog, load_catalog
from configs.checks import check_release_request
from configs.errors import ReleaseBlocked
from configs.operators import Drop, Keep
from configs.settings import Settings
from flows.audit import AuditLog
from flows.consent import release_exclusions
from flows.deidentify import load_date, plan_dates
from flows.lake_key import check_lake_key
from flows.naming import release_run_name
from flows.privacy_ledger import budget_status, entries, ledger_path, spent_by_day
from flows.reports import publish_artifacts, report_audit_head
from flows.runtime import RUN_TIMEOUT_SECONDS
from flows.storage import lake_fs, recover_release, release_store
from transforms.aggregates import dimension_table, measurements, release_day
from transforms.budget import worst_window
from transforms.describe import aggregate_dictionary, aggregate_index
from transforms.report_html import aggregate_page


def definition(catalog: Catalog, name: str) -> str:
    """The digest of what an aggregate release computes: a change to it is a new query."""
    agg = catalog.aggregates[name]
    return hashlib.sha256(agg.model_dump_json(exclude={"description"}).encode()).hexdigest()[:16]


def check_budget(catalog: Catalog, name: str, days: list[date], ledger: list[dict]) -> None:
    """Refuse, before any data is read, days whose spending would take the release's recipient past the ceiling:
    epsilon a day (all its aggregates), or over any window of consecutive days."""
    agg, b = catalog.aggregates[name], catalog.privacy_budget
    if not days:
        return
    spent = spent_by_day(catalog, agg.recipient, ledger)
    planned = dict(spent)
    for d in days:
        planned[d.toordinal()] = planned.get(d.toordinal(), 0.0) + agg.epsilon
    over_day = [d for d in days if planned[d.toordinal()] > b.epsilon_per_day + 1e-9]
    if over_day:
        d = over_day[0]
        raise ReleaseBlocked(f"refusing release {name!r}: recipient {agg.recipient!r} would spend epsilon "
                             f"{planned[d.toordinal()]:g} on {d} (already {spent.get(d.toordinal(), 0.0):g}), past "
                             f"the privacy_budget's epsilon_per_day ({b.epsilon_per_day:g})")
    worst, end = worst_window(planned, [d.toordinal() for d in days], b.window.days)
    if worst > b.epsilon_per_window + 1e-9:
        last = date.fromordinal(end)
        first = last - timedelta(days=b.window.days - 1)
        raise ReleaseBlocked(f"refusing release {name!r}: recipient {agg.recipient!r} would spend epsilon {worst:g} "
                             f"in the {b.window.days} days {first}..{last}, past the privacy_budget's "
                             f"epsilon_per_window ({b.epsilon_per_window:g}); {len(days)} day(s) asked for, already "
                             f"spent in that window: "
                             f"{sum(v for k, v in spent.items() if first.toordinal() <= k <= end):g}")


def _stored(catalog: Catalog, name: str, dt: date, defn: str) -> Path:
    return catalog.state_path / "privacy" / "outputs" / name / f"dt={dt.isoformat()}" / f"{defn}.parquet"


def _digest(table: pa.Table) -> str:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _publish(catalog: Catalog, name: str, dt: date, table: pa.Table, manifest: dict) -> None:
    agg = catalog.aggregates[name]
    store = release_store(catalog, name, agg.dataset)
    stage = store.stage(dt)
    store.fs.write_parquet(stage / "data" / "part-00000.parquet", table)
    store.fs.write_bytes(stage / "meta" / "manifest.json",
                         json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    store.publish(stage, dt)


def compute_day(catalog: Catalog, name: str, dt: date, paths: list[Path], settings: Settings, excl,
                built: dict) -> tuple:
    """One day's noisy table, the measurements that made it (built on the first day, kept in ``built``), and the
    rows it read and left out."""
    agg = catalog.aggregates[name]
    ds = catalog.datasets[agg.dataset]
    wanted = {d.column for d in agg.dimensions.values()} | {m.column for m in agg.measures.values() if m.column}
    view = ds.model_copy(update={"columns": {c: p.model_copy(update={"op": Keep() if c in wanted else Drop()})
                                             for c, p in ds.columns.items()}})
    left_out: dict[str, int] = {}
    table = load_date(catalog, agg.dataset, dt, paths, settings.master_key(), excl=excl, left_out=left_out,
                      view=view)
    rows = dimension_table(table, agg, ds, tz=catalog.lake.timezone)
    if "ms" not in built:
        built["ms"] = measurements(agg, rows.schema)
    return release_day(rows, agg, built["ms"]), built["ms"], table.num_rows, left_out


@flow(name="aggregate", timeout_seconds=RUN_TIMEOUT_SECONDS, flow_run_name=release_run_name)
def aggregate_flow(catalog_path: str, release: str, start: date | None = None, end: date | None = None,
                   force: bool = False, root: str | None = None, settings: Settings | None = None) -> dict:
    """Publish the aggregate release ``release`` for event dates ``start..end`` (all by default): days already
    spent are republished from what was stored (nothing spent), the others computed and spent within the budget.
    ``force`` is accepted for symmetry with ``deidentify`` and changes nothing: a published day is never redrawn."""
    catalog = load_catalog(catalog_path, root=root)
    check_release_request(catalog, release, start, end)
    settings = settings or Settings()
    check_lake_key(catalog, settings)
    agg, fs, log = catalog.aggregates[release], lake_fs(catalog), get_run_logger()
    audit = AuditLog.of(catalog, settings)
    defn = definition(catalog, release)
    store = release_store(catalog, release, agg.dataset)
    summary = {"release": release, "kind": "aggregate", "status": "published", "path":
               fs.rel(catalog.release_path(release)), "published": 0, "skipped": 0, "spent": 0.0, "days": [],
               "problems": [], "blocked": 0, "rows_in": 0, "cells": 0}
    with fs.exclusive_lock(catalog.state_path, f"aggregate {release}"):
        recover_release(fs, catalog.release_path(release))
        planned = plan_dates(catalog, agg.dataset, start, end)
        ledger = entries(catalog)
        spent = {e["day"]: e for e in ledger if e["release"] == release and e["definition"] == defn}
        todo = [dt for dt in planned if dt.isoformat() not in spent]
        check_budget(catalog, release, todo, ledger)
        audit.check_writable()  # a log that does not verify is never appended to: spend and publish nothing either
        excl = release_exclusions(catalog, release, settings, min(todo)) if todo else None
        built: dict = {}
        for dt, paths in planned.items():
            entry = spent.get(dt.isoformat())
            if entry is not None:
                published = store.manifest(dt)
                if (published and published.get("output_digest") == entry["output"]
                        and fs.exists(store.target(dt) / "part-00000.parquet")):
                    summary["skipped"] += 1
                    continue
                table = fs.read_parquet(_stored(catalog, release, dt, defn))  # the same noise, not a new draw
                _publish(catalog, release, dt, table, entry["manifest"])
                summary["published"] += 1
                summary["days"].append({"dt": dt.isoformat(), "spent": 0.0, "republished": True})
                continue
            table, ms, rows_in, left_out = compute_day(catalog, release, dt, paths, settings, excl, built)
            digest = _digest(table)
            manifest = {
                "release": release, "kind": "aggregate", "recipient": agg.recipient, "purpose": agg.purpose,
                "dataset": agg.dataset, "dt": dt.isoformat(), "definition": defn, "epsilon": ms.epsilon,
                "delta": ms.delta, "noise": [n.__dict__ for n in ms.noise], "rows_read": rows_in, "left_out": left_out,
                "cells": table.num_rows, "output_digest": digest,
                "created_at": datetime.now(ZoneInfo(catalog.lake.timezone)).isoformat(timespec="seconds"),
                "opendp": _opendp_version()}
            fs.write_parquet(_stored(catalog, release, dt, defn), table)  # kept before it is spent and published
            line = {"release": release, "recipient": agg.recipient, "day": dt.isoformat(), "epsilon": ms.epsilon,
                    "delta": manifest["delta"], "definition": defn, "output": digest, "manifest": manifest,
                    "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            fs.append_line(ledger_path(catalog), json.dumps(line, ensure_ascii=False) + "\n")
            _publish(catalog, release, dt, table, manifest)
            audit.append("aggregate_published", release=release, dt=dt.isoformat(), epsilon=ms.epsilon,
                         definition=defn, output=digest)
            summary["published"] += 1
            summary["spent"] += ms.epsilon
            summary["rows_in"] += rows_in
            summary["cells"] += table.num_rows
            summary["days"].append({"dt": dt.isoformat(), "spent": ms.epsilon, "cells": table.num_rows})
            log.info("aggregate %s: %s published (%d cells from %d rows), epsilon %g spent", release, dt,
                     table.num_rows, rows_in, ms.epsilon)
        today = datetime.now(ZoneInfo(catalog.lake.timezone)).date()
        summary["budget"] = budget_status(catalog, agg.recipient, today)
        if summary["published"] or not fs.exists(catalog.release_path(release) / "_meta" / "index.json"):
            describe_aggregate(catalog, release, summary["budget"])
    if not planned:
        summary["warnings"] = [f"no data of {agg.dataset} in the range: nothing to release"]
    publish_artifacts(f"aggregate-{release.replace('_', '-')}",
                      f"# Aggregate release {release}\n\n{summary['published']} day(s) published, "
                      f"{summary['skipped']} unchanged; epsilon spent {summary['spent']:g}; left in the "
                      f"{summary['budget']['window_days']}-day window: {summary['budget']['left_in_window']:g}")
    report_audit_head(catalog, settings, bool(summary["published"]))
    return summary


def describe_aggregate(catalog: Catalog, release: str, budget: dict) -> None:
    """The release's ``_meta/index.json`` and ``dictionary.md``, from its published manifests and the budget."""
    agg = catalog.aggregates[release]
    store = release_store(catalog, release, agg.dataset)
    manifests = [m for dt, _ in store.partitions() if (m := store.manifest(dt))]
    meta = catalog.release_path(release) / "_meta"
    now = datetime.now(ZoneInfo(catalog.lake.timezone))
    index = aggregate_index(catalog, release, manifests, budget, now)
    fs = lake_fs(catalog)
    fs.write_bytes(meta / "index.json", json.dumps(index, indent=2, ensure_ascii=False).encode("utf-8"))
    fs.write_bytes(meta / "dictionary.md", aggregate_dictionary(catalog, release, index).encode("utf-8"))
    fs.write_bytes(meta / "report.html", aggregate_page(index).encode("utf-8"))


def _opendp_version() -> str:
    from importlib.metadata import version

    return version("opendp")


