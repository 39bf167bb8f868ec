"""``bucket``: numbers into ranges of a width."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.operators.base import as_array, implements, map_distinct


@implements("bucket")
def bucket(values: pa.Array, *, width: float) -> pa.Array:
    """Numbers into ranges of ``width`` as text: ``75`` with width 60 -> ``60-120``. Non-numbers become null."""
    arr = as_array(values)
    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        numbers = pd.to_numeric(pd.Series(arr.to_pylist(), dtype="object"), errors="coerce")
        arr = pa.array(numbers, pa.float64(), from_pandas=True)
    lo = pc.multiply(pc.floor(pc.divide(pc.cast(arr, pa.float64()), width)), width)
    fmt = (lambda x: str(int(x))) if float(width).is_integer() else (lambda x: f"{x:g}")
    return map_distinct(lo, lambda v: f"{fmt(float(v))}-{fmt(float(v) + width)}")
