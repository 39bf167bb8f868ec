"""The lake's master key: the lake remembers its fingerprint, and a run under any other key is refused.

A run under another master key would look like any run: it would republish every release with new pseudonyms,
find none of the objections and erasures recorded as keyed hashes (the objectors' rows back in releases, an erased
subject's late rows kept) and chain the audit log under a key that verifies with neither. So every command checks
the key before it reads anything: against ``state/key.json`` (written by the first run that writes to the lake),
the audit log's last entry, and the anchor outside the lake. A lake's key changes only by ``piiflow key rotate``
(:func:`rotate_key`): audited, the earlier keys kept sealed under the new one so the ledgers keep matching.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from pydantic import SecretStr

from configs.catalog import Catalog
from configs.errors import PolicyError, StorageError
from configs.settings import Settings
from flows.storage import LakeFS, lake_fs
from transforms.keys import key_fingerprint

#: The lake's key record, in its ``state/`` folder.
KEY_RECORD = "key.json"


def _key_record(fs: LakeFS, state_dir: Path) -> dict | None:
    """What ``state/key.json`` records (None when the lake has none yet)."""
    path = state_dir / KEY_RECORD
    if not fs.exists(path):
        return None
    try:
        record = json.loads(fs.read_bytes(path))
        str(record["key_fingerprint"])
        return record
    except (ValueError, KeyError, TypeError):
        raise StorageError("state/key.json: not a key record (expected {\"key_fingerprint\": ...}); restore it from "
                           "a backup") from None


def recorded_fingerprint(fs: LakeFS, state_dir: Path) -> str | None:
    """The fingerprint ``state/key.json`` records (None when the lake has none yet)."""
    record = _key_record(fs, state_dir)
    return None if record is None else str(record["key_fingerprint"])


def recorded_unkeyed(fs: LakeFS, state_dir: Path) -> int:
    """How many unkeyed entries (from before the chain was keyed) the lake's key record allows: 0 without one."""
    return _unkeyed_of(_key_record(fs, state_dir))


def _unkeyed_of(record: dict | None) -> int:
    try:
        return int((record or {}).get("unkeyed_entries", 0))
    except (ValueError, TypeError):
        return 0


def has_key_record(fs: LakeFS, state_dir: Path) -> bool:
    return fs.exists(state_dir / KEY_RECORD)


def record_fingerprint(fs: LakeFS, state_dir: Path, fingerprint: str, unkeyed: int = 0) -> None:
    """Write ``state/key.json`` (atomically) unless it already records ``fingerprint``: a first record counts the
    ``unkeyed`` entries the audit log holds from before its chain was keyed; a changed key keeps the count."""
    record = _key_record(fs, state_dir)
    if record is not None and str(record["key_fingerprint"]) == fingerprint:
        return
    if record is not None:
        unkeyed = _unkeyed_of(record)
    fs.write_bytes(state_dir / KEY_RECORD, json.dumps(
        {"key_fingerprint": fingerprint, "unkeyed_entries": unkeyed,
         "recorded_at": datetime.now(timezone.utc).isoformat()}).encode())


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
        origin = ("PIIFLOW_KEY" if settings.key is not None else "PIIFLOW_KEY_FILE" if settings.key_file is not None
                  else "PIIFLOW_KEY_BLOCK")
        raise PolicyError(f"{origin}: the master key (fingerprint {mine}) is not this lake's ({lake}, as "
                          f"{where} records): refused before anything was read; a run under another key would "
                          f"undo objections and erasures. Use the lake's key (the ledgers and the audit chain are keyed "
                          f"by it)")
    return mine


# --------------------------------------------------------------------------------------------------------------
# Earlier keys, and changing keys
# --------------------------------------------------------------------------------------------------------------
#
# The erasure and consent ledgers hold keyed hashes of subject ids that may be gone from the data; they cannot be
# re-hashed under a new key. So a rotation keeps the earlier master keys in ``state/keyring.json``, each encrypted
# (AES-256-GCM, ``cryptography``) under a key derived from the current master: only the current key's holder can
# read them, and ledgers match a subject under every key the lake has had. The audit chain records the rotation as
# its last entry under the old key; the entries after it are chained under the new one.


def keyring_path(catalog: Catalog) -> Path:
    return catalog.state_path / "keyring.json"


def _kek(master: bytes) -> bytes:
    import hmac

    return hmac.digest(master, b"piiflow/keyring", "sha256")


