"""The lake's master key: the lake remembers its fingerprint, and a run under any other key is refused.

A run under another master key would look like any run: it would republish every release with new pseudonyms,
find none of the objections and erasures recorded as keyed hashes (the objectors' rows back in releases, an erased
subject's late rows kept) and chain the audit log under a key that verifies with neither. So every command checks
the key before it reads anything: against ``state/key.json`` (written by the first run that writes to the lake),
the audit log's last entry, and the anchor outside the lake. A lake's key is never changed as a side effect of a
different environment variable; a deliberate, audited rotation that carries the ledgers and the audit chain over is
not built yet (its ledgers hold keyed hashes of ids that are gone, so it needs the old key kept, wrapped under the
new one).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from configs.catalog import Catalog
from configs.errors import PolicyError, StorageError
from configs.settings import Settings
from flows.storage import LakeFS, lake_fs
from transforms.keys import key_fingerprint


def key_record_path(catalog: Catalog) -> Path:
    return catalog.state_path / "key.json"


def recorded_fingerprint(fs: LakeFS, state_dir: Path) -> str | None:
    """The fingerprint ``state/key.json`` records (None when the lake has none yet)."""
    path = state_dir / "key.json"
    if not fs.exists(path):
        return None
    try:
        return str(json.loads(fs.read_bytes(path))["key_fingerprint"])
    except (ValueError, KeyError, TypeError):
        raise StorageError("state/key.json: not a key record (expected {\"key_fingerprint\": ...}); restore it from "
                           "a backup") from None


def recorded_unkeyed(fs: LakeFS, state_dir: Path) -> int:
    """How many unkeyed entries (from before the chain was keyed) the lake's key record allows: 0 without one."""
    path = state_dir / "key.json"
    if not fs.exists(path):
        return 0
    try:
        return int(json.loads(fs.read_bytes(path)).get("unkeyed_entries", 0))
    except (ValueError, TypeError, AttributeError):
        return 0


def key_record(fingerprint: str, unkeyed: int = 0) -> bytes:
    """``state/key.json``: the master key's fingerprint and how many of the audit log's entries predate its keyed
    chain."""
    return json.dumps({"key_fingerprint": fingerprint, "unkeyed_entries": unkeyed,
                       "recorded_at": datetime.now(timezone.utc).isoformat()}).encode()


def record_fingerprint(fs: LakeFS, state_dir: Path, fingerprint: str) -> None:
    """Write ``state/key.json`` (atomically) unless it already records ``fingerprint``."""
    if recorded_fingerprint(fs, state_dir) != fingerprint:
        fs.write_bytes(state_dir / "key.json", key_record(fingerprint, recorded_unkeyed(fs, state_dir)))


def check_lake_key(catalog: Catalog, settings: Settings) -> str:
    """The master key's fingerprint, once it is known to be this lake's. Raises PolicyError in one line when the
    lake (``state/key.json``), its audit log or the audit anchor outside it says the lake is kept under another key;
    nothing is read but those small files."""
    from flows.audit import AuditLog, anchor_path, read_anchor

    master = settings.master_key(catalog.lake.root)
    mine = key_fingerprint(master)
    fs = lake_fs(catalog)
    try:
        lake = recorded_fingerprint(fs, catalog.state_path)
        where = "the lake (state/key.json)"
        if lake is None:
            anchored = (read_anchor(anchor_path(catalog, settings)) or {}).get("key_fingerprint")
            lake, where = anchored, "the audit anchor outside the lake"
            if lake is None and not AuditLog.of(catalog, settings).last_entry_is_mine():
                lake, where = "another key's", "the audit log's last entry"
    except StorageError as e:
        raise StorageError(f"refusing to run: {e}") from e
    if lake is not None and lake != mine:
        origin = "PIIFLOW_KEY" if settings.key is not None else "PIIFLOW_KEY_FILE"
        raise PolicyError(f"{origin}: the master key (fingerprint {mine}) is not this lake's ({lake}, as "
                          f"{where} records): refused before anything was read; a run under another key would "
                          f"undo objections and erasures. Use the lake's key (the ledgers and the audit chain are keyed "
                          f"by it)")
    return mine
