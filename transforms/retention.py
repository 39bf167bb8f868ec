"""Retention predicates (clause 5.2.1). ``now`` / ``as_of`` is always a parameter, never read from a clock."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc


def cutoff(as_of: datetime, retention: timedelta) -> datetime:
    """Rows whose event time is strictly before this instant are expired."""
    return as_of - retention


def expired_mask(times: pa.Array, cut: datetime) -> pa.Array:
    """True where the event time is before ``cut``; null where the time is missing (never silently expired)."""
    scalar = pa.scalar(cut, type=pa.timestamp("ms", tz=times.type.tz or "UTC"))
    return pc.less(times, scalar)


def partition_status(dt: date | None, cut: datetime, tz: str) -> str:
    """``expired`` if the whole local day ``dt`` lies before ``cut``, ``live`` if it starts at or after it,
    ``mixed`` if the cutoff falls inside it, ``unknown`` for an undated partition (rows must be inspected)."""
    if dt is None:
        return "unknown"
    zone = ZoneInfo(tz)
    start = datetime.combine(dt, time(), zone)
    end = start + timedelta(days=1)
    if end <= cut:
        return "expired"
    if start >= cut:
        return "live"
    return "mixed"
