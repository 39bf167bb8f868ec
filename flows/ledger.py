"""The erasure ledger: ``state/erasure/ledger.jsonl``, one line per processed request, keyed hashes only.

Every later release leaves the ledger's subjects out (:func:`erased`), and a request already in it does nothing new.
"""

from __future__ import annotations

import json
from pathlib import Path

from configs.catalog import Catalog
from flows.storage import lake_fs
from transforms.erasure import Erased, ledger_erased


def ledger_path(catalog: Catalog) -> Path:
    return catalog.state_path / "erasure" / "ledger.jsonl"


def entries(catalog: Catalog) -> list[dict]:
    return lake_fs(catalog).records(ledger_path(catalog))


def erased(catalog: Catalog, state_key: bytes, earlier_keys: tuple[bytes, ...] = ()) -> Erased:
    """Everything every processed request erased, as keyed hashes under ``state_key`` (or one of the
    ``earlier_keys`` of a rotated lake)."""
    return ledger_erased(entries(catalog), state_key, earlier_keys)


def append(catalog: Catalog, entry: dict) -> None:
    """Append one request's line, fsynced."""
    lake_fs(catalog).append_line(ledger_path(catalog), json.dumps(entry) + "\n")
