"""The audit log: append-only JSONL in ``state/audit.jsonl``, each entry carrying the hash of the previous one.

An entry is ``{"seq", "ts", "prev", "event", ..., "hash"}`` where ``hash = sha256(prev + canonical JSON of the
entry without "hash")``. ``state/audit.head`` holds the last sequence number and hash, replaced atomically after
each append, so that removing entries from the end is detected too. Subject ids appear only as keyed hashes and
never a raw value: callers pass counts, paths, content hashes and keyed hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from flows.storage import write_bytes_atomic

GENESIS = "0" * 64


def _digest(prev: str, body: dict) -> str:
    return hashlib.sha256((prev + json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)).encode()).hexdigest()


class AuditLog:
    def __init__(self, state_dir: Path):
        self.path = state_dir / "audit.jsonl"
        self.head = state_dir / "audit.head"

    def _tail(self) -> tuple[int, str]:
        """(last seq, last hash), after dropping a torn final line a killed writer may have left."""
        if not self.path.exists():
            return 0, GENESIS
        with open(self.path, "rb+") as fh:
            data = fh.read()
            if data and not data.endswith(b"\n"):
                cut = data.rfind(b"\n") + 1
                fh.truncate(cut)
                data = data[:cut]
        lines = data.splitlines()
        if not lines:
            return 0, GENESIS
        last = json.loads(lines[-1])
        return last["seq"], last["hash"]

    def append(self, event: str, **fields) -> dict:
        """Append one entry (fsynced) and move the head; returns the entry."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        seq, prev = self._tail()
        body = {"seq": seq + 1, "ts": datetime.now(timezone.utc).isoformat(), "prev": prev, "event": event, **fields}
        entry = {**body, "hash": _digest(prev, body)}
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        write_bytes_atomic(self.head, json.dumps({"seq": entry["seq"], "hash": entry["hash"]}).encode())
        return entry


@dataclass
class Verification:
    ok: bool
    entries: int
    problem: str = ""


def verify(state_dir: Path) -> Verification:
    """Check every entry's hash, the chain of ``prev`` hashes, consecutive sequence numbers, and the head."""
    log = AuditLog(state_dir)
    if not log.path.exists():
        return Verification(True, 0)
    prev, n, before_last = GENESIS, 0, GENESIS
    with open(log.path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.endswith("\n"):
                return Verification(False, n, f"line {lineno}: torn entry (no newline)")
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                return Verification(False, n, f"line {lineno}: not JSON")
            body = {k: v for k, v in entry.items() if k != "hash"}
            if entry.get("seq") != n + 1:
                return Verification(False, n, f"line {lineno}: sequence {entry.get('seq')} where {n + 1} was due "
                                              f"(an entry was removed or reordered)")
            if entry.get("prev") != prev:
                return Verification(False, n, f"line {lineno}: previous-hash link broken (entry removed or reordered)")
            if _digest(prev, body) != entry.get("hash"):
                return Verification(False, n, f"line {lineno}: content does not match its hash (entry edited)")
            before_last, prev, n = prev, entry["hash"], n + 1
    if log.head.exists():
        head = json.loads(log.head.read_text())
        crashed_before_head = head.get("seq") == n - 1 and head.get("hash") == before_last  # appended, head not moved
        if (head.get("seq") != n or head.get("hash") != prev) and not crashed_before_head:
            return Verification(False, n, f"head records entry {head.get('seq')} but the log ends at {n} "
                                          f"(entries removed from the end)")
    return Verification(True, n)
