"""``scan``: a PII inventory of every dataset from a sample spread across its partitions.

A full scan samples every dataset's whole history. An incremental one (``changed``, what the nightly runs) reads
only the partitions with a file new or changed since the dataset's last scan (a file's size and modification
time, :meth:`~flows.storage.fs.LakeFS.signature`) and merges what it finds into that scan's findings; a dataset
with nothing new is not read at all. Either records, in ``state/scan/<dataset>.json``, the files it covered and
its findings, under the detector's and the policy's fingerprints: a new detector or a changed policy makes the
next scan full."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.futures import as_completed

from configs.catalog import Catalog, load_catalog
from configs.checks import check_dataset
from configs.errors import StorageError, incomplete
from configs.settings import Settings
from flows import quarantine
from flows.lake_key import check_lake_key
from flows.naming import scan_run_name, scan_task_name
from flows.progress import Progress
from flows.reports import publish_artifacts, write_report
from flows.runtime import RUN_TIMEOUT_SECONDS, analyzer_for
from flows.storage import Partition, Problem, lake_fs, storage_for
from transforms.consent import age_columns, columns_for_ages, minor_counts
from transforms.reporting import scan_markdown
from transforms.scan import merge_findings, scan_table
from transforms.tables import concat

#: At most this many partitions are read per dataset; they are spread evenly over its history.
MAX_PARTITIONS = 24


def sample_dataset(catalog: Catalog, name: str, rows: int, problems: list[Problem] | None = None,
                   parts: list[Partition] | None = None) -> pa.Table:
    """Up to ``rows`` rows taken evenly from up to MAX_PARTITIONS partitions spread across the dataset (or across
    ``parts``). A partition that cannot be read is reported in ``problems`` and left out of the sample."""
    problems = problems if problems is not None else []
    store = storage_for(catalog, name)
    if parts is None:
        parts = store.list_partitions()
        problems += store.problems
    if not parts:
        return pa.table({})
    if len(parts) > MAX_PARTITIONS:
        step = len(parts) / MAX_PARTITIONS
        parts = [parts[int(i * step)] for i in range(MAX_PARTITIONS)]
    per = math.ceil(rows / len(parts))
    tables = []
    for p in parts:
        try:
            t = quarantine.exclude(catalog, name, store.read(p))
        except (StorageError, pa.ArrowException) as e:
            problems.append(Problem(f"{name} {p.label}", f"cannot be read ({str(e).split(': ', 1)[-1]}); not scanned"))
            continue
        if t.num_rows > per:
            stride = t.num_rows / per
            t = t.take(pa.array([int(i * stride) for i in range(per)], pa.int64()))
        tables.append(t)
    return concat(tables) if tables else pa.table({})


@functools.lru_cache(maxsize=8)
def detector_fingerprint(threshold: float, ner_model: str | None, sample_rows: int) -> str:
    """What a scan's findings depend on besides the data and the policy: the detection code (its modules' source),
    the shipped model, the threshold, the sample size and any extra NER model named in the settings."""
    import transforms

    h = hashlib.sha256(f"{threshold}|{ner_model}|{sample_rows}".encode())
    package = Path(transforms.__file__).parent
    for path in sorted([*package.glob("*.py"), *package.glob("recognizers/*.py"), *package.glob("models/*")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def scan_state_path(catalog: Catalog, name: str) -> Path:
    return catalog.state_path / "scan" / f"{name}.json"


def _earlier_scan(catalog: Catalog, name: str, detector: str) -> dict | None:
    """The dataset's last scan, if it was made by this detector under this policy (else None: scan it all)."""
    fs, path = lake_fs(catalog), scan_state_path(catalog, name)
    if not fs.exists(path):
        return None
    try:
        earlier = json.loads(fs.read_bytes(path))
    except (ValueError, OSError):
        return None  # unreadable state only costs a full scan
    if earlier.get("detector") != detector or earlier.get("policy_hash") != catalog.policy_hash:
        return None
    return earlier


def scan_dataset(catalog: Catalog, name: str, settings: Settings, full: bool = True) -> dict:
    """Scan one dataset (all of it, or with ``full=False`` what changed since its last scan) and record the scan."""
    fs, store = lake_fs(catalog), storage_for(catalog, name)
    detector = detector_fingerprint(settings.score_threshold, settings.ner_model, settings.scan_sample_rows)
    parts = store.list_partitions()
    problems: list[Problem] = list(store.problems)
    files = {fs.rel(p): fs.signature(p) for part in parts for p in part.paths}
    earlier = None if full else _earlier_scan(catalog, name, detector)
    if earlier is not None:
        seen = earlier.get("files", {})
        parts = [part for part in parts if any(seen.get(fs.rel(p)) != files[fs.rel(p)] for p in part.paths)]
    sample = sample_dataset(catalog, name, settings.scan_sample_rows, problems, parts=parts)
    findings = scan_table(sample, analyzer_for(settings), catalog.datasets[name]) if sample.num_rows else []
    if earlier is not None:
        findings = merge_findings(earlier["result"]["columns"], findings, catalog.datasets[name])
    minors, by_file = count_minors(catalog, name, files, earlier, problems)
    mode = "full" if earlier is None else "changed" if parts else "unchanged"
    result = {"dataset": name, "mode": mode, "partitions_read": min(len(parts), MAX_PARTITIONS),
              "sampled_rows": sample.num_rows,
              "columns": [f.as_dict() for f in findings],
              "drift": [f.column for f in findings if f.drift], "problems": [str(p) for p in dict.fromkeys(problems)]}
    if minors:
        result["minors"] = minors
    if not problems:  # a scan that could not read something is not recorded: the next one reads it again
        fs.write_bytes(scan_state_path(catalog, name), json.dumps({
            "detector": detector, "policy_hash": catalog.policy_hash,
            "scanned_at": datetime.now(timezone.utc).isoformat(), "files": files,
            "result": {"columns": result["columns"]}, "minors_by_file": by_file}, ensure_ascii=False).encode("utf-8"))
    return result


