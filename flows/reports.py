"""Run reports: JSON and Markdown files under ``state/reports/`` and, inside a flow run, Prefect artifacts.
Everything passed here is already masked or aggregated; no raw value reaches a report."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from configs.catalog import Catalog
from flows.storage import lake_fs


def write_report(catalog: Catalog, name: str, data: dict | None, text: str | bytes, suffix: str = ".md") -> str:
    """``state/reports/<time>-<name>.json`` (``data``, when given) and ``<time>-<name><suffix>`` (``text``); returns
    where the JSON file is (a path, or an ``s3://`` URI), or the text file when there is no data."""
    fs = lake_fs(catalog)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = catalog.state_path / "reports"
    fs.write_bytes(folder / f"{stamp}-{name}{suffix}", text if isinstance(text, bytes) else text.encode("utf-8"))
    if data is None:
        return fs.uri(folder / f"{stamp}-{name}{suffix}")
    path = folder / f"{stamp}-{name}.json"
    fs.write_bytes(path, json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
    return fs.uri(path)


def publish_artifacts(key: str, markdown: str, table: list[dict] | None = None, link: str | None = None) -> None:
    """Markdown (and a table, and a link to a report file) as Prefect artifacts when running inside a flow; silently
    nothing otherwise."""
    try:
        from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
        from prefect.context import FlowRunContext

        if FlowRunContext.get() is None:
            return
        create_markdown_artifact(markdown=markdown + (f"\n\nReport with charts: `{link}`\n" if link else ""), key=key)
        if table:
            create_table_artifact(table=table, key=f"{key}-table")
        if link:
            create_link_artifact(link=link if "://" in link else Path(link).as_uri(), link_text="the release's report (HTML)",
                                 key=f"{key}-report")
    except ImportError:  # pragma: no cover - prefect is a hard dependency
        return


def report_audit_head(catalog: Catalog, settings, wrote: bool) -> None:
    """After a run that wrote to the audit log: its head (entry number and keyed hash) as the run's Prefect artifact
    ``audit-head``, one more anchor that whoever can write to the lake cannot rewrite."""
    if not wrote:
        return
    from flows.audit import AuditLog, lake_artifact_key

    head = AuditLog.of(catalog, settings).last()
    publish_artifacts("audit-head", f"# Audit log head\n\nEntry {head['seq']}, hash `{head['hash']}`.\n",
                      [head])
    publish_artifacts(lake_artifact_key(catalog), f"# Audit log head of this lake\n\nEntry {head['seq']}.\n",
                      [head])
