"""Event times: text or timestamps as aware timestamps in the lake's time zone."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa


def to_timestamp(values: pa.Array | pa.ChunkedArray, tz: str = "Asia/Shanghai") -> pa.Array:
    """Event times as ``timestamp[ms, tz]``: timestamps are converted, ISO-8601 text is parsed (naive text is taken
    as local time in ``tz``); anything unparseable becomes null; finer than milliseconds (a nanosecond stamp) is
    truncated to the millisecond."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_timestamp(arr.type):
        s = pd.Series(arr.to_pandas())
        s = _ms(s.dt.tz_localize(tz) if s.dt.tz is None else s.dt.tz_convert(tz))
    else:
        text = pd.Series(arr.cast(pa.string()).to_pandas(), dtype="object")
        has_tz = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True, na=False)
        s = pd.Series(pd.NaT, index=text.index, dtype=f"datetime64[ms, {tz}]")
        if has_tz.any():
            s[has_tz] = _ms(pd.to_datetime(text[has_tz], utc=True, errors="coerce", format="ISO8601").dt.tz_convert(tz))
        naive = ~has_tz & text.notna()
        if naive.any():
            s[naive] = _ms(pd.to_datetime(text[naive], errors="coerce", format="ISO8601").dt.tz_localize(
                tz, ambiguous="NaT", nonexistent="NaT"))
    return pa.array(s.dt.as_unit("ms"), type=pa.timestamp("ms", tz=tz), from_pandas=True)


def _ms(s: pd.Series) -> pd.Series:
    """Aware datetimes in milliseconds, anything finer truncated (pandas refuses a lossy cast). Truncated in UTC: in
    local time the repeated hour of a daylight-saving change is ambiguous, and pandas refuses to floor it."""
    return s.dt.tz_convert("UTC").dt.floor("ms").dt.tz_convert(s.dt.tz).dt.as_unit("ms")
