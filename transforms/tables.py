"""Tables and columns as piiflow reads and scans them, whatever their Arrow types. Pure."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.compute as pc


def count_true(mask: pa.Array | pa.ChunkedArray) -> int:
    """How many flags of a boolean column are true (nulls count as false)."""
    return int(pc.sum(pc.fill_null(mask, False).cast(pa.int64())).as_py() or 0)


def as_text(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as text, one value per row, nulls kept: timestamps in ISO form, nested values (objects, lists,
    maps) as JSON, whole floating-point numbers without a decimal part or exponent (a phone number stored as a float
    reads ``13800138000``, not ``1.3800138e+10``), bytes decoded leniently, everything else cast."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr
    if pa.types.is_timestamp(t):
        return pc.strftime(arr, format="%Y-%m-%dT%H:%M:%S")
    if pa.types.is_nested(t):
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str, sort_keys=True)
                         for v in arr.to_pylist()], pa.string())
    if pa.types.is_floating(t):
        return pa.array([None if v is None else (str(int(v)) if math.isfinite(v) and v.is_integer() else repr(v))
                         for v in arr.to_pylist()], pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return pa.array([None if v is None else v.decode("utf-8", "replace") for v in arr.to_pylist()], pa.string())
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    return arr.cast(pa.string())


def distinct_texts(col: pa.Array | pa.ChunkedArray) -> list[str]:
    """The distinct non-null values of a column, as text (:func:`as_text` of the distinct values only)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    try:
        uniq = pc.unique(arr)
    except pa.ArrowNotImplementedError:  # nested types have no hash kernel: go through their text
        uniq = pc.unique(as_text(arr))
    return [v for v in as_text(uniq).drop_null().to_pylist()]


def concat(tables: list[pa.Table]) -> pa.Table:
    """Tables of one dataset as one: columns missing in some are null there; a column whose type drifted between
    files (an id written as a number in one, as text in another) is read as text in all."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        types: dict[str, set] = {}
        for t in tables:
            for f in t.schema:
                types.setdefault(f.name, set()).add(f.type)
        drifted = {n for n, ts in types.items() if len(ts) > 1}
        fixed = [pa.table({n: (as_text(t.column(n)) if n in drifted else t.column(n)) for n in t.column_names})
                 for t in tables]
        return pa.concat_tables(fixed, promote_options="permissive")


def cast_to(values: pa.Array | pa.ChunkedArray, type_name: str) -> pa.Array:
    """A column as the declared type (``string``, ``int64``, ``float64``, ``bool``, ``date``, ``timestamp``): text
    is parsed, what does not convert becomes null."""
    import pandas as pd

    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    target = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
              "date": pa.date32(), "timestamp": pa.timestamp("ms")}[type_name]
    if arr.type == target:
        return arr
    if type_name == "string":
        return as_text(arr)
    try:
        return arr.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    text = pd.Series(as_text(arr).to_pylist(), dtype="object")
    if type_name in ("int64", "float64"):
        num = pd.to_numeric(text, errors="coerce")
        if type_name == "int64":
            num = num.where(num.isna() | (num == num.round()))
            return pa.array(num.astype("Int64"), pa.int64(), from_pandas=True)
        return pa.array(num, pa.float64(), from_pandas=True)
    if type_name == "bool":
        low = text.str.strip().str.lower()
        return pa.array(low.map({"true": True, "1": True, "false": False, "0": False}), pa.bool_(), from_pandas=True)
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    if type_name == "date":
        return pa.array(parsed.dt.date, pa.date32(), from_pandas=True)
    return pa.array(parsed.dt.tz_localize(None) if parsed.dt.tz is not None else parsed, pa.timestamp("ms"),
                    from_pandas=True)
