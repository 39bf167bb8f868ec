"""``truncate_time``: event times to the start of their hour, day, week or month, in local time."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from transforms.operators.base import implements
from transforms.times import to_timestamp


@implements("truncate_time", needs=("tz",))
def truncate_time(values: pa.Array, *, to: str = "hour", tz: str = "Asia/Shanghai") -> pa.Array:
    """Event times truncated in local time (``tz``) to the start of their hour, day, week (Monday, or the 1st of the
    month where a month begins mid-week) or month, as local wall-clock timestamps without a time zone
    (``timestamp[ms]``): a day's start reads as that day in every reader and session (``ts::DATE = dt``); the data
    dictionary names the time zone."""
    ts = pd.Series(to_timestamp(values, tz).to_pandas())
    if to == "hour":
        out = ts.dt.floor("h", ambiguous="NaT", nonexistent="NaT")
    elif to == "day":
        out = ts.dt.normalize()
    elif to == "week":
        # a week that began in the month before starts on the 1st: weeks then nest in months, so each step of the
        # ladder (hour, day, week, month) only merges what the step before it kept apart
        day = ts.dt.normalize()
        monday = day - pd.to_timedelta(ts.dt.day_of_week, unit="D")
        first = day - pd.to_timedelta(ts.dt.day - 1, unit="D")
        out = monday.where(monday >= first, first)
    elif to == "month":
        out = ts.dt.normalize() - pd.to_timedelta(ts.dt.day - 1, unit="D")
    else:
        raise ValueError(f"truncate_time: expected to = hour, day, week or month, found {to!r}")
    return pa.array(out.dt.tz_localize(None).dt.as_unit("ms"), type=pa.timestamp("ms"), from_pandas=True)
