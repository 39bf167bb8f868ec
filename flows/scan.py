"""``scan``: a PII inventory of every dataset from a sample spread across its partitions."""

from __future__ import annotations

import math

import pyarrow as pa
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from configs.catalog import Catalog, load_catalog
from configs.errors import PolicyError, StorageError, incomplete
from configs.settings import Settings
from flows import quarantine
from flows.reports import publish_artifacts, write_report
from flows.runtime import RUN_TIMEOUT_SECONDS, analyzer_for
from flows.storage import Problem, lake_fs, storage_for
from transforms.reporting import scan_markdown
from transforms.scan import scan_table
from transforms.tables import concat

#: At most this many partitions are read per dataset; they are spread evenly over its history.
MAX_PARTITIONS = 24


def sample_dataset(catalog: Catalog, name: str, rows: int, problems: list[Problem] | None = None) -> pa.Table:
    """Up to ``rows`` rows taken evenly from up to MAX_PARTITIONS partitions spread across the dataset. A partition
    that cannot be read is reported in ``problems`` and left out of the sample."""
    problems = problems if problems is not None else []
    store = storage_for(catalog, name)
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


def scan_dataset(catalog: Catalog, name: str, settings: Settings) -> dict:
    problems: list[Problem] = []
    sample = sample_dataset(catalog, name, settings.scan_sample_rows, problems)
    findings = scan_table(sample, analyzer_for(settings), catalog.datasets[name]) if sample.num_rows else []
    return {"dataset": name, "sampled_rows": sample.num_rows,
            "columns": [f.as_dict() for f in findings],
            "drift": [f.column for f in findings if f.drift], "problems": [str(p) for p in dict.fromkeys(problems)]}


@task(cache_policy=NONE)
def scan_dataset_task(catalog: Catalog, name: str, settings: Settings) -> dict:
    return scan_dataset(catalog, name, settings)


@flow(name="scan", log_prints=False, timeout_seconds=RUN_TIMEOUT_SECONDS)
def scan_flow(catalog_path: str, dataset: str | None = None, root: str | None = None,
              settings: Settings | None = None) -> dict:
    """Sample every dataset (or one), classify its columns, report PII and policy drift."""
    catalog = load_catalog(catalog_path, root=root)
    check_dataset(catalog, dataset)
    settings = settings or Settings()
    lake_fs(catalog).check_root()
    names = [dataset] if dataset else list(catalog.datasets)
    futures = [scan_dataset_task.submit(catalog, n, settings) for n in names]
    result = {"catalog": str(catalog.source), "policy_hash": catalog.policy_hash,
              "datasets": [f.result() for f in futures]}
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


def check_dataset(catalog: Catalog, dataset: str | None) -> None:
    """Refuse a dataset the catalog does not declare, before anything is read."""
    if dataset is not None and dataset not in catalog.datasets:
        raise PolicyError(f"{catalog.source}: dataset {dataset!r} is not declared; expected one of "
                          f"{', '.join(catalog.datasets)}")
