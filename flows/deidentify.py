"""``deidentify``: build, gate and publish a release by event-date partition (one per task on threads, runs of
them per task on processes or Dask).

For each release dataset and each date in ``start..end``: read that date's raw files, leave out quarantined rows,
erased subjects and whom the release's purpose excludes (objections, withdrawals of consent, minors:
:mod:`flows.consent`), apply the column policy, enforce k-anonymity, re-scan the output, and publish the
``dt=`` folder atomically with its ``_manifest.json`` and ``_report.md``. Partitions are staged first and moved
into place only when every partition of the run passed its gate: if one fails, nothing is published, the previous
release stays byte-identical, and the flow fails with the reasons.

Idempotent: each manifest records an input fingerprint (input paths, sizes and content hashes, the policy hash,
the key fingerprint, and the erasure ledger and quarantine list as they were). A partition whose fingerprint is
unchanged is skipped before a task is started for it (:func:`set_aside_unchanged`), so a re-run does no work and a
killed backfill resumes where it stopped; a partition built says why (:data:`transforms.gate.REDO_REASONS`: new,
forced, input, policy, key, consent, ledger), in the run's summary, its log line and its manifest. ``force`` redoes every
partition.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow, get_run_logger, tags, task
from prefect.cache_policies import NONE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from configs.catalog import Catalog, Dataset, load_catalog
from configs.checks import check_release_request, policy_violations
from configs.errors import PolicyError, ReleaseBlocked, StorageError, incomplete
from configs.settings import Settings
from flows import digest_book, ledger, quarantine
from flows.audit import AuditLog
from flows.consent import release_exclusions
from flows.lake_key import check_lake_key, state_keys
from flows.naming import release_run_name, release_task_name
from flows.progress import Progress
from flows.reports import publish_artifacts, report_audit_head, write_report
from flows.runtime import RUN_TIMEOUT_SECONDS, analyzer_for, storage_tags, transient_io_error, use_jemalloc
from flows.storage import check_region, lake_fs, recover_release, release_store, storage_for, survey
from flows.task_planning import plan_release_tasks
from transforms.consent import Exclusions, leave_out
from transforms.describe import dictionary_markdown, release_index
from transforms.erasure import exclude_erased
from transforms.gate import (
    PartitionResult,
    block_releases_left_empty,
    judge,
    partition_manifest,
    redo_reason,
    release_summary,
)
from transforms.keys import derive_key, key_fingerprint
from transforms.linking import links_with_other_releases
from transforms.planning import Part
from transforms.policy import (
    apply_policy,
    columns_to_read,
    declared_quasi,
    dictionary_columns,
    generalize_to_k,
    nested_quasi_identifiers,
    release_levels,
    rescan,
)
from transforms.report_html import release_page
from transforms.reporting import partition_markdown, release_markdown
from transforms.tables import concat, count_true
from transforms.times import to_timestamp

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
    fs = lake_fs(catalog)
    h = hashlib.sha256()
    for p in (ledger.ledger_path(catalog), quarantine.quarantine_path(catalog, dataset)):
        h.update(fs.digest(p).encode() if fs.exists(p) else b"-")
    return h.hexdigest()


def input_records(catalog: Catalog, paths: list[Path]) -> list[dict]:
    """Each input file's path (relative to the lake: no internal path reaches a recipient, and the lake may move),
    size and content hash, in path order: what a manifest lists and the fingerprint covers (hashed once per
    partition, for both)."""
    fs, known = lake_fs(catalog), digest_book.book(catalog)
    return [{"path": fs.rel(p), "bytes": fs.size(p), "sha256": known.digest(p)} for p in sorted(paths)]


def input_fingerprint(catalog: Catalog, dataset: str, paths: list[Path], key: bytes,
                      inputs: list[dict] | None = None, state: str | None = None, excluded: str = "") -> str:
    """What a release partition depends on: its inputs (``inputs``, from :func:`input_records` when not given), the
    policy, the key, the state that changes a release (``state``, from :func:`_state_digest` when not given) and
    whom the release leaves out of it (``excluded``, :meth:`~transforms.consent.Exclusions.digest`; "" for
    nobody)."""
    h = hashlib.sha256()
    for i in inputs if inputs is not None else input_records(catalog, paths):
        h.update(f"{i['path']}|{i['bytes']}|{i['sha256']}\n".encode())
    state = state if state is not None else _state_digest(catalog, dataset)
    h.update(f"policy={catalog.policy_hash}|key={key_fingerprint(key)}|state={state}".encode())
    if excluded:
        h.update(f"|excluded={excluded}".encode())
    return h.hexdigest()


def _on_date(catalog: Catalog, dataset: str, store, path: Path, table: pa.Table, dt: date,
             off_day: list | None = None) -> pa.Table:
    """The rows of ``table`` (read from ``path``) that belong to release date ``dt``: those whose event time falls on
    ``dt`` in the lake's time zone. A dated file's rows without a usable event time stay with its date; its rows
    whose event time is on another day are left out (a release partition holds only its own day's rows), and
    ``(path, count)`` is added to ``off_day`` when given."""
    event_time = catalog.datasets[dataset].event_time
    if event_time not in table.column_names:
        return table
    dates = _event_dates(table, event_time, catalog.lake.timezone)
    on_day = pc.fill_null(pc.equal(dates, pa.scalar(dt, pa.date32())), False)
    if store.date_of(path) is None:
        return table.filter(on_day)
    keep = pc.or_(on_day, pc.is_null(dates))
    off = len(table) - count_true(keep)
    if not off:
        return table
    if off_day is not None:
        off_day.append((path, off))
    return table.filter(keep)


def partition_subjects(catalog: Catalog, dataset: str, dt: date, paths: list[Path]) -> pa.Array:
    """The subject key column of the rows of ``dataset`` for release date ``dt`` (only that column is read, and the
    event time for files without a date)."""
    ds, store = catalog.datasets[dataset], storage_for(catalog, dataset)
    cols = []
    for path in paths:
        t = _on_date(catalog, dataset, store, path,
                     store.read_file(path, [c for c in (ds.subject_key, ds.event_time) if c]), dt)
        if ds.subject_key in t.column_names:
            cols.append(t.column(ds.subject_key).combine_chunks().cast(pa.string()))
    return pa.concat_arrays(cols) if cols else pa.array([], pa.string())


def why_redo(catalog: Catalog, release: str, dataset: str, dt: date, paths: list[Path], key: bytes,
             force: bool, excl: Exclusions | None = None, levels: dict[str, str] | None = None
             ) -> tuple[str | None, dict]:
    """(why the partition must be built, or None to skip it; what its manifest will record of its inputs:
    ``inputs``, ``fingerprint``, ``state``, ``excluded``). With exclusions (``excl``), the partition's subjects are
    read to tell whether they reach it, unless the lake's digest book remembers the answer for the same inputs and
    the same exclusions (:mod:`flows.digest_book`)."""
    inputs = input_records(catalog, paths)
    state = _state_digest(catalog, dataset)
    excluded = ""
    if excl:
        memo = hashlib.sha256(f"excluded|{dataset}|{dt}|{excl.fingerprint()}|".encode() + "|".join(
            f"{i['path']}:{i['sha256']}" for i in inputs).encode()).hexdigest()
        excluded = digest_book.book(catalog).remember(
            memo, lambda: excl.digest(partition_subjects(catalog, dataset, dt, paths), dt))
    fp = input_fingerprint(catalog, dataset, paths, key, inputs, state, excluded)
    why = redo_reason(release_store(catalog, release, dataset).manifest(dt), fingerprint=fp, inputs=inputs,
                      policy_hash=catalog.policy_hash, key_fingerprint=key_fingerprint(key), state_digest=state,
                      exclusion_digest=excluded, force=force, levels=levels)
    return why, {"inputs": inputs, "fingerprint": fp, "state": state, "excluded": excluded}


def load_date(catalog: Catalog, dataset: str, dt: date, paths: list[Path], master: bytes,
              columns_seen: set[str] | None = None, excl: Exclusions | None = None,
              left_out: dict[str, int] | None = None, off_day_files: list | None = None,
              release: str | None = None, view: Dataset | None = None) -> pa.Table:
    """The rows of ``dataset`` for release date ``dt``, without quarantined rows, erased subjects, or the subjects
    ``excl`` leaves out (objection, withdrawal, minors: counted by reason into ``left_out`` when given): only the
    columns a release needs (:func:`~transforms.policy.columns_to_read`). The names of all columns the files
    have are added to ``columns_seen`` when given (columns the catalog does not declare are reported). Rows of a
    dated file whose event time is on another day are left out (``left_out["other_day"]``), and each such file with
    its count added to ``off_day_files`` when given. With ``release``, the columns are those it writes
    (:meth:`~configs.catalog.Catalog.release_dataset`); with ``view``, those that dataset view does not drop."""
    ds = view or (catalog.release_dataset(release, dataset) if release else catalog.datasets[dataset])
    store = storage_for(catalog, dataset)
    wanted = columns_to_read(ds, row_key=bool(len(quarantine.load(catalog, dataset))))
    tables, off_day = [], []
    for path in paths:
        t, names = store.read_columns(path, wanted, dictionary_columns(ds))
        if columns_seen is not None:
            columns_seen.update(names)
        tables.append(_on_date(catalog, dataset, store, path, t, dt, off_day))
    table = concat(tables) if len(tables) > 1 else tables[0]
    if off_day and left_out is not None:
        left_out["other_day"] = sum(n for _, n in off_day)
    if off_day and off_day_files is not None:
        off_day_files.extend((store.fs.rel(p), n) for p, n in off_day)
    table = exclude_erased(quarantine.exclude(catalog, dataset, table), ds, ledger.erased(catalog, *state_keys(catalog, master)))
    if excl:
        table, counts = leave_out(table, ds, excl, dt)
        if left_out is not None:
            left_out.update(counts)
    return table


# --------------------------------------------------------------------------------------------------------------
# One partition
# --------------------------------------------------------------------------------------------------------------


def release_partition(catalog: Catalog, release: str, dataset: str, dt: date, paths: list[Path], key: bytes,
                      settings: Settings, force: bool = False, publish: bool = True,
                      excl: Exclusions | None = None, levels: dict[str, str] | None = None) -> PartitionResult:
    """Skip if unchanged; else de-identify, gate and publish one partition. A failed gate returns ``blocked``.
    With ``publish=False`` a partition that passes is left staged (``result.staged``) for the caller to publish."""
    rel = catalog.releases[release]
    ds = catalog.release_dataset(release, dataset)
    fs, store = lake_fs(catalog), release_store(catalog, release, dataset)
    started = time.perf_counter()
    target = store.target(dt)
    try:
        why, recorded = why_redo(catalog, release, dataset, dt, paths, key, force, excl, levels)
        if why is None:
            return PartitionResult(dataset, dt.isoformat(), "skipped", path=str(target))
        seen: set[str] = set()
        left_out: dict[str, int] = {}
        off_files: list[tuple[str, int]] = []
        table = load_date(catalog, dataset, dt, paths, settings.master_key(), columns_seen=seen, excl=excl,
                          left_out=left_out, off_day_files=off_files, release=release)
    except (StorageError, pa.ArrowException) as e:  # this partition only; the previous release of it stays
        why = str(e) if isinstance(e, StorageError) else f"cannot read its input ({type(e).__name__})"
        return PartitionResult(dataset, dt.isoformat(), "unreadable", path=str(target),
                               reasons=[f"{dataset} dt={dt}: {why}"])
    nested = nested_quasi_identifiers(dataset, table, ds)
    if nested:
        return PartitionResult(dataset, dt.isoformat(), "blocked", rows_in=table.num_rows, path=str(target),
                               redo=why, reasons=nested)
    analyzer = analyzer_for(settings, release=True)
    out, _ = apply_policy(table, ds, key=key, analyzer=analyzer, tz=catalog.lake.timezone)
    out, krep = generalize_to_k(table, out, ds, rel.k_anonymity, rel.max_suppression, key=key,
                                tz=catalog.lake.timezone, levels=levels)
    res = PartitionResult(dataset, dt.isoformat(), "published", rows_in=table.num_rows, rows_out=out.num_rows,
                          suppressed=krep.suppressed, path=str(target), redo=why, left_out=left_out,
                          problems=[f"{f}: {n:,} row(s) whose event time falls on another day than dt={dt} left out "
                                    f"of the release (a partition holds only its own day's rows)"
                                    for f, n in off_files])
    res.gate, res.reasons = judge(dataset, rel, policy_violations(dataset, ds, anonymised=rel.anonymised),
                                  sorted(seen - set(ds.columns)), rescan(out, analyzer, ds), krep)
    links = links_with_other_releases(catalog, release, dataset, table, out, krep.operators, krep.kept, key=key,
                                      tz=catalog.lake.timezone, analyzer=analyzer)
    res.gate["linking"] = {"max_linked_share": rel.max_linked_share, "others": [x.as_dict() for x in links]}
    res.reasons += [x.reason(dataset, rel.max_linked_share) for x in links if x.blocks(rel.max_linked_share)]
    if res.reasons:
        res.status = "blocked"
        return res
    check_region(rel.region or catalog.lake.region, catalog.lake.allowed_regions, f"release {release!r}")
    stage = store.stage(dt)
    fs.write_parquet(stage / "data" / "part-00000.parquet", out)
    res.seconds = round(time.perf_counter() - started, 4)
    manifest = partition_manifest(
        release=release, rel=rel, result=res, policy_hash=catalog.policy_hash, key_fingerprint=key_fingerprint(key),
        input_fingerprint=recorded["fingerprint"], state_digest=recorded["state"], inputs=recorded["inputs"],
        exclusion_digest=recorded["excluded"],
        created_at=datetime.now(timezone.utc).isoformat(),
        outputs=[{"path": "part-00000.parquet", "sha256": fs.digest(stage / "data" / "part-00000.parquet")}])
    fs.write_bytes(stage / "meta" / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
    fs.write_bytes(stage / "meta" / "report.md", partition_markdown(manifest).encode("utf-8"))
    if publish:
        store.publish(stage, dt)
    else:
        fs.sync_tree(stage)  # here, in the task, in parallel: the flow's publishing is then renames only
        res.staged = str(stage)
    return res


@task(cache_policy=NONE, retries=2, retry_delay_seconds=5, retry_condition_fn=transient_io_error,
      task_run_name=release_task_name)
def release_partitions_task(catalog, release, parts, key, settings, force, excl=None,
                            levels=None) -> list[PartitionResult]:
    """Partitions ``[(dataset, date, paths)]``, each de-identified, gated and staged in turn (usually one; several
    where the task runner makes a task costly, see :func:`transforms.planning.plan_tasks`). Tagged
    ``piiflow-storage`` by the flow when a concurrency limit on that tag exists (:func:`flows.runtime.storage_tags`)."""
    use_jemalloc()  # in whichever process runs the task (threads, a process pool, a Dask worker)
    return [release_partition(catalog, release, ds, dt, paths, key, settings, force, publish=False, excl=excl,
                              levels=(levels or {}).get(ds)) for ds, dt, paths in parts]


def release_key(settings: Settings, recipient: str) -> bytes:
    return derive_key(settings.master_key(), recipient)


# --------------------------------------------------------------------------------------------------------------
# The flow
# --------------------------------------------------------------------------------------------------------------


def _span(start: date | None, end: date | None) -> str:
    if start is None and end is None:
        return "any date"
    return f"{start or 'the first date'}..{end or 'the last date'} (both included)"


def set_aside_unchanged(catalog: Catalog, release: str, planned: dict[str, list], key: bytes, force: bool,
                        excl: Exclusions | None = None, levels: dict[str, dict[str, str]] | None = None
                        ) -> tuple[dict[str, list], list[PartitionResult]]:
    """(the planned partitions to build, the results of those skipped as unchanged): an unchanged partition costs
    its inputs' hashes here and no task. Each skip is logged."""
    log, todo, skipped = get_run_logger(), {}, []
    for ds, dates in planned.items():
        todo[ds] = []
        for dt, paths in dates:
            try:
                why = why_redo(catalog, release, ds, dt, paths, key, force, excl, (levels or {}).get(ds))[0]
            except (StorageError, OSError):
                why = "input"  # the task reads it again, and reports what it cannot read
            if why is None:
                skipped.append(PartitionResult(ds, dt.isoformat(), "skipped",
                                               path=str(release_store(catalog, release, ds).target(dt))))
                log.info(skipped[-1].log_line(release))
            else:
                todo[ds].append((dt, paths))
    digest_book.book(catalog).save()
    return todo, skipped


def choose_levels(catalog: Catalog, release: str, datasets: list[str], key: bytes, settings: Settings,
                  excl: Exclusions | None = None) -> dict[str, dict[str, str]]:
    """Per dataset with work to do, one level per quasi-identifier for all its days (global recoding,
    :func:`transforms.policy.release_levels`): every day of the dataset read (its quasi-identifiers taken to their
    declared level), searched together. Logged; a day that no level brings within its budget is named (its gate
    then reports it). A day that cannot be read is left out of the search (its task reports it)."""
    rel, tz, log, out = catalog.releases[release], catalog.lake.timezone, get_run_logger(), {}
    for name in datasets:
        ds = catalog.release_dataset(release, name)
        if not ds.columns_of_kind("quasi"):
            continue
        days, dates, nested = [], [], False
        for dt, paths in plan_dates(catalog, name, None, None).items():
            try:
                table = load_date(catalog, name, dt, paths, settings.master_key(), excl=excl, release=release)
            except (StorageError, pa.ArrowException):
                continue
            nested = bool(nested_quasi_identifiers(name, table, ds))
            if nested:  # no level groups a list or a struct: the partitions' gates block, naming the column
                break
            days.append((table, declared_quasi(table, ds, key=key, tz=tz)))
            dates.append(dt)
        if nested or not days:
            continue
        try:
            out[name], over = release_levels(days, ds, rel.k_anonymity, rel.max_suppression, key=key, tz=tz)
        except pa.ArrowException as e:  # days that cannot be taken together (types that differ): each day alone
            log.warning("release %s: %s: its days cannot be searched together (%s): each day gets its own levels",
                        release, name, type(e).__name__)
            continue
        log.info("release %s: %s at one level on all %d day(s): %s", release, name, len(days),
                 ", ".join(f"{c} {v}" for c, v in out[name].items()))
        if over:
            log.warning("release %s: %s: no level keeps %d day(s) within the suppression budget (%s): their gates "
                        "report them", release, name, len(over), ", ".join(dates[i].isoformat() for i in over[:5]))
    return out


def run_release_tasks(catalog: Catalog, release: str, chunks: list[list[Part]], key: bytes, settings: Settings,
                      force: bool, excl: Exclusions | None = None,
                      levels: dict[str, dict[str, str]] | None = None) -> list[PartitionResult]:
    """Submit one task per chunk, follow their progress, and return every partition's result in release order."""
    rel = catalog.releases[release]
    with tags(*storage_tags()):
        futures = [release_partitions_task.submit(catalog, release, chunk, key, settings, force, excl, levels)
                   for chunk in chunks]
    log = get_run_logger()
    with Progress(sum(len(c) for c in chunks), f"release {release}") as progress:
        for fut in as_completed(futures):
            for r in fut.result():
                log.info(r.log_line(release))
            progress.advance(len(fut.result()))
    return sorted((r for f in futures for r in f.result()), key=lambda r: (rel.datasets.index(r.dataset), r.dt))


def settle(catalog: Catalog, release: str, results: list[PartitionResult], audit: AuditLog) -> None:
    """All or nothing: publish the staged partitions when every one passed its gate, else discard them all (the
    previous release stays as it was). A partition whose input could not be read is not published (its previous
    version, if any, stays) and does not hold the others back. What was published is audited."""
    fs = lake_fs(catalog)
    kept = {(r.dataset, r.dt): int(((release_store(catalog, release, r.dataset).manifest(date.fromisoformat(r.dt))
                                     or {}).get("rows") or {}).get("out") or 0)
            for r in results if r.status == "skipped"}
    block_releases_left_empty(results, catalog.releases[release].k_anonymity, kept)
    if any(r.status == "blocked" for r in results):
        recover_release(fs, catalog.release_path(release))
        return
    staged = [r for r in results if r.staged]
    if staged:
        audit.check_writable()  # a log that does not verify is never appended to: publish nothing either
    for r in staged:
        release_store(catalog, release, r.dataset).publish(fs.path(r.staged), date.fromisoformat(r.dt), synced=True)
    fs.sync_parents([fs.path(r.path) for r in staged])
    if staged:
        audit.append("release.publish", release=release, policy_hash=catalog.policy_hash, partitions=[
            {"dataset": r.dataset, "dt": r.dt, "rows": r.rows_out,
             "manifest_sha256": fs.digest(release_store(catalog, release, r.dataset).meta(date.fromisoformat(r.dt))
                                          / "manifest.json")} for r in staged])


def describe_release(catalog: Catalog, release: str, summary: dict) -> None:
    """Write the release's index, data dictionary and HTML report into ``releases/<release>/_meta/`` (what every
    published partition's manifest says, as of now), and the HTML report beside the run's other reports."""
    fs = lake_fs(catalog)
    manifests, schemas = {}, {}
    for ds in catalog.releases[release].datasets:
        store = release_store(catalog, release, ds)
        parts = store.partitions()
        manifests[ds] = [m for dt, _ in parts if (m := store.manifest(dt))]
        files = [f for _, folder in parts[-1:] for f in store.files(folder)]
        schemas[ds] = {f.name: str(f.type) for f in fs.parquet_schema(files[0])} if files else {}
    now = datetime.now(ZoneInfo(catalog.lake.timezone))
    index = release_index(catalog, release, manifests, schemas, now)
    meta = catalog.release_path(release) / "_meta"
    fs.write_bytes(meta / "index.json", json.dumps(index, ensure_ascii=False, indent=2).encode("utf-8"))
    fs.write_bytes(meta / "dictionary.md", dictionary_markdown(index).encode("utf-8"))
    page = release_page(summary, [m for ms in manifests.values() for m in ms], index).encode("utf-8")
    fs.write_bytes(meta / "report.html", page)
    summary["html_report"] = str(write_report(catalog, f"release-{release}", None, page, suffix=".html"))
    summary["index"] = fs.rel(meta / "index.json")


def report_release(catalog: Catalog, summary: dict) -> None:
    """The run's report under ``state/reports/``, its Prefect artifacts and log line; raises ReleaseBlocked if any
    partition was blocked."""
    release = summary["release"]
    md = release_markdown(summary)
    summary["report"] = str(write_report(catalog, f"release-{release}", summary, md))
    publish_artifacts(f"release-{release.replace('_', '-')}", md, [
        {k: p[k] for k in ("dataset", "dt", "status", "rows_out", "suppressed")}
        for p in summary["partitions"] if p["status"] != "skipped"], link=summary.get("html_report"))
    get_run_logger().info("release %s: %d published, %d skipped, %d blocked", release, summary["published"],
                          summary["skipped"], summary["blocked"])
    if summary["blocked"]:
        first = next(p for p in summary["partitions"] if p["status"] == "blocked")
        raise ReleaseBlocked(f"release {release!r}: {summary['blocked']} partition(s) blocked, e.g. "
                             f"{first['dataset']} dt={first['dt']}: {first['reasons'][0]}", summary)
    if summary["problems"]:
        raise incomplete(f"release {release!r}", summary["problems"], summary)


@flow(name="deidentify", task_runner=ThreadPoolTaskRunner(max_workers=Settings.model_fields["max_workers"].default),
      timeout_seconds=RUN_TIMEOUT_SECONDS, flow_run_name=release_run_name)
def deidentify_flow(catalog_path: str, release: str, start: date | None = None, end: date | None = None,
                    force: bool = False, root: str | None = None, settings: Settings | None = None) -> dict:
    """Build, gate and publish ``release`` for event dates ``start..end`` (all dates by default), one task per
    (dataset, date) on threads, several consecutive partitions per task on processes or Dask (see
    :func:`transforms.planning.plan_tasks`). Unchanged partitions are skipped unless ``force``."""
    catalog = load_catalog(catalog_path, root=root)
    check_release_request(catalog, release, start, end)
    settings = settings or Settings()
    check_lake_key(catalog, settings)
    rel, fs = catalog.releases[release], lake_fs(catalog)
    key, audit = release_key(settings, rel.recipient), AuditLog.of(catalog, settings)
    problems = survey(catalog, datasets=list(rel.datasets), releases=[release])
    with fs.exclusive_lock(catalog.state_path, f"deidentify {release}"):
        recover_release(fs, catalog.release_path(release))
        planned = {ds: list(plan_dates(catalog, ds, start, end).items()) for ds in rel.datasets}
        excl = release_exclusions(catalog, release, settings, min((dt for d in planned.values() for dt, _ in d),
                                                                   default=None))
        todo, unchanged = set_aside_unchanged(catalog, release, planned, key, force, excl)
        # one level per quasi-identifier for the whole release, chosen again whenever a dataset has work to do;
        # partitions published at other levels are redone ("levels")
        levels = choose_levels(catalog, release, [ds for ds, d in todo.items() if d], key, settings, excl)
        if levels:
            todo, unchanged = set_aside_unchanged(catalog, release, planned, key, force, excl, levels)
        chunks = plan_release_tasks(catalog, release, todo, settings)
        results = sorted(unchanged + run_release_tasks(catalog, release, chunks, key, settings, force, excl, levels),
                         key=lambda r: (rel.datasets.index(r.dataset), r.dt))
        settle(catalog, release, results, audit)
        digest_book.book(catalog).save()
        summary = release_summary(release, rel, fs.rel(catalog.release_path(release)), results, problems)
        if not results:
            summary["warnings"] = [f"no data of {', '.join(rel.datasets)} in {_span(start, end)}: nothing to release"]
            get_run_logger().info("release %s: %s", release, summary["warnings"][0])
        if not summary["blocked"] and (summary["published"] or not fs.exists(
                catalog.release_path(release) / "_meta" / "index.json")):
            describe_release(catalog, release, summary)  # a run that changed nothing changes no document
    report_release(catalog, summary)
    report_audit_head(catalog, settings, bool(summary["published"]))
    return summary
