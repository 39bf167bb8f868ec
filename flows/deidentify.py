"""``deidentify``: build, gate and publish a release by event-date partition (one per task on threads, runs of
them per task on processes or Dask).

For each release dataset and each date in ``start..end``: read that date's raw files, leave out quarantined rows
and erased subjects, apply the column policy, enforce k-anonymity, re-scan the output, and publish the
``dt=`` folder atomically with its ``_manifest.json`` and ``_report.md``. Partitions are staged first and moved
into place only when every partition of the run passed its gate: if one fails, nothing is published, the previous
release stays byte-identical, and the flow fails with the reasons.

Idempotent: each manifest records an input fingerprint (input paths, sizes and content hashes, the policy hash,
the key fingerprint, and the erasure ledger and quarantine list as they were). A partition whose fingerprint is
unchanged is skipped and reported as such, so a re-run does no work and a killed backfill resumes where it
stopped. ``force`` redoes every partition.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import flow, get_run_logger, tags, task
from prefect.cache_policies import NONE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from configs.catalog import Catalog, load_catalog
from configs.settings import Settings
from flows import quarantine
from flows.erase import _ledger_path, exclude_erased
from flows.reports import md_table, publish_artifacts, write_report
from flows.runtime import RUN_TIMEOUT_SECONDS, analyzer_for, storage_tags, transient_io_error
from flows.storage import (check_region, exclusive_lock, file_digest, publish_dir, recover_dir, staging_dir,
                           storage_for, sweep_temporaries, sync_parents, sync_tree)
from transforms.errors import PolicyError, ReleaseBlocked
from transforms.operators import derive_key, key_fingerprint, to_timestamp
from transforms.policy import (apply_policy, columns_to_read, dictionary_columns, generalise_to_k, policy_violations,
                               rescan)


@dataclass
class PartitionResult:
    dataset: str
    dt: str
    status: str  # published (possibly with every row suppressed) | skipped (unchanged) | blocked
    rows_in: int = 0
    rows_out: int = 0
    suppressed: int = 0
    path: str = ""
    reasons: list[str] = field(default_factory=list)
    gate: dict = field(default_factory=dict)
    staged: str = ""  # a gated partition written but not yet moved into place (see deidentify_flow)
    seconds: float = 0.0  # time spent on it, recorded in the manifest to balance the next run's tasks


# --------------------------------------------------------------------------------------------------------------
# Planning: which raw files feed which release date
# --------------------------------------------------------------------------------------------------------------


def _event_dates(table: pa.Table, column: str, tz: str) -> pa.Array:
    ts = to_timestamp(table.column(column), tz)
    return pc.cast(pc.local_timestamp(ts), pa.date32()) if len(ts) else pa.array([], pa.date32())


def plan_dates(catalog: Catalog, dataset: str, start: date | None, end: date | None) -> dict[date, list[Path]]:
    """Release date -> the raw files that feed it. A dated partition feeds its own date (the Hive convention);
    an undated file feeds every date its event times fall on (only its event-time column is read)."""
    ds = catalog.datasets[dataset]
    if ds.event_time is None:
        raise PolicyError(f"{dataset}: a release needs the dataset's event_time to partition by date")
    store = storage_for(catalog, dataset)
    plan: dict[date, list[Path]] = {}
    for part in store.list_partitions(start, end):
        if part.dt is not None:
            plan.setdefault(part.dt, []).extend(part.paths)
            continue
        for path in part.paths:
            dates = _event_dates(store.read_file(path, [ds.event_time]), ds.event_time, catalog.lake.timezone)
            for d in pc.unique(dates).drop_null().to_pylist():
                if (start is None or d >= start) and (end is None or d <= end):
                    plan.setdefault(d, []).append(path)
    return dict(sorted(plan.items()))


def _state_digest(catalog: Catalog, dataset: str) -> str:
    """What of ``state/`` changes a release: the erasure ledger and the dataset's quarantine list."""
    h = hashlib.sha256()
    for p in (_ledger_path(catalog), quarantine.quarantine_path(catalog, dataset)):
        h.update(file_digest(p).encode() if p.exists() else b"-")
    return h.hexdigest()


