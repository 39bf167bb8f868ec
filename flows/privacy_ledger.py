"""The privacy budget's ledger, ``state/privacy/ledger.jsonl``: one line per (aggregate release, day, definition)
spent, with the epsilon and delta OpenDP accounted for it and the digest of what was published. Nothing about any
person is in it. Read-only here (nothing starts Prefect): :mod:`flows.aggregate` appends to it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from configs.catalog import Catalog
from flows.storage import lake_fs
from transforms.budget import left_in_window


def ledger_path(catalog: Catalog) -> Path:
    return catalog.state_path / "privacy" / "ledger.jsonl"


def entries(catalog: Catalog) -> list[dict]:
    """The budget ledger's lines: one per (release, day, definition) spent."""
    return lake_fs(catalog).records(ledger_path(catalog))


def spent_by_day(catalog: Catalog, recipient: str, ledger: list[dict] | None = None) -> dict[int, float]:
    """Epsilon ``recipient`` has spent, by day (proleptic ordinals)."""
    out: dict[int, float] = {}
    for e in entries(catalog) if ledger is None else ledger:
        if e["recipient"] == recipient:
            d = date.fromisoformat(e["day"]).toordinal()
            out[d] = out.get(d, 0.0) + float(e["epsilon"])
    return out


def budget_status(catalog: Catalog, recipient: str, today: date, ledger: list[dict] | None = None) -> dict:
    """What ``recipient`` has spent in the window ending ``today`` and what is left of the ceiling."""
    b = catalog.privacy_budget
    spent = spent_by_day(catalog, recipient, ledger)
    left = left_in_window(spent, today.toordinal(), b.window.days, b.epsilon_per_window)
    return {"recipient": recipient, "window_days": b.window.days, "epsilon_per_window": b.epsilon_per_window,
            "spent_in_window": round(b.epsilon_per_window - left, 9), "left_in_window": round(left, 9),
            "spent_total": round(sum(spent.values()), 9)}
