"""``truncate_time``: event times to the start of their hour, day, week or month, in local time."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from transforms.operators.base import implements
from transforms.times import to_timestamp


@implements("truncate_time", needs=("tz",))
def truncate_time(values: pa.Array, *, to: str = "hour", tz: str = "Asia/Shanghai") -> pa.Array:
    """Event times truncated in local time (``tz``) to the start of their hour, day, week (Monday, or the 1st of the
    month where a month begins mid-week) or month, as local wall-clock timestamps without a time zone
    (``timestamp[ms]``): a day's start reads as that day in every reader and session (``ts::DATE = dt``); the data
    dictionary names the time zone. Arrow's temporal kernels on the wall-clock times (in a zone with daylight
    saving, the repeated hour of the autumn change is one hour)."""
    if to not in ("hour", "day", "week", "month"):
        raise ValueError(f"truncate_time: expected to = hour, day, week or month, found {to!r}")
    local = pc.local_timestamp(to_timestamp(values, tz))
    if to == "week":
        # a week that began in the month before starts on the 1st: weeks then nest in months, so each step of the
        # ladder (hour, day, week, month) only merges what the step before it kept apart
        out = pc.max_element_wise(pc.floor_temporal(local, unit="week", week_starts_monday=True),
                                  pc.floor_temporal(local, unit="month"))
    else:
        out = pc.floor_temporal(local, unit=to)
    return out.cast(pa.timestamp("ms"))
