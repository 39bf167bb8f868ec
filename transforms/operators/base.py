"""The operators' registry and the helpers they share.

An operator's implementation is a pure, vectorised column function ``fn(values: pa.Array, *, <its parameters>,
<the context it needs>) -> pa.Array`` whose keyword-only parameters match its declaration in
:mod:`configs.operators`; nulls pass through. :func:`implements` registers it under the declared name, with what
the engine needs to know about it; :func:`apply_operator` runs a declared operator on a column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from configs.operators import OPERATORS, OperatorSpec
from configs.registry import Registry

#: What an implementation may ask for besides its parameters: the recipient's pseudonymisation ``key``, the lake's
#: time zone ``tz``, the detection engine ``analyzer``.
CONTEXT = ("key", "tz", "analyzer")


@dataclass(frozen=True)
class Implementation:
    name: str
    fn: Callable[..., pa.Array | None]
    #: Works once per distinct value: its column is best read dictionary-encoded (from Parquet that is free).
    distinct: bool = False
    #: Context it takes (see :data:`CONTEXT`).
    needs: tuple[str, ...] = ()
    #: Entity types its output may still look like by design (a /8 network still parses as an address): the
    #: gate's re-scan does not count them as leaks in its column.
    leaves: frozenset[str] = frozenset()


#: Every implemented operator by name. Filled by :func:`implements`.
IMPLEMENTATIONS: Registry[Implementation] = Registry("operator implementation")


def implements(name: str, *, distinct: bool = False, needs: tuple[str, ...] = (), leaves: tuple[str, ...] = ()):
    """Decorator registering ``fn`` as the implementation of the declared operator ``name``. An undeclared name, a
    name implemented twice, or a context outside :data:`CONTEXT` raises at import time."""
    unknown = set(needs) - set(CONTEXT)
    if unknown:
        raise ValueError(f"operator {name!r} needs unknown context {sorted(unknown)}; expected some of {CONTEXT}")

    def register(fn: Callable[..., pa.Array | None]) -> Callable[..., pa.Array | None]:
        if name not in OPERATORS:
            raise ValueError(f"operator {name!r} ({fn.__module__}) has no declaration in configs/operators.py")
        IMPLEMENTATIONS.add(name, Implementation(name, fn, distinct, tuple(needs), frozenset(leaves)), fn.__module__)
        return fn

    return register


def apply_operator(spec: OperatorSpec, values: pa.Array | pa.ChunkedArray, *, key: bytes | None = None,
                   tz: str = "Asia/Shanghai", analyzer: Any = None) -> pa.Array | None:
    """One declared operator on one column; None when the operator drops the column."""
    impl = IMPLEMENTATIONS[spec.op]
    context = {"key": key, "tz": tz, "analyzer": analyzer}
    return impl.fn(values, **spec.params(), **{n: context[n] for n in impl.needs})


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, uniques) of an integer array by hashing (pandas' factorize), not sorting: codes number the distinct
    values in order of first appearance, so ``uniques[codes] == values``."""
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64, copy=False), np.asarray(uniques)


def first_index(codes: np.ndarray, n_codes: int | None = None) -> np.ndarray:
    """For each code ``0..n_codes-1``, the position of its first occurrence in ``codes`` (``len(codes)`` if it
    does not occur)."""
    n_codes = int(codes.max(initial=-1)) + 1 if n_codes is None else n_codes
    first = np.full(n_codes, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes), dtype=np.int64))
    return first


def map_distinct(values: pa.Array | pa.ChunkedArray, fn: Callable[[str], str | None],
                 out_type: pa.DataType = pa.string()) -> pa.Array:
    """Apply ``fn`` once per distinct non-null value (as text) and spread the results back; nulls stay null."""
    arr = as_array(values)
    if pa.types.is_dictionary(arr.type):  # read dictionary-encoded: the distinct values are already at hand
        dictionary, indices = arr.dictionary, arr.indices
        if not pa.types.is_string(dictionary.type) and not pa.types.is_large_string(dictionary.type):
            dictionary = dictionary.cast(pa.string())
    else:
        if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.string())
        enc = pc.dictionary_encode(arr)
        dictionary, indices = enc.dictionary, enc.indices
    mapped = pa.array([None if v is None else fn(v) for v in dictionary.to_pylist()], out_type)
    return mapped.take(indices)
