"""``deidentify``: build, gate and publish a release, one event-date partition at a time.

Per release dataset: read the raw partitions in the date range, apply the column policy, enforce k-anonymity,
re-scan the output, and publish each ``dt=`` folder atomically with its ``_manifest.json`` and ``_report.md``.
A partition that fails its gate is not published and the previous one stays as it was; the flow then fails
with the reasons.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from configs.catalog import Catalog, load_catalog
from configs.settings import Settings
from flows import quarantine
from flows.erase import exclude_erased
from flows.reports import md_table, publish_artifacts, write_report
from flows.runtime import analyzer_for
from flows.storage import (Partition, check_region, file_digest, publish_dir, recover_dir, staging_dir,
                           storage_for)
from transforms.errors import PolicyError, ReleaseBlocked
from transforms.operators import derive_key, key_fingerprint, to_timestamp
from transforms.policy import apply_policy, k_anonymize, policy_violations, rescan


@dataclass
class PartitionResult:
    dataset: str
    dt: str
    status: str  # published (possibly with every row suppressed) | blocked
    rows_in: int = 0
    rows_out: int = 0
    suppressed: int = 0
    path: str = ""
    reasons: list[str] = field(default_factory=list)
    gate: dict = field(default_factory=dict)


def _event_dates(table: pa.Table, column: str, tz: str) -> pa.Array:
    ts = to_timestamp(table.column(column), tz)
    return pc.cast(pc.local_timestamp(ts), pa.date32()) if len(ts) else pa.array([], pa.date32())


def read_inputs(catalog: Catalog, dataset: str, start: date | None, end: date | None, master: bytes | None = None
                ) -> list[tuple[date, pa.Table, list[Partition]]]:
    """The dataset's rows in ``start..end`` grouped by local event date, with the partitions they came from.
    Quarantined rows and the rows of erased subjects are left out."""
    ds = catalog.datasets[dataset]
    store = storage_for(catalog, dataset)
    groups: dict[date, list[pa.Table]] = {}
    sources: dict[date, list[Partition]] = {}
    for part in store.list_partitions(start, end):
        table = quarantine.exclude(catalog, dataset, store.read(part))
        if master is not None:
            table = exclude_erased(catalog, dataset, table, master)
        if ds.event_time is None:
            raise PolicyError(f"{dataset}: a release needs the dataset's event_time to partition by date")
        dates = _event_dates(table, ds.event_time, catalog.lake.timezone)
        for d in pc.unique(dates).drop_null().to_pylist():
            if (start and d < start) or (end and d > end):
                continue
            groups.setdefault(d, []).append(table.filter(pc.equal(dates, pa.scalar(d, pa.date32()))))
            sources.setdefault(d, []).append(part)
    return [(d, pa.concat_tables(groups[d], promote_options="permissive"), sources[d]) for d in sorted(groups)]


def release_partition(catalog: Catalog, release: str, dataset: str, dt: date, table: pa.Table,
                      inputs: list[Partition], key: bytes, settings: Settings) -> PartitionResult:
    """De-identify, gate and publish one partition. Raises nothing on a failed gate: returns ``blocked``."""
    rel = catalog.releases[release]
    ds = catalog.datasets[dataset]
    target = catalog.release_path(release, dataset) / f"dt={dt.isoformat()}"
    recover_dir(target)
    res = PartitionResult(dataset, dt.isoformat(), "published", rows_in=table.num_rows)
    analyzer = analyzer_for(settings)
    out, undeclared = apply_policy(table, ds, key=key, analyzer=analyzer, tz=catalog.lake.timezone)
    quasi = [c for c in ds.columns_of_kind("quasi") if c in out.column_names]
    out, krep = k_anonymize(out, quasi, rel.k_anonymity)
    leaks = rescan(out, analyzer, ds)
    res.rows_out, res.suppressed = out.num_rows, krep.suppressed
    res.gate = {
        "policy": policy_violations(dataset, ds, anonymised=rel.anonymised),
        "undeclared_columns_dropped": undeclared,
        "rescan_leaks": [leak.__dict__ for leak in leaks],
        "k_anonymity": krep.as_dict(),
    }
    res.reasons = list(res.gate["policy"]) + [
        f"{dataset}.{leak.column}: re-scan found {leak.count} {leak.entity_type} value(s), e.g. {leak.evidence}"
        for leak in leaks]
    if out.num_rows and (krep.k_reached or 0) < rel.k_anonymity:
        res.reasons.append(f"{dataset}: k={krep.k_reached} below the release's k={rel.k_anonymity}")
    if res.reasons:
        res.status = "blocked"
        return res
    check_region(rel.region or catalog.lake.region, catalog.lake.allowed_regions, f"release {release!r}")
    stage = staging_dir(target)
    pq.write_table(out, stage / "part-00000.parquet", compression="zstd")
    manifest = {
        "release": release, "recipient": rel.recipient, "purpose": rel.purpose, "dataset": dataset,
        "dt": dt.isoformat(), "created_at": datetime.now(timezone.utc).isoformat(),
        "policy_hash": catalog.policy_hash, "key_fingerprint": key_fingerprint(key),
        "inputs": [{"path": str(p), "bytes": p.stat().st_size, "sha256": file_digest(p)}
                   for part in inputs for p in part.paths],
        "rows": {"in": res.rows_in, "out": res.rows_out, "suppressed": res.suppressed},
        "gate": res.gate, "outputs": [{"path": "part-00000.parquet",
                                       "sha256": file_digest(stage / "part-00000.parquet")}],
    }
    (stage / "_manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    (stage / "_report.md").write_text(partition_markdown(manifest), encoding="utf-8")
    publish_dir(stage, target)
    res.path = str(target)
    return res


def partition_markdown(m: dict) -> str:
    k = m["gate"]["k_anonymity"]
    return (f"# {m['release']} / {m['dataset']} / dt={m['dt']}\n\n"
            f"Recipient: {m['recipient']}. Policy {m['policy_hash'][:12]}, key {m['key_fingerprint']}.\n\n"
            f"Rows in {m['rows']['in']}, out {m['rows']['out']}, suppressed {m['rows']['suppressed']}.\n\n"
            f"k required {k['k']}, reached {k['k_reached']} over {', '.join(k['quasi_identifiers']) or '(none)'}; "
            f"{k['classes']} equivalence classes.\n\n"
            f"Re-identification risk: prosecutor max {k['prosecutor_risk_max']}, avg {k['prosecutor_risk_avg']}; "
            f"journalist max {k['journalist_risk_max']}; marketer {k['marketer_risk']}.\n\n"
            f"Rows by equivalence-class size: {k['class_sizes']}\n\n"
            f"Re-scan: {len(m['gate']['rescan_leaks'])} leaks. Undeclared columns dropped: "
            f"{m['gate']['undeclared_columns_dropped'] or 'none'}.\n")


@task(cache_policy=NONE)
def release_partition_task(catalog, release, dataset, dt, table, inputs, key, settings) -> PartitionResult:
    return release_partition(catalog, release, dataset, dt, table, inputs, key, settings)


def release_key(settings: Settings, recipient: str) -> bytes:
    return derive_key(settings.master_key(), recipient)


@flow(name="deidentify")
def deidentify_flow(catalog_path: str, release: str, start: date | None = None, end: date | None = None,
                    root: str | None = None) -> dict:
    """Build, gate and publish ``release`` for event dates ``start..end`` (all dates by default)."""
    catalog = load_catalog(catalog_path, root=root)
    if release not in catalog.releases:
        raise PolicyError(f"{catalog.source}: release {release!r} is not declared; expected one of "
                          f"{', '.join(catalog.releases) or '(none)'}")
    settings = Settings()
    rel = catalog.releases[release]
    problems = [p for ds in rel.datasets for p in policy_violations(ds, catalog.datasets[ds],
                                                                      anonymised=rel.anonymised)]
    if problems:
        raise ReleaseBlocked(f"release {release!r} blocked before reading data: {problems[0]}"
                             + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                             {"policy": problems})
    key = release_key(settings, rel.recipient)
    futures = []
    for ds in rel.datasets:
        for dt, table, inputs in read_inputs(catalog, ds, start, end, settings.master_key()):
            futures.append(release_partition_task.submit(catalog, release, ds, dt, table, inputs, key, settings))
    results = [f.result() for f in futures]
    summary = {
        "release": release, "recipient": rel.recipient, "path": str(catalog.release_path(release)),
        "partitions": [r.__dict__ for r in results],
        "published": sum(r.status == "published" for r in results),
        "blocked": sum(r.status == "blocked" for r in results),
        "rows_in": sum(r.rows_in for r in results), "rows_out": sum(r.rows_out for r in results),
        "suppressed": sum(r.suppressed for r in results),
    }
    md = (f"# Release {release}\n\n{summary['published']} partitions published, {summary['blocked']} blocked; "
          f"rows in {summary['rows_in']}, out {summary['rows_out']}, suppressed {summary['suppressed']}.\n\n"
          + md_table([{k: v for k, v in r.__dict__.items() if k != "gate"} | {"reasons": "; ".join(r.reasons)}
                      for r in results], ["dataset", "dt", "status", "rows_in", "rows_out", "suppressed", "reasons"]))
    summary["report"] = str(write_report(catalog.state_path, f"release-{release}", summary, md))
    publish_artifacts(f"release-{release.replace('_', '-')}", md)
    get_run_logger().info("release %s: %d published, %d blocked", release, summary["published"], summary["blocked"])
    if summary["blocked"]:
        first = next(r for r in results if r.status == "blocked")
        raise ReleaseBlocked(f"release {release!r}: {summary['blocked']} partition(s) blocked, e.g. "
                             f"{first.dataset} dt={first.dt}: {first.reasons[0]}", summary)
    return summary
