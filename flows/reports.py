"""Run reports: JSON and Markdown files under ``state/reports/`` and, inside a flow run, Prefect artifacts.
Everything passed here is already masked or aggregated; no raw value reaches a report."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from flows.storage import write_bytes_atomic


def write_report(state_dir: Path, name: str, data: dict, markdown: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = state_dir / "reports"
    path = folder / f"{stamp}-{name}.json"
    write_bytes_atomic(path, json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
    write_bytes_atomic(folder / f"{stamp}-{name}.md", markdown.encode("utf-8"))
    return path


def publish_artifacts(key: str, markdown: str, table: list[dict] | None = None) -> None:
    """Markdown (and a table) as Prefect artifacts when running inside a flow; silently nothing otherwise."""
    try:
        from prefect.artifacts import create_markdown_artifact, create_table_artifact
        from prefect.context import FlowRunContext

        if FlowRunContext.get() is None:
            return
        create_markdown_artifact(markdown=markdown, key=key)
        if table:
            create_table_artifact(table=table, key=f"{key}-table")
    except ImportError:  # pragma: no cover - prefect is a hard dependency
        return
