"""Retention predicates (clause 5.2.1). ``now`` / ``as_of`` is always a parameter, never read from a clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from configs.errors import PolicyError


def resolve_as_of(as_of: date | datetime | None, tz: str, now: datetime) -> datetime:
    """``as_of`` as an aware instant in ``tz`` (a date means its midnight; None means ``now``). Refuses a moment
    after ``now``: retention is only enforced up to the present."""
    zone = ZoneInfo(tz)
    if as_of is None:
        return now
    moment = as_of if isinstance(as_of, datetime) else datetime.combine(as_of, time(), zone)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if moment > now:
        raise PolicyError(f"--as-of {as_of} is in the future; retention is only enforced up to now")
    return moment


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


@dataclass
class RowDecision:
    """What retention does to each row of a file. ``delete`` and ``quarantine`` are boolean masks without nulls."""

    delete: pa.Array
    quarantine: pa.Array
    expired: int
    held: int
    missing_time: int

    @property
    def deleted(self) -> int:
        return int(pc.sum(self.delete.cast(pa.int64())).as_py() or 0)

    @property
    def quarantined(self) -> int:
        return int(pc.sum(self.quarantine.cast(pa.int64())).as_py() or 0)


def decide_rows(times: pa.Array, subjects: pa.Array | None, cut: datetime, *, held_subjects: frozenset[str] = frozenset(),
                immutable: bool = False, on_missing_time: str = "keep") -> RowDecision:
    """Rows to delete (expired, not held) or, for an immutable dataset, to quarantine instead; rows whose time is
    missing are kept or quarantined as the catalog says, never deleted."""
    expired = pc.fill_null(expired_mask(times, cut), False)
    n = len(times)
    if subjects is not None and held_subjects:
        held = pc.and_(expired, pc.fill_null(pc.is_in(subjects, pa.array(sorted(held_subjects), pa.string())), False))
    else:
        held = pa.array([False] * n, pa.bool_())
    missing = pc.is_null(times)
    go = pc.and_(expired, pc.invert(held))
    none = pa.array([False] * n, pa.bool_())
    delete, quarantine = (none, go) if immutable else (go, none)
    if on_missing_time == "quarantine":
        quarantine = pc.or_(quarantine, missing)
    count = lambda m: int(pc.sum(m.cast(pa.int64())).as_py() or 0)  # noqa: E731
    return RowDecision(delete, quarantine, count(expired), count(held), count(missing))
