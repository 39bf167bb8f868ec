"""``bucket``: numbers into ranges of a width."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.operators.base import as_array, implements


@implements("bucket")
def bucket(values: pa.Array, *, width: float) -> pa.Array:
    """Numbers into buckets ``[lower, lower + width)``, each value replaced by its bucket's lower bound: ``75`` with
    width 60 -> ``60``. A number stays a number (it sorts and sums as one; the width is in the data dictionary):
    int64 when the width is whole, float64 otherwise. Text is read as a number; what is none becomes null."""
    arr = as_array(values)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        numbers = pd.to_numeric(pd.Series(arr.to_pylist(), dtype="object"), errors="coerce")
        arr = pa.array(numbers, pa.float64(), from_pandas=True)
    lo = pc.multiply(pc.floor(pc.divide(pc.cast(arr, pa.float64()), width)), width)
    return pc.cast(lo, pa.int64()) if float(width).is_integer() else lo