def input_records(paths: list[Path]) -> list[dict]:
    """Each input file's path, size and content hash, in path order: what a manifest lists and the fingerprint
    covers (hashed once per partition, for both)."""
    return [{"path": str(p), "bytes": p.stat().st_size, "sha256": file_digest(p)} for p in sorted(paths)]


def input_fingerprint(catalog: Catalog, dataset: str, paths: list[Path], key: bytes,
                      inputs: list[dict] | None = None) -> str:
    """What a release partition depends on: its inputs (``inputs``, from :func:`input_records` when not given), the
    policy, the key and the state that changes a release."""
    h = hashlib.sha256()
    for i in inputs if inputs is not None else input_records(paths):
        h.update(f"{i['path']}|{i['bytes']}|{i['sha256']}\n".encode())
    h.update(f"policy={catalog.policy_hash}|key={key_fingerprint(key)}|state={_state_digest(catalog, dataset)}"
             .encode())
    return h.hexdigest()


def published_fingerprint(target: Path) -> str | None:
    try:
        return json.loads((target / "_manifest.json").read_text(encoding="utf-8")).get("input_fingerprint")
    except (OSError, json.JSONDecodeError):
        return None


def load_date(catalog: Catalog, dataset: str, dt: date, paths: list[Path], master: bytes,
              columns_seen: set[str] | None = None) -> pa.Table:
    """The rows of ``dataset`` for release date ``dt``, without quarantined rows or erased subjects: only the
    columns a release needs (:func:`~transforms.policy.columns_to_read`). The names of all columns the files
    have are added to ``columns_seen`` when given (columns the catalog does not declare are reported)."""
    ds = catalog.datasets[dataset]
    store = storage_for(catalog, dataset)
    wanted = columns_to_read(ds, row_key=bool(len(quarantine.load(catalog, dataset))))
    tables = []
    for path in paths:
        t, names = store.read_columns(path, wanted, dictionary_columns(ds))
        if columns_seen is not None:
            columns_seen.update(names)
        if store.date_of(path) is None:
            dates = _event_dates(t, ds.event_time, catalog.lake.timezone)
            t = t.filter(pc.fill_null(pc.equal(dates, pa.scalar(dt, pa.date32())), False))
        tables.append(t)
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    return exclude_erased(catalog, dataset, quarantine.exclude(catalog, dataset, table), master)


def read_inputs(catalog: Catalog, dataset: str, start: date | None, end: date | None, master: bytes | None = None
                ) -> list[tuple[date, pa.Table, list[Path]]]:
    """Every release date's rows at once (small lakes, tests): ``[(date, table, input paths)]``."""
    master = master if master is not None else Settings().master_key()
    return [(d, load_date(catalog, dataset, d, paths, master), paths)
            for d, paths in plan_dates(catalog, dataset, start, end).items()]


# --------------------------------------------------------------------------------------------------------------
# One partition
# --------------------------------------------------------------------------------------------------------------


