"""``suppress``: the top of every generalisation ladder, every value hidden."""

from __future__ import annotations

import pyarrow as pa

from transforms.operators.base import implements, map_distinct


@implements("suppress")
def suppress(values: pa.Array) -> pa.Array:
    """Every non-null value replaced by ``*`` (the top of every generalisation ladder)."""
    return map_distinct(values, lambda v: "*")
