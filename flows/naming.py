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


def nightly_run_name() -> str:
    """``nightly-<catalog>-<day>-<run id's first 8>``: two runs of one day (a retry, a manual run) differ."""
    from datetime import datetime

    from prefect.runtime import flow_run

    run_id = str(flow_run.id or "")[:8]
    return f"nightly-{_catalog(_params('flow'))}-{datetime.now().date().isoformat()}" + (f"-{run_id}" if run_id else "")


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