def release_partition(catalog: Catalog, release: str, dataset: str, dt: date, paths: list[Path], key: bytes,
                      settings: Settings, force: bool = False, publish: bool = True) -> PartitionResult:
    """Skip if unchanged; else de-identify, gate and publish one partition. A failed gate returns ``blocked``.
    With ``publish=False`` a partition that passes is left staged (``result.staged``) for the caller to publish."""
    rel = catalog.releases[release]
    ds = catalog.datasets[dataset]
    started = time.perf_counter()
    target = catalog.release_path(release, dataset) / f"dt={dt.isoformat()}"
    recover_dir(target)
    inputs = input_records(paths)
    fp = input_fingerprint(catalog, dataset, paths, key, inputs)
    if not force and published_fingerprint(target) == fp:
        return PartitionResult(dataset, dt.isoformat(), "skipped", path=str(target))
    seen: set[str] = set()
    table = load_date(catalog, dataset, dt, paths, settings.master_key(), columns_seen=seen)
    res = PartitionResult(dataset, dt.isoformat(), "published", rows_in=table.num_rows)
    analyzer = analyzer_for(settings)
    out, _ = apply_policy(table, ds, key=key, analyzer=analyzer, tz=catalog.lake.timezone)
    undeclared = sorted(seen - set(ds.columns))
    out, krep = generalise_to_k(table, out, ds, rel.k_anonymity, rel.max_suppression, key=key,
                                tz=catalog.lake.timezone)
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
    if not krep.within_budget and krep.rows_in < rel.k_anonymity:
        # Fewer rows than k (a quiet day, what is left of a day partly past retention): no generalisation releases
        # any of them, so the partition is released empty, which the flow allows only while the dataset's release
        # keeps rows in other partitions (see _block_releases_left_empty).
        res.gate["k_anonymity"]["fewer_rows_than_k"] = True
    elif not krep.within_budget:
        res.reasons.append(f"{dataset}: k={rel.k_anonymity} unreachable: even fully generalised, {krep.suppressed} of "
                           f"{krep.rows_in} rows would be suppressed (max_suppression {rel.max_suppression:.0%})")
    if res.reasons:
        res.status = "blocked"
        return res
    check_region(rel.region or catalog.lake.region, catalog.lake.allowed_regions, f"release {release!r}")
    stage = staging_dir(target)
    pq.write_table(out, stage / "part-00000.parquet", compression="zstd")
    res.seconds = round(time.perf_counter() - started, 4)
    manifest = {
        "release": release, "recipient": rel.recipient, "purpose": rel.purpose, "dataset": dataset,
        "dt": dt.isoformat(), "created_at": datetime.now(timezone.utc).isoformat(),
        "policy_hash": catalog.policy_hash, "key_fingerprint": key_fingerprint(key), "input_fingerprint": fp,
        "inputs": inputs,
        "rows": {"in": res.rows_in, "out": res.rows_out, "suppressed": res.suppressed}, "seconds": res.seconds,
        "gate": res.gate, "outputs": [{"path": "part-00000.parquet",
                                       "sha256": file_digest(stage / "part-00000.parquet")}],
    }
    (stage / "_manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    (stage / "_report.md").write_text(partition_markdown(manifest), encoding="utf-8")
    res.path = str(target)
    if publish:
        publish_dir(stage, target)
    else:
        sync_tree(stage)  # here, in the task, in parallel: the flow's publishing is then renames only
        res.staged = str(stage)
    return res


def partition_markdown(m: dict) -> str:
    k = m["gate"]["k_anonymity"]
    return (f"# {m['release']} / {m['dataset']} / dt={m['dt']}\n\n"
            f"Recipient: {m['recipient']}. Policy {m['policy_hash'][:12]}, key {m['key_fingerprint']}.\n\n"
            f"Rows in {m['rows']['in']}, out {m['rows']['out']}, suppressed {m['rows']['suppressed']}.\n\n"
            f"k required {k['k']}, reached {k['k_reached']} over {', '.join(k['quasi_identifiers']) or '(none)'}; "
            f"{k['classes']} equivalence classes. Generalisation reached: {k.get('generalisation') or 'none'}.\n\n"
            f"Re-identification risk: prosecutor max {k['prosecutor_risk_max']}, avg {k['prosecutor_risk_avg']}; "
            f"journalist max {k['journalist_risk_max']}; marketer {k['marketer_risk']}.\n\n"
            f"Rows by equivalence-class size: {k['class_sizes']}\n\n"
            + (f"l-diversity of sensitive columns: {k['l_diversity']}\n\n" if k.get("l_diversity") else "")
            + ("Fewer rows than k: every row suppressed, released empty.\n\n" if k.get("fewer_rows_than_k") else "")
            + f"Re-scan: {len(m['gate']['rescan_leaks'])} leaks. Undeclared columns dropped: "
            f"{m['gate']['undeclared_columns_dropped'] or 'none'}.\n")


@task(cache_policy=NONE, retries=2, retry_delay_seconds=5, retry_condition_fn=transient_io_error)
def release_partitions_task(catalog, release, parts, key, settings, force) -> list[PartitionResult]:
    """Partitions ``[(dataset, date, paths)]``, each de-identified, gated and staged in turn (usually one; several
    where the task runner makes a task costly, see :func:`plan_tasks`). Tagged ``piiflow-storage`` by the flow
    when a concurrency limit on that tag exists (:func:`flows.runtime.storage_tags`)."""
    return [release_partition(catalog, release, ds, dt, paths, key, settings, force, publish=False)
            for ds, dt, paths in parts]


Dated = list[tuple[date, list[Path]]]
Part = tuple[str, date, list[Path]]
#: Most tasks per worker when partitions are grouped (processes, Dask): enough that no worker is left with a long
#: tail while the others idle.
TASKS_PER_WORKER = 4
#: Least estimated work per grouped task. A task on processes or Dask costs about 0.2 s of CPU besides its work
#: (Prefect's client and settings rebuilt in the worker, the submission, the API server recording its states), so
#: a task should carry several times that.
MIN_TASK_SECONDS = 1.0


def plan_tasks(planned: dict[str, Dated], settings: Settings, threaded: bool, workers: int | None = None,
               cost: dict[str, float] | None = None) -> list[list[Part]]:
    """Group date partitions into tasks ``[[(dataset, date, paths)]]`` of consecutive partitions (datasets in
    order, dates in order within each), largest first.

    ``settings.partitions_per_task`` partitions per task when set. Else: on threads, where a task costs
    milliseconds, one partition per task. On processes or Dask, where it costs a few tenths of a second of CPU,
    tasks of equal estimated cost, ``k`` per worker (``workers``, by default ``max_workers``): as many as
    :data:`TASKS_PER_WORKER`, to even out the workers, but no fewer than one and none smaller than
    :data:`MIN_TASK_SECONDS`, so that a small backfill is not mostly orchestration. A partition's estimated cost
    is its input bytes times its dataset's seconds per byte (``cost``, see :func:`estimate_costs`; datasets
    missing from it take the mean of the others, or 1): bytes alone mislead, a compressed JSON-lines byte costs
    several Parquet bytes."""
    cost = cost or {}
    default = sum(cost.values()) / len(cost) if cost else 1.0
    parts = [(ds, d, paths) for ds, dated in planned.items() for d, paths in dated]
    weights = [sum(_size(p) for p in paths) * cost.get(ds, default) for ds, _, paths in parts]
    if threaded or settings.partitions_per_task:
        size = settings.partitions_per_task or 1
        tasks = [(sum(weights[i:i + size]), parts[i:i + size]) for i in range(0, len(parts), size)]
    else:
        n = workers or settings.max_workers
        total = sum(weights)
        count = n * max(1, min(TASKS_PER_WORKER, int(total / (n * MIN_TASK_SECONDS))))
        groups: list[tuple[float, list[Part]]] = [(0.0, []) for _ in range(count)]
        done = 0.0
        for part, w in zip(parts, weights):  # a partition goes to the task its middle falls in
            i = min(count - 1, int((done + w / 2) * count / total)) if total else 0
            groups[i] = (groups[i][0] + w, groups[i][1] + [part])
            done += w
        tasks = [g for g in groups if g[1]]
    tasks.sort(key=lambda t: -t[0])  # largest first: no big task starts last
    return [chunk for _, chunk in tasks]


def seconds_per_byte(catalog: Catalog, release: str, dataset: str, sample: int = 8) -> float | None:
    """Seconds per input byte that ``dataset``'s partitions of ``release`` took last time, from the ``sample``
    newest manifests that record it (None when there are none)."""
    secs = size = 0.0
    for manifest in sorted(catalog.release_path(release, dataset).glob("dt=*/_manifest.json"), reverse=True)[:sample]:
        try:
            m = json.loads(manifest.read_text(encoding="utf-8"))
            secs, size = secs + float(m["seconds"]), size + sum(i["bytes"] for i in m["inputs"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # an older manifest without timings, or one being replaced: no estimate from it
    return secs / size if secs > 0 and size > 0 else None


#: Seconds per input megabyte by storage format, for datasets with no timings yet (a first backfill): what the demo
#: lake's partitions took in one process on a 2-core development machine. Gzip text costs about four times as
#: much as Parquet per byte; plain text about as much.
FORMAT_SECONDS_PER_MB = {"parquet": 0.08, "delta": 0.14, "jsonl": 0.35, "csv": 0.35}
PLAIN_TEXT_SECONDS_PER_MB = 0.08


def format_cost(ds) -> float:
    """A dataset's prior seconds per input byte, from its storage format (see :data:`FORMAT_SECONDS_PER_MB`)."""
    if ds.format in ("jsonl", "csv") and not str(ds.files or "").endswith(".gz"):
        return PLAIN_TEXT_SECONDS_PER_MB / 1e6
    return FORMAT_SECONDS_PER_MB.get(ds.format, FORMAT_SECONDS_PER_MB["parquet"]) / 1e6


def estimate_costs(catalog: Catalog, release: str, datasets: list[str]) -> dict[str, float]:
    """Seconds per input byte for each dataset of ``release``: measured (:func:`seconds_per_byte`) where the last
    runs recorded it; else its :func:`format_cost`, scaled by how the datasets with timings compared with theirs
    (this machine's speed)."""
    measured = {ds: r for ds in datasets if (r := seconds_per_byte(catalog, release, ds))}
    prior = {ds: format_cost(catalog.datasets[ds]) for ds in datasets}
    scale = sum(measured[ds] / prior[ds] for ds in measured) / len(measured) if measured else 1.0
    return {ds: measured.get(ds, prior[ds] * scale) for ds in datasets}


def _block_releases_left_empty(results: list[PartitionResult], k: int) -> None:
    """Partitions with fewer rows than k are released empty, but not when that leaves a dataset's whole release
    empty (every partition processed in this run too small, none kept from earlier runs with rows): that is a k
    the data cannot reach, and those partitions are blocked."""
    for ds in {r.dataset for r in results}:
        mine = [r for r in results if r.dataset == ds]
        small = [r for r in mine if r.status == "published" and r.gate.get("k_anonymity", {}).get("fewer_rows_than_k")]
        if small and not any(_rows_out(r) for r in mine if r not in small):
            for r in small:
                r.status = "blocked"
                r.reasons.append(f"{ds}: k={k} unreachable: every partition has fewer than {k} rows, the release "
                                 f"would be empty")


def _rows_out(r: PartitionResult) -> int:
    """Rows a partition has in the release after this run: its new output, or the kept one's when skipped."""
    if r.status == "published":
        return r.rows_out
    if r.status == "skipped":
        try:
            return int(json.loads((Path(r.path) / "_manifest.json").read_text(encoding="utf-8"))["rows"]["out"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0
    return 0


def _runner_workers(runner) -> int | None:
    """The number of workers of a Dask task runner's cluster (None when unknown)."""
    try:
        from prefect_dask import DaskTaskRunner

        if isinstance(runner, DaskTaskRunner):
            return len(runner.client.scheduler_info().get("workers", {})) or None
    except Exception:  # noqa: BLE001  (no cluster reachable: fall back to the settings)
        return None
    return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError:
        return 0


def _current_task_runner():
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx.task_runner if ctx is not None else None


def release_key(settings: Settings, recipient: str) -> bytes:
    return derive_key(settings.master_key(), recipient)


# --------------------------------------------------------------------------------------------------------------
# The flow
# --------------------------------------------------------------------------------------------------------------


class _Progress:
    """A terminal progress bar (when stderr is a terminal) and a Prefect progress artifact."""

    def __init__(self, total: int, label: str):
        self.total, self.done, self.bar, self.artifact = total, 0, None, None
        if sys.stderr.isatty():
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.bar.start()
            self.task = self.bar.add_task(label, total=total)
        try:
            from prefect.artifacts import create_progress_artifact

            self.artifact = create_progress_artifact(progress=0.0, description=label)
        except Exception:  # noqa: BLE001  (no flow run or no API: a bar is enough)
            self.artifact = None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.bar:
            self.bar.update(self.task, completed=self.done)
        if self.artifact is not None and (self.done == self.total or self.done // 10 != (self.done - n) // 10):
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(self.artifact, progress=100.0 * self.done / max(1, self.total))

    def close(self) -> None:
        if self.bar:
            self.bar.stop()


@flow(name="deidentify", task_runner=ThreadPoolTaskRunner(max_workers=Settings.model_fields["max_workers"].default),
      timeout_seconds=RUN_TIMEOUT_SECONDS)
def deidentify_flow(catalog_path: str, release: str, start: date | None = None, end: date | None = None,
                    root: str | None = None, force: bool = False) -> dict:
    """Build, gate and publish ``release`` for event dates ``start..end`` (all dates by default), one task per
    (dataset, date) on threads, several consecutive partitions per task on processes or Dask (see
    :func:`plan_tasks`). Unchanged partitions are skipped unless ``force``."""
    catalog = load_catalog(catalog_path, root=root)
    if release not in catalog.releases:
        raise PolicyError(f"{catalog.source}: release {release!r} is not declared; expected one of "
                          f"{', '.join(catalog.releases) or '(none)'}")
    if start and end and end < start:
        raise PolicyError(f"--end {end} is before --start {start}")
    settings = Settings()
    rel = catalog.releases[release]
    problems = [p for ds in rel.datasets for p in policy_violations(ds, catalog.datasets[ds],
                                                                      anonymised=rel.anonymised)]
    if problems:
        raise ReleaseBlocked(f"release {release!r} blocked before reading data: {problems[0]}"
                             + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                             {"policy": problems})
    key = release_key(settings, rel.recipient)
    with exclusive_lock(catalog.state_path, f"deidentify {release}"):
        sweep_temporaries(catalog.release_path(release))
        planned = {ds: list(plan_dates(catalog, ds, start, end).items()) for ds in rel.datasets}
        total = sum(len(v) for v in planned.values())
        runner = _current_task_runner()
        threaded = isinstance(runner, ThreadPoolTaskRunner)
        cost = {} if threaded else estimate_costs(catalog, release, list(planned))
        chunks = plan_tasks(planned, settings, threaded, None if threaded else _runner_workers(runner), cost)
        progress = _Progress(total, f"release {release}")
        with tags(*storage_tags()):
            futures = [release_partitions_task.submit(catalog, release, chunk, key, settings, force)
                       for chunk in chunks]
        try:
            for fut in as_completed(futures):
                progress.advance(len(fut.result()))
        finally:
            progress.close()
        results = sorted((r for f in futures for r in f.result()), key=lambda r: (rel.datasets.index(r.dataset), r.dt))
        _block_releases_left_empty(results, rel.k_anonymity)
        # All or nothing: a run publishes its partitions only when every one passed its gate.
        if any(r.status == "blocked" for r in results):
            sweep_temporaries(catalog.release_path(release))
        else:
            staged = [r for r in results if r.staged]
            for r in staged:
                publish_dir(Path(r.staged), Path(r.path), synced=True, sync_parent=False)
            sync_parents([Path(r.path) for r in staged])
    summary = {
        "release": release, "recipient": rel.recipient, "path": str(catalog.release_path(release)),
        "partitions": [r.__dict__ for r in results],
        "published": sum(r.status == "published" for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
        "blocked": sum(r.status == "blocked" for r in results),
        "rows_in": sum(r.rows_in for r in results), "rows_out": sum(r.rows_out for r in results),
        "suppressed": sum(r.suppressed for r in results),
    }
    md = (f"# Release {release}\n\n{summary['published']} partitions published, {summary['skipped']} unchanged "
          f"and skipped, {summary['blocked']} blocked; rows in {summary['rows_in']}, out {summary['rows_out']}, "
          f"suppressed {summary['suppressed']}.\n\n"
          + md_table([{k: v for k, v in r.__dict__.items() if k != "gate"} | {"reasons": "; ".join(r.reasons)}
                      for r in results if r.status != "skipped"],
                     ["dataset", "dt", "status", "rows_in", "rows_out", "suppressed", "reasons"]))
    summary["report"] = str(write_report(catalog.state_path, f"release-{release}", summary, md))
    publish_artifacts(f"release-{release.replace('_', '-')}", md, [
        {"dataset": r.dataset, "dt": r.dt, "status": r.status, "rows_out": r.rows_out, "suppressed": r.suppressed}
        for r in results if r.status != "skipped"])
    get_run_logger().info("release %s: %d published, %d skipped, %d blocked", release, summary["published"],
                          summary["skipped"], summary["blocked"])
    if summary["blocked"]:
        first = next(r for r in results if r.status == "blocked")
        raise ReleaseBlocked(f"release {release!r}: {summary['blocked']} partition(s) blocked, e.g. "
                             f"{first.dataset} dt={first.dt}: {first.reasons[0]}", summary)
    return summary
