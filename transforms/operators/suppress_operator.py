"""``suppress``: the top of every generalisation ladder, every value hidden."""

from __future__ import annotations

import pyarrow as pa

from transforms.operators.base import implements


@implements("suppress")
def suppress(values: pa.Array) -> pa.Array:
    """The top of every generalisation ladder: every value hidden, as a null (text). A hidden value is a typed null,
    never a marker such as ``*`` or ``0.0.0.0/0`` that null checks and counts would take for data; a column whose
    released values are numbers or times keeps its type (:func:`hide`)."""
    return pa.nulls(len(values), pa.string())


def hide(values: pa.Array | pa.ChunkedArray, like: pa.DataType) -> pa.Array:
    """:func:`suppress` for a column whose released type is ``like``: nulls of that type (the release keeps one type
    per column)."""
    return pa.nulls(len(values), like)
