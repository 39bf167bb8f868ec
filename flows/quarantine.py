"""Quarantine lists (clause 5.2.1: what cannot be deleted is kept from further use).

``state/quarantine/<dataset>.parquet`` holds the row keys of rows that every read path (scan, releases) must skip:
expired rows of immutable datasets, and rows with a missing event time where the catalog says ``quarantine``.
Row keys are operational identifiers of records (event ids), not personal data.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from configs.catalog import Catalog
from flows.storage import lake_fs


def quarantine_path(catalog: Catalog, dataset: str) -> Path:
    return catalog.state_path / "quarantine" / f"{dataset}.parquet"


def load(catalog: Catalog, dataset: str) -> pa.Array:
    path = quarantine_path(catalog, dataset)
    if not lake_fs(catalog).exists(path):
        return pa.array([], pa.string())
    return lake_fs(catalog).read_parquet(path).column("row_key").combine_chunks()


def add(catalog: Catalog, dataset: str, keys: pa.Array) -> int:
    """Union ``keys`` into the dataset's list (atomically); returns how many were new."""
    current = load(catalog, dataset)
    merged = pc.unique(pa.concat_arrays([current, keys.cast(pa.string())]).drop_null())
    added = len(merged) - len(current)
    if added:
        path = quarantine_path(catalog, dataset)
        lake_fs(catalog).write_parquet(path, pa.table({"row_key": merged}), compression="snappy")
    return added


def exclude(catalog: Catalog, dataset: str, table: pa.Table) -> pa.Table:
    """``table`` without its quarantined rows (unchanged if the dataset has no row key or no list)."""
    ds = catalog.datasets[dataset]
    if ds.row_key is None or ds.row_key not in table.column_names:
        return table
    keys = load(catalog, dataset)
    if not len(keys):
        return table
    return table.filter(pc.invert(pc.fill_null(pc.is_in(table.column(ds.row_key).cast(pa.string()), keys), False)))
