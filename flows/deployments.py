"""The scheduled deployments, for ``piiflow serve`` (one process on one machine). ``prefect.yaml`` declares the
same schedules for a Prefect server with a work pool."""

from __future__ import annotations

from prefect import serve
from prefect.schedules import Cron

from configs.settings import Settings
from flows.nightly import nightly_flow
from flows.runtime import configured
from flows.scan import scan_flow

TIMEZONE = "Asia/Shanghai"
NIGHTLY_CRON = "0 2 * * *"
WEEKLY_SCAN_CRON = "0 4 * * 0"


def deployments(catalog_path: str, settings: Settings) -> list:
    return [
        configured(nightly_flow, settings).to_deployment(name="nightly", schedule=Cron(NIGHTLY_CRON, timezone=TIMEZONE),
                                               parameters={"catalog_path": catalog_path},
                                               description="purge, scan, then every release"),
        configured(scan_flow, settings).to_deployment(name="weekly-full-scan",
                                            schedule=Cron(WEEKLY_SCAN_CRON, timezone=TIMEZONE),
                                            parameters={"catalog_path": catalog_path}, description="PII inventory"),
    ]


def serve_all(catalog_path: str, settings: Settings) -> None:  # pragma: no cover - runs until interrupted
    serve(*deployments(catalog_path, settings))
