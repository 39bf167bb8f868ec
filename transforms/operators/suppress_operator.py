"""``suppress``: the top of every generalisation ladder, every value hidden."""

from __future__ import annotations

import pyarrow as pa

from transforms.operators.base import implements, map_distinct


@implements("suppress")
def suppress(values: pa.Array) -> pa.Array:
    """The top of every generalisation ladder: every non-null value of a text column replaced by ``*``. (A column
    whose generalised values are numbers or times keeps its type: see :func:`hide`.)"""
    return map_distinct(values, lambda v: "*")


def hide(values: pa.Array | pa.ChunkedArray, like: pa.DataType) -> pa.Array:
    """:func:`suppress` for a column whose released type is ``like``: ``*`` for text, null for any other type (a
    number or a time has no ``*``; the release keeps one type per column)."""
    if pa.types.is_string(like) or pa.types.is_large_string(like):
        return suppress(values)
    return pa.nulls(len(values), like)
