"""What a lake's releases hold, read from each release's index (``releases/<release>/_meta/index.json``): for the
``piiflow releases`` command. Read-only; nothing here starts Prefect."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from configs.catalog import Catalog
from configs.errors import StorageError
from flows.privacy_ledger import budget_status, entries
from flows.storage import lake_fs


def list_releases(catalog: Catalog) -> list[dict]:
    """Per declared release: its recipient and purpose, when it was last published, and per dataset its coverage
    (first and last day, days, rows, partial days) and the first day that expires. A release never published
    says so."""
    fs = lake_fs(catalog)
    out = []
    for name, rel in catalog.releases.items():
        path = catalog.release_path(name) / "_meta" / "index.json"
        entry = {"release": name, "recipient": rel.recipient, "purpose": rel.purpose, "published": False,
                 "path": fs.rel(catalog.release_path(name))}
        try:
            index = json.loads(fs.read_bytes(path)) if fs.exists(path) else None
        except (OSError, ValueError, StorageError):
            index = None
        if index is not None:
            entry.update(published=True, generated_at=index["generated_at"], datasets={
                ds: {**d["coverage"], "first_expiry": min((p["expires"] for p in d["partitions"] if p["expires"]),
                                                          default=None),
                     "hidden_in_some_partitions": d["hidden_in_some_partitions"]}
                for ds, d in index["datasets"].items()})
        out.append(entry)
    if catalog.aggregates:
        ledger, today = entries(catalog), datetime.now(ZoneInfo(catalog.lake.timezone)).date()
    for name, agg in catalog.aggregates.items():
        path = catalog.release_path(name) / "_meta" / "index.json"
        entry = {"release": name, "kind": "aggregate", "recipient": agg.recipient, "purpose": agg.purpose,
                 "published": False, "path": fs.rel(catalog.release_path(name)),
                 "budget": budget_status(catalog, agg.recipient, today, ledger)}
        try:
            index = json.loads(fs.read_bytes(path)) if fs.exists(path) else None
        except (OSError, ValueError, StorageError):
            index = None
        if index is not None and index.get("days"):
            days = index["days"]
            entry.update(published=True, generated_at=index["as_of"], datasets={agg.dataset: {
                "partitions": len(days), "first": days[0]["dt"], "last": days[-1]["dt"],
                "cells": sum(d["cells"] for d in days), "partial": 0, "first_expiry": None}})
        out.append(entry)
    return out