def earlier_masters(catalog: Catalog, master: bytes) -> list[bytes]:
    """The lake's earlier master keys, oldest first, decrypted with ``master`` (the current one); [] when the lake
    never changed keys. A keyring the current key cannot decrypt raises StorageError."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    fs = lake_fs(catalog)
    path = keyring_path(catalog)
    if not fs.exists(path):
        return []
    try:
        ring = json.loads(fs.read_bytes(path))
        aead = AESGCM(_kek(master))
        return [aead.decrypt(bytes.fromhex(e["nonce"]), bytes.fromhex(e["sealed"]), e["fingerprint"].encode())
                for e in ring["earlier"]]
    except (ValueError, KeyError, TypeError, InvalidTag):
        raise StorageError("state/keyring.json: cannot be read with this lake's key (edited, or not this lake's); "
                           "restore it from a backup") from None


def _seal(masters: list[bytes], new_master: bytes) -> bytes:
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead, out = AESGCM(_kek(new_master)), []
    for m in masters:
        nonce, fp = os.urandom(12), key_fingerprint(m)
        out.append({"fingerprint": fp, "nonce": nonce.hex(), "sealed": aead.encrypt(nonce, m, fp.encode()).hex()})
    return json.dumps({"earlier": out}, indent=1).encode()


def state_keys(catalog: Catalog, master: bytes) -> tuple[bytes, tuple[bytes, ...]]:
    """(the state key of ``master``, the current master key, and those of the lake's earlier masters): ledgers
    recorded under any of them are matched."""
    from transforms.keys import state_key

    return state_key(master), tuple(state_key(m) for m in earlier_masters(catalog, master))


def audit_keys(catalog: Catalog, master: bytes) -> list[bytes]:
    """The audit chain's keys in the order the chain used them: the earlier masters' then ``master``'s (the current
    one)."""
    from transforms.keys import audit_key

    return [audit_key(m) for m in earlier_masters(catalog, master)] + [audit_key(master)]


def rotate_key(catalog: Catalog, settings: Settings, new_master: bytes, execute: bool) -> dict:
    """Plan (default) or carry out a change of the lake's master key: the audit log records it under the old key,
    the earlier keys are sealed under the new one (``state/keyring.json``) so the ledgers keep matching, and the
    lake's key record names the new key. Releases are rebuilt under the new key on their next run (reason ``key``:
    new pseudonyms, so recipients' joins with earlier copies end). Refused while an erasure or sunset is pending (a
    killed run must be completed under the key it started with)."""
    from flows.audit import AuditLog, verify_catalog

    old_master = settings.master_key(catalog.lake.root)
    old_fp, new_fp = check_lake_key(catalog, settings), key_fingerprint(new_master)
    if new_fp == old_fp:
        raise PolicyError("key rotate: the new key is the lake's key already")
    fs = lake_fs(catalog)
    pending = [p for sub in ("erasure/pending", "sunset/pending") for p in fs.walk_files(catalog.state_path / sub)]
    if pending:
        raise PolicyError(f"key rotate: {len(pending)} interrupted request(s) pending in state/ (erasure or sunset): "
                          f"run them again under the current key first")
    v = verify_catalog(catalog, settings)
    if not v.ok:
        raise PolicyError(f"key rotate: the audit log does not verify ({v.problem}); nothing changed")
    earlier = earlier_masters(catalog, old_master)
    if new_fp in {key_fingerprint(m) for m in earlier}:
        raise PolicyError("key rotate: the new key is one this lake had before; choose a new one")
    plan = {"from": old_fp, "to": new_fp, "earlier_keys": len(earlier), "audit_entries": v.entries,
            "executed": False, "releases_rebuilt_on_next_run": sorted(catalog.releases)}
    if not execute:
        return plan
    with fs.exclusive_lock(catalog.state_path, "key-rotate"):
        AuditLog.of(catalog, settings).append("key.rotate", key_from=old_fp, key_to=new_fp,
                                              earlier_keys=len(earlier) + 1)
        fs.write_bytes(keyring_path(catalog), _seal(earlier + [old_master], new_master))
        record_fingerprint(fs, catalog.state_path, new_fp)
        new_settings = settings.model_copy(update={"key": SecretStr(new_master.decode("utf-8")), "key_file": None})
        AuditLog.of(catalog, new_settings).append("key.rotated", key=new_fp)
    return {**plan, "executed": True}
