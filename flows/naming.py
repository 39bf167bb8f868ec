"""Names of flow runs and task runs, made from their parameters, so that the Prefect UI lists
``release-analytics-2026-11-01..2026-11-07`` and ``analytics: device_events 2026-11-03`` rather than random words
and numbered tasks. Names carry no value from the data: release, dataset and date names come from the catalog, a
subjects file is never named."""

from __future__ import annotations

from datetime import date
from pathlib import Path


def _params(kind: str) -> dict:
    from prefect.runtime import flow_run, task_run

    return dict((task_run if kind == "task" else flow_run).parameters or {})


def _catalog(p: dict) -> str:
    path = Path(str(p.get("catalog_path") or "catalog"))
    return path.parent.name if path.stem == "catalog" and path.parent.name else path.stem


def _day(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _range(start, end) -> str:
    if start is None and end is None:
        return "all-dates"
    return f"{_day(start) if start is not None else '…'}..{_day(end) if end is not None else '…'}"


def nightly_name(params: dict, day: date, run_id: str) -> str:
    """``nightly-<catalog>-<day>-<run id's first 8>``: two runs of one day (a retry, a manual run) differ."""
    return f"nightly-{_catalog(params)}-{day.isoformat()}" + (f"-{run_id[:8]}" if run_id else "")


def nightly_run_name() -> str:
    """The running nightly's name (:func:`nightly_name`, today)."""
    from datetime import datetime

    from prefect.runtime import flow_run

    return nightly_name(_params("flow"), datetime.now().date(), str(flow_run.id or ""))


def name_scheduled_runs(namer, limit: int = 200) -> int:
    """Give the scheduled runs of the running flow's deployment the names they will take when they start
    (``namer(parameters, day, run id)``, the day they are expected to start, local time), so that the Prefect UI
    lists ``nightly-lake-2026-12-09-1a2b3c4d`` rather than the scheduler's random words. Outside a deployment it
    does nothing. Returns how many runs it renamed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.runtime import deployment as this_deployment

    deployment = this_deployment.id
    if not deployment:
        return 0
    renamed = 0
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))), limit=limit)
        for run in runs:
            when = run.expected_start_time or run.next_scheduled_start_time
            if when is None:
                continue
            name = namer(dict(run.parameters or {}), when.astimezone().date(), str(run.id))
            if run.name != name:
                client.update_flow_run(run.id, name=name)
                renamed += 1
    return renamed


def release_run_name() -> str:
    p = _params("flow")
    return f"release-{p.get('release')}-{_range(p.get('start'), p.get('end'))}" + ("-forced" if p.get("force") else "")


def scan_run_name() -> str:
    p = _params("flow")
    return f"scan-{p.get('dataset') or 'all-datasets'}" + ("-changed" if p.get("changed") else "")


def purge_run_name() -> str:
    p = _params("flow")
    when = _day(p["as_of"]) if p.get("as_of") else "now"
    return f"purge-{'execute' if p.get('execute') else 'plan'}-as-of-{when}"


def erase_run_name() -> str:
    p = _params("flow")
    what = "ledger" if p.get("ledger") else "org" if p.get("org") and not p.get("subjects_file") else "subjects"
    return f"erase-{what}-{'execute' if p.get('execute') else 'plan'}"


def consent_run_name() -> str:
    p = _params("flow")
    what = "-".join(p.get("purposes") or []) if p.get("kind") == "objection" else ""
    return f"{p.get('kind')}{'-' + what if what else ''}-{'execute' if p.get('execute') else 'plan'}"


def sunset_run_name() -> str:
    p = _params("flow")
    return f"sunset-{p.get('mode')}-{'-'.join(p.get('datasets') or [])}-{'execute' if p.get('execute') else 'plan'}"


def release_task_name() -> str:
    """``<release>: <dataset> <date>`` for a task of one partition; ``… +N`` when it carries a run of them."""
    p = _params("task")
    parts = p.get("parts") or []
    if not parts:
        return f"{p.get('release')}: nothing"
    ds, dt, _ = parts[0]
    more = f" +{len(parts) - 1}" if len(parts) > 1 else ""
    return f"{p.get('release')}: {ds} {_day(dt)}{more}"


def scan_task_name() -> str:
    return f"scan {_params('task').get('name')}"
