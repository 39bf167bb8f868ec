"""``drop``: the column is not released."""

from __future__ import annotations

import pyarrow as pa

from transforms.operators.base import implements


@implements("drop")
def drop(values: pa.Array) -> None:  # noqa: ARG001  (every operator takes the column)
    return None
