"""``mask``: all but the first and last few characters replaced."""

from __future__ import annotations

import pyarrow as pa

from transforms.operators.base import implements, map_distinct


@implements("mask", distinct=True)
def mask(values: pa.Array, *, keep_first: int = 0, keep_last: int = 4, char: str = "*") -> pa.Array:
    """Replace all but the first ``keep_first`` and last ``keep_last`` characters with ``char`` (length kept).

    A value too short to keep anything is masked whole.
    """
    def m(v: str) -> str:
        n = len(v)
        if keep_first + keep_last >= n:
            return char * n
        return v[:keep_first] + char * (n - keep_first - keep_last) + (v[n - keep_last:] if keep_last else "")

    return map_distinct(values, m)
