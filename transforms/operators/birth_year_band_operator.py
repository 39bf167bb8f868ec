"""``birth_year_band``: a resident ID to its holder's band of birth years."""

from __future__ import annotations

import pyarrow as pa

from transforms.checksums import resident_id_ok
from transforms.operators.base import implements, map_distinct


@implements("birth_year_band", distinct=True)
def birth_year_band(values: pa.Array, *, width: int = 10) -> pa.Array:
    """A valid mainland resident ID -> its holder's band of birth years (``1990-1999`` for width 10); anything
    else (bad check digit, not an ID) becomes null. The ID itself never reaches the output."""

    def g(v: str) -> str | None:
        v = v.strip()
        if not resident_id_ok(v):
            return None
        year = int(v[6:10]) if len(v) == 18 else 1900 + int(v[6:8])
        lo = year - year % width
        return f"{lo}-{lo + width - 1}"

    return map_distinct(values, g)
