"""``nightly``: purge (executed), scan, then every release of the catalog (row-level, then aggregate)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger
from prefect.states import Cancelled

from configs.catalog import load_catalog
from configs.errors import LakeBusy, ReleaseBlocked, RunIncomplete, incomplete
from configs.settings import Settings
from flows import requests_register
from flows.aggregate import aggregate_flow
from flows.deidentify import deidentify_flow
from flows.erase import erase_flow
from flows.lake_key import check_lake_key
from flows.naming import name_scheduled_runs, nightly_name, nightly_run_name
from flows.purge import purge_flow
from flows.reports import publish_artifacts
from flows.runtime import RUN_TIMEOUT_SECONDS, configured, task_runner_for
from flows.scan import scan_flow
from flows.storage import lake_fs
from transforms.reporting import md_table, nightly_summary


def _step(run, *args, **kwargs) -> dict:
    """A subflow's result; one that finished with problems (``RunIncomplete``) is reported, not raised, so that the
    other steps still run."""
    try:
        return run(*args, **kwargs)
    except RunIncomplete as e:
        return e.result


def _release(deidentify, catalog_path: str, name: str, root: str | None, settings: Settings) -> dict:
    """One release's summary; a blocked one is reported (``status: blocked``, ``error``: why) instead of raised, so
    that the other releases still publish."""
    try:
        return _step(deidentify, catalog_path, name, root=root, settings=settings)
    except ReleaseBlocked as e:
        return {"release": name, "blocked": 0, "problems": [], **e.report, "status": "blocked", "error": str(e)}


@flow(name="nightly", timeout_seconds=RUN_TIMEOUT_SECONDS, flow_run_name=nightly_run_name)
def nightly_flow(catalog_path: str, root: str | None = None, settings: Settings | None = None):
    """The scheduled job: purge (executed), erase what arrived since of every processed erasure, scan what is new
    or changed since the last scan, then every release, all under the lake's lock. A release that fails its gate,
    or anything a step refused or could not read, is reported; the other steps still run; the run fails at the end
    if anything was blocked or left undone. A run that finds another holding the lake's lock does nothing and ends
    Cancelled, saying so in one line."""
    catalog = load_catalog(catalog_path, root=root)
    settings = settings or Settings()
    check_lake_key(catalog, settings)
    _name_next_runs()
    try:
        with lake_fs(catalog).exclusive_lock(catalog.state_path, "nightly"):
            return _nightly(catalog, catalog_path, root, settings)
    except LakeBusy as e:
        get_run_logger().warning("%s; this run did nothing", e)
        return Cancelled(message=f"{e}; this run did nothing")


def _name_next_runs() -> None:
    """The deployment's scheduled nightlies get the names they will take (best effort: a failure is logged)."""
    try:
        n = name_scheduled_runs(nightly_name)
    except Exception as e:  # noqa: BLE001 - naming is cosmetic; the nightly goes on
        get_run_logger().warning("nightly: could not name the scheduled runs (%s)", type(e).__name__)
        return
    if n:
        get_run_logger().info("nightly: named %d scheduled run(s) as they will name themselves", n)


def _requests_due(catalog) -> dict:
    """The requests register as the nightly logs it: open requests, the overdue ones named (by request id)."""
    today = datetime.now(ZoneInfo(catalog.lake.timezone)).date()
    reqs = requests_register.requests(catalog, today)
    open_ = [r for r in reqs if r["state"] != "executed"]
    overdue = [r["request_id"] for r in open_ if r["overdue"]]
    log = get_run_logger()
    log.info("nightly: requests register: %d request(s), %d open, %d overdue", len(reqs), len(open_), len(overdue))
    if overdue:
        log.warning("nightly: %d request(s) past the policy's 30 days: %s", len(overdue), ", ".join(overdue))
    return {"total": len(reqs), "open": len(open_), "overdue": overdue,
            "soonest_due": min((r["due"] for r in open_), default=None)}


def _nightly(catalog, catalog_path: str, root: str | None, settings: Settings) -> dict:
    purge = _step(configured(purge_flow, settings), catalog_path, execute=True, root=root, settings=settings)
    erasures = _step(configured(erase_flow, settings), catalog_path, execute=True, ledger=True, root=root,
                     settings=settings)
    scan = _step(configured(scan_flow, settings), catalog_path, changed=True, root=root, settings=settings)
    deidentify = configured(deidentify_flow, settings, task_runner=task_runner_for(settings, catalog))
    releases = {name: _release(deidentify, catalog_path, name, root, settings) for name in catalog.releases}
    aggregate = configured(aggregate_flow, settings)
    aggregates = {name: _release(aggregate, catalog_path, name, root, settings) for name in catalog.aggregates}
    result = {"purge": purge, "erasures": erasures, "scan": scan, "releases": releases, "aggregates": aggregates,
              "requests": _requests_due(catalog)}
    result["summary"] = nightly_summary(result)
    log = get_run_logger()
    for name, r in releases.items():
        log.info("nightly: release %s %s: %s partition(s) published, %s unchanged, %s row(s) out", name,
                 r["status"], r.get("published", 0), r.get("skipped", 0), r.get("rows_out", 0))
    for name, r in aggregates.items():
        log.info("nightly: aggregate release %s %s: %s day(s) published, %s unchanged, epsilon %s spent", name,
                 r["status"], r.get("published", 0), r.get("skipped", 0), r.get("spent", 0))
    log.info("nightly: %s", "; ".join(f"{k} {v}" for k, v in result["summary"].items() if v not in ("", None)))
    publish_artifacts("nightly-summary", "# Nightly run\n\n" + md_table([result["summary"]], list(result["summary"])),
                      [result["summary"]])
    blocked = [r["error"] for r in (*releases.values(), *aggregates.values()) if r["status"] == "blocked"]
    if blocked:
        raise ReleaseBlocked(f"nightly: {len(blocked)} release(s) blocked; first: {blocked[0]}", result)
    problems = [p for step in (purge, erasures, scan, *releases.values(), *aggregates.values())
                for p in step.get("problems", [])]
    if problems:
        raise incomplete("nightly", problems, result)
    return result
