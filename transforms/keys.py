"""Keys: the recipient's pseudonymisation key, the state key for subject hashes, and public fingerprints.

Every key is derived from the master key (``configs.settings.Settings.master_key``) with HMAC-SHA256 under its own
label, so no derived key reveals the master or another derived key.
"""

from __future__ import annotations

import hashlib
import hmac


def derive_key(master: bytes, recipient: str) -> bytes:
    """The recipient's pseudonymisation key: HMAC-SHA256(master, "piiflow/recipient/" + recipient).

    Two recipients get unrelated keys, so their copies cannot be joined on pseudonyms.
    """
    return hmac.digest(master, b"piiflow/recipient/" + recipient.encode("utf-8"), "sha256")


def state_key(master: bytes) -> bytes:
    """The key for subject hashes kept in ``state/`` (audit log, erasure ledger): never a recipient's key."""
    return hmac.digest(master, b"piiflow/state", "sha256")


def audit_key(master: bytes) -> bytes:
    """The key that chains the audit log: without the master key nobody can re-chain an edited log."""
    return hmac.digest(master, b"piiflow/audit", "sha256")


def subject_hash(key: bytes, subject_id: str) -> str:
    """A keyed hash of a subject id for the audit log and the erasure ledger (32 hex characters)."""
    return hmac.digest(key, subject_id.encode("utf-8"), "sha256").hex()[:32]


def key_fingerprint(key: bytes) -> str:
    """A public fingerprint of a key (for manifests): never enough to recover or use the key."""
    return hashlib.sha256(b"piiflow/fingerprint/" + key).hexdigest()[:16]