def count_minors(catalog: Catalog, name: str, files: dict[str, list], earlier: dict | None,
                 problems: list[Problem]) -> tuple[dict[str, int], dict[str, dict]]:
    """(the dataset's rows of minors, under 18 and under 14, in every file: counts only; those counts per file, for
    the next scan). Only the columns that tell ages are read, and only of files new or changed since ``earlier``.
    Empty for a dataset that tells no age."""
    ds = catalog.datasets[name]
    if not age_columns(ds):
        return {}, {}
    store, fs = storage_for(catalog, name), lake_fs(catalog)
    seen, before = (earlier or {}).get("files", {}), (earlier or {}).get("minors_by_file", {})
    today = datetime.now(ZoneInfo(catalog.lake.timezone)).date()
    by_file: dict[str, dict] = {}
    for part in store.list_partitions():
        for path in part.paths:
            rel = fs.rel(path)
            if rel in before and seen.get(rel) == files.get(rel):
                by_file[rel] = before[rel]
                continue
            try:
                t = quarantine.exclude(catalog, name, store.read_file(path, columns_for_ages(ds)))
            except (StorageError, pa.ArrowException) as e:
                problems.append(Problem(rel, f"cannot be read ({str(e).split(': ', 1)[-1]}); minors not counted"))
                continue
            by_file[rel] = minor_counts(t, ds, catalog.lake.timezone, today)
    total: dict[str, int] = {}
    for counts in by_file.values():
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return total, by_file


@task(cache_policy=NONE, task_run_name=scan_task_name)
def scan_dataset_task(catalog: Catalog, name: str, settings: Settings, full: bool = True) -> dict:
    return scan_dataset(catalog, name, settings, full)


@flow(name="scan", log_prints=False, timeout_seconds=RUN_TIMEOUT_SECONDS, flow_run_name=scan_run_name)
def scan_flow(catalog_path: str, dataset: str | None = None, changed: bool = False, root: str | None = None,
              settings: Settings | None = None) -> dict:
    """Sample every dataset (or one), classify its columns, report PII and policy drift. ``changed`` reads only
    what is new or changed since the last scan (see the module docstring)."""
    catalog = load_catalog(catalog_path, root=root)
    check_dataset(catalog, dataset)
    settings = settings or Settings()
    check_lake_key(catalog, settings)
    lake_fs(catalog).check_root()
    names = [dataset] if dataset else list(catalog.datasets)
    futures = [scan_dataset_task.submit(catalog, n, settings, not changed) for n in names]
    with Progress(len(futures), "scan") as progress:
        for fut in as_completed(futures):
            fut.result()
            progress.advance()
    result = {"catalog": str(catalog.source), "policy_hash": catalog.policy_hash,
              "datasets": [f.result() for f in futures]}
    for d in result["datasets"]:
        get_run_logger().info("scan %s (%s): %d partition(s) read, %d rows sampled, %d drifting column(s)",
                              d["dataset"], d["mode"], d["partitions_read"], d["sampled_rows"], len(d["drift"]))
        if d.get("minors"):
            get_run_logger().info("scan %s: %d row(s) of minors under 18, %d under 14 (of %d with an age)",
                                  d["dataset"], d["minors"]["under_18"], d["minors"]["under_14"],
                                  d["minors"]["with_age"])
    result["drift"] = [f"{d['dataset']}.{c}" for d in result["datasets"] for c in d["drift"]]
    md = scan_markdown(result)
    result["report"] = str(write_report(catalog, "scan", result, md))
    publish_artifacts("pii-inventory", md, [
        {"dataset": d["dataset"], "column": c["column"], "entity": c["main_entity"], "hit_rate": c["hit_rate"],
         "drift": c["drift"]} for d in result["datasets"] for c in d["columns"] if c["entities"]])
    result["problems"] = [p for d in result["datasets"] for p in d["problems"]]
    get_run_logger().info("scan: %d datasets, %d drifting columns, %d problems", len(names), len(result["drift"]),
                          len(result["problems"]))
    if result["problems"]:
        raise incomplete("scan", result["problems"], result)
    return result
