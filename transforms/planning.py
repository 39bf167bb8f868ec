"""Release task planning: which date partitions each release task carries. Pure: sizes and costs come in.

On threads a task costs milliseconds, so each carries one partition. On processes or Dask a task costs a few
tenths of a second of CPU besides its work (Prefect's client and settings rebuilt in the worker, the submission,
the API server recording its states), so partitions are grouped into tasks of equal estimated cost: a partition
costs its input bytes times its dataset's seconds per byte (measured by the last run, or priced by storage format
on a first backfill, :func:`estimate_costs`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from configs.catalog import Dataset

Dated = list[tuple[date, list[Path]]]
Part = tuple[str, date, list[Path]]
#: Most tasks per worker when partitions are grouped (processes, Dask): enough that no worker is left with a long
#: tail while the others idle.
TASKS_PER_WORKER = 4
#: Least estimated work per grouped task. A task on processes or Dask costs about 0.2 s of CPU besides its work, so
#: a task should carry several times that.
MIN_TASK_SECONDS = 1.0


def plan_tasks(planned: dict[str, Dated], *, sizes: dict[Path, int], threaded: bool, workers: int,
               per_task: int | None = None, cost: dict[str, float] | None = None) -> list[list[Part]]:
    """Group date partitions into tasks ``[[(dataset, date, paths)]]`` of consecutive partitions (datasets in
    order, dates in order within each), largest first.

    ``per_task`` partitions per task when set. Else: on threads, one partition per task. On processes or Dask,
    tasks of equal estimated cost, ``k`` per worker: as many as :data:`TASKS_PER_WORKER`, to even out the
    workers, but no fewer than one and none smaller than :data:`MIN_TASK_SECONDS`, so that a small backfill is not
    mostly orchestration. A partition's estimated cost is its input bytes (``sizes``, per path) times its dataset's
    seconds per byte (``cost``; datasets missing from it take the mean of the others, or 1): bytes alone mislead,
    a compressed JSON-lines byte costs several Parquet bytes."""
    cost = cost or {}
    default = sum(cost.values()) / len(cost) if cost else 1.0
    parts = [(ds, d, paths) for ds, dated in planned.items() for d, paths in dated]
    weights = [sum(sizes.get(p, 0) for p in paths) * cost.get(ds, default) for ds, _, paths in parts]
    if threaded or per_task:
        size = per_task or 1
        tasks = [(sum(weights[i:i + size]), parts[i:i + size]) for i in range(0, len(parts), size)]
    else:
        total = sum(weights)
        count = workers * max(1, min(TASKS_PER_WORKER, int(total / (workers * MIN_TASK_SECONDS))))
        groups: list[tuple[float, list[Part]]] = [(0.0, []) for _ in range(count)]
        done = 0.0
        for part, w in zip(parts, weights):  # a partition goes to the task its middle falls in
            i = min(count - 1, int((done + w / 2) * count / total)) if total else 0
            groups[i] = (groups[i][0] + w, groups[i][1] + [part])
            done += w
        tasks = [g for g in groups if g[1]]
    tasks.sort(key=lambda t: -t[0])  # largest first: no big task starts last
    return [chunk for _, chunk in tasks]


#: Seconds per input megabyte by storage format, for datasets with no timings yet (a first backfill): what the demo
#: lake's partitions took in one process on a 2-core development machine. Gzip text costs about four times as
#: much as Parquet per byte; plain text about as much.
FORMAT_SECONDS_PER_MB = {"parquet": 0.08, "delta": 0.14, "jsonl": 0.35, "csv": 0.35}
PLAIN_TEXT_SECONDS_PER_MB = 0.08


def format_cost(ds: Dataset) -> float:
    """A dataset's prior seconds per input byte, from its storage format (see :data:`FORMAT_SECONDS_PER_MB`)."""
    if ds.format in ("jsonl", "csv") and not str(ds.files or "").endswith(".gz"):
        return PLAIN_TEXT_SECONDS_PER_MB / 1e6
    return FORMAT_SECONDS_PER_MB.get(ds.format, FORMAT_SECONDS_PER_MB["parquet"]) / 1e6


def estimate_costs(datasets: dict[str, Dataset], measured: dict[str, float]) -> dict[str, float]:
    """Seconds per input byte for each of ``datasets``: ``measured`` (by the last runs) where known; else its
    :func:`format_cost`, scaled by how the measured datasets compared with theirs (this machine's speed)."""
    prior = {name: format_cost(ds) for name, ds in datasets.items()}
    known = {name: r for name, r in measured.items() if name in prior and r}
    scale = sum(known[n] / prior[n] for n in known) / len(known) if known else 1.0
    return {name: known.get(name, prior[name] * scale) for name in datasets}
