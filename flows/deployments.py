"""The scheduled deployments ``piiflow serve`` runs from one process on one machine. ``prefect.yaml`` declares the
production ones for a Prefect server with a work pool (``nightly/nightly``, ``scan/weekly-full-scan`` and the
parameterised ``deidentify/backfill`` and ``erase/erasure``); the served ones are named apart
(``nightly/nightly-served``, ``scan/weekly-full-scan-served``), and serving refuses to start if a deployment of
its names exists that it did not create (one with a work pool): serving writes its deployments when it starts and
pauses their schedules when it stops, which must never happen to the work pool's. It also refuses to serve a flow
that a work pool already runs on an active schedule, under any name: the nightly would run twice a night.

Each served deployment runs one at a time (a concurrency limit of 1; a run due while the last one still runs is
cancelled), as ``prefect.yaml`` declares for the work pool's."""

from __future__ import annotations

from configs.errors import PolicyError
from configs.settings import Settings
from flows.runtime import configured

TIMEZONE = "Asia/Shanghai"
NIGHTLY_CRON = "0 2 * * *"
WEEKLY_SCAN_CRON = "0 4 * * 0"
#: What served deployments' names end with, so that they never share a name with the work pool's.
SERVED = "-served"


def _one_at_a_time():
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def deployments(catalog_path: str, settings: Settings) -> list:
    from prefect.schedules import Cron

    from flows.nightly import nightly_flow
    from flows.scan import scan_flow

    return [
        configured(nightly_flow, settings).to_deployment(
            name=f"nightly{SERVED}", schedule=Cron(NIGHTLY_CRON, timezone=TIMEZONE), concurrency_limit=_one_at_a_time(),
            parameters={"catalog_path": catalog_path}, description="purge, scan what changed, then every release",
            tags=["piiflow", "served"]),
        configured(scan_flow, settings).to_deployment(
            name=f"weekly-full-scan{SERVED}", schedule=Cron(WEEKLY_SCAN_CRON, timezone=TIMEZONE),
            concurrency_limit=_one_at_a_time(),
            parameters={"catalog_path": catalog_path}, description="PII inventory of every dataset",
            tags=["piiflow", "served"]),
    ]


def check_not_taken(deps: list) -> None:
    """Refuse to serve a deployment whose name a work-pool deployment already has (serving would overwrite its
    parameters and pause its schedule), or a flow that a work pool already runs on an active schedule, whatever
    that deployment's name (both would run every night, and one of them would find the lake locked)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for d in deps:
            try:
                existing = client.read_deployment_by_name(d.full_name)
            except ObjectNotFound:
                continue
            if existing.work_pool_name:
                raise PolicyError(f"serve: deployment {d.full_name!r} exists in work pool "
                                  f"{existing.work_pool_name!r}; serving would overwrite it and pause its schedule. "
                                  f"Delete it (prefect deployment delete {d.full_name}) or do not serve here")
        names = sorted({d.flow_name for d in deps})
        flows = {f.id: f.name for f in client.read_flows(flow_filter=FlowFilter(name=FlowFilterName(any_=names)))}
        for existing in client.read_deployments(flow_filter=FlowFilter(name=FlowFilterName(any_=names))):
            if existing.work_pool_name and not existing.paused and any(s.active for s in existing.schedules or ()):
                full = f"{flows.get(existing.flow_id, '?')}/{existing.name}"
                raise PolicyError(f"serve: work pool {existing.work_pool_name!r} already runs {full!r} on a "
                                  f"schedule; serving the same flow here would run it twice. Let the work pool run "
                                  f"it, or pause that deployment first (prefect deployment pause {full})")


def serve_all(catalog_path: str, settings: Settings, announce=None) -> None:  # pragma: no cover - until interrupted
    """Serve the deployments until interrupted; ``announce(deployments)`` is called once they are checked."""
    from prefect import serve

    deps = deployments(catalog_path, settings)
    check_not_taken(deps)
    if announce is not None:
        announce(deps)
    serve(*deps, print_starting_message=announce is None)
