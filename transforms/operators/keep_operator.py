"""``keep``: the column as it is (its Arrow type too)."""

from __future__ import annotations

import pyarrow as pa

from transforms.operators.base import implements


@implements("keep")
def keep(values: pa.Array) -> pa.Array:
    return values
