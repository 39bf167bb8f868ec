"""``requests``: the requests register checked as a flow (the ``requests/requests-due`` deployment, daily): logged,
published as an artifact (request ids and counts only), and failed when a request is past the policy's 30 days, for
a Prefect automation to page someone. ``piiflow requests`` reads the same register without Prefect."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger

from configs.catalog import load_catalog
from flows.reports import publish_artifacts
from flows.requests_register import RequestsOverdue, requests


@flow(name="requests")
def requests_flow(catalog_path: str, root: str | None = None) -> dict:
    """The register as it stands today; raises RequestsOverdue (the run fails) when one is overdue."""
    catalog = load_catalog(catalog_path, root=root)
    today = datetime.now(ZoneInfo(catalog.lake.timezone)).date()
    reqs = requests(catalog, today)
    overdue = [r["request_id"] for r in reqs if r["overdue"]]
    rows = [{k: r[k] for k in ("request_id", "kind", "received", "state", "due", "days_left")} for r in reqs]
    publish_artifacts("requests", f"# Requests as of {today}\n\n{len(reqs)} request(s), {len(overdue)} overdue", rows)
    get_run_logger().info("requests: %d, %d open, %d overdue", len(reqs),
                          sum(r["state"] != "executed" for r in reqs), len(overdue))
    if overdue:
        raise RequestsOverdue(f"{len(overdue)} request(s) past the policy's 30 days: {', '.join(overdue)}")
    return {"as_of": today.isoformat(), "requests": reqs, "overdue": overdue}
