"""The erasure ledger: ``state/erasure/ledger.jsonl``, one line per processed request, keyed hashes only.

Every later release leaves the ledger's subjects out (:func:`erased`), and a request already in it does nothing new.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from configs.catalog import Catalog
from transforms.erasure import erased_hashes


def ledger_path(catalog: Catalog) -> Path:
    return catalog.state_path / "erasure" / "ledger.jsonl"


def entries(catalog: Catalog) -> list[dict]:
    path = ledger_path(catalog)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def erased(catalog: Catalog) -> tuple[frozenset[str], frozenset[str]]:
    """(subject hashes, organisation hashes) of every processed request."""
    return erased_hashes(entries(catalog))


def append(catalog: Catalog, entry: dict) -> None:
    """Append one request's line, fsynced."""
    path = ledger_path(catalog)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
