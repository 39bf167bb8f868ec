"""What release task planning needs to know from outside: input sizes, the seconds the last runs took (from their
manifests), and how many workers the task runner has. The plan itself is :mod:`transforms.planning`."""

from __future__ import annotations

from pathlib import Path

from configs.catalog import Catalog
from configs.errors import StorageError
from configs.settings import Settings
from flows.storage import LakeFS, lake_fs, release_store
from transforms.planning import Dated, Part, estimate_costs, plan_tasks


def seconds_per_byte(catalog: Catalog, release: str, dataset: str, sample: int = 8) -> float | None:
    """Seconds per input byte that ``dataset``'s partitions of ``release`` took last time, from the ``sample``
    newest manifests that record it (None when there are none)."""
    secs = size = 0.0
    store = release_store(catalog, release, dataset)
    for dt, _ in sorted(store.partitions(), reverse=True)[:sample]:
        try:
            m = store.manifest(dt) or {}
            secs, size = secs + float(m["seconds"]), size + sum(i["bytes"] for i in m["inputs"])
        except (ValueError, KeyError, TypeError):
            continue  # an older manifest without timings, or one being replaced: no estimate from it
    return secs / size if secs > 0 and size > 0 else None


def dataset_costs(catalog: Catalog, release: str, datasets: list[str]) -> dict[str, float]:
    """Seconds per input byte for each dataset of ``release``: measured where the last runs recorded it, else
    priced by storage format (:func:`transforms.planning.estimate_costs`)."""
    measured = {ds: r for ds in datasets if (r := seconds_per_byte(catalog, release, ds))}
    return estimate_costs({ds: catalog.datasets[ds] for ds in datasets}, measured)


def _size(fs: LakeFS, path: Path) -> int:
    try:
        return fs.size(path)
    except (OSError, StorageError):
        return 0


def runner_workers(runner) -> int | None:
    """The number of workers of a Dask task runner's cluster (None when unknown or not Dask)."""
    try:
        from prefect_dask import DaskTaskRunner

        if isinstance(runner, DaskTaskRunner):
            return len(runner.client.scheduler_info().get("workers", {})) or None
    except Exception:  # noqa: BLE001  (no cluster reachable: fall back to the settings)
        return None
    return None


def current_task_runner():
    """The task runner of the flow run in progress (None outside a flow run)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx.task_runner if ctx is not None else None


def plan_release_tasks(catalog: Catalog, release: str, planned: dict[str, Dated], settings: Settings) -> list[list[Part]]:
    """The release's partitions grouped into tasks for the current task runner (see
    :func:`transforms.planning.plan_tasks`)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    runner = current_task_runner()
    threaded = runner is None or isinstance(runner, ThreadPoolTaskRunner)
    fs = lake_fs(catalog)
    sizes = {p: _size(fs, p) for dated in planned.values() for _, paths in dated for p in paths}
    return plan_tasks(planned, sizes=sizes, threaded=threaded,
                      workers=(None if threaded else runner_workers(runner)) or settings.max_workers,
                      per_task=settings.partitions_per_task,
                      cost={} if threaded else dataset_costs(catalog, release, list(planned)))
