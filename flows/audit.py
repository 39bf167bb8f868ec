"""The audit log: append-only JSONL in ``state/audit.jsonl``, each entry chained to the previous one under a key.

An entry is ``{"v": 2, "seq", "ts", "prev", "event", ..., "hash"}`` where ``hash`` is HMAC-SHA256, under the audit
key derived from the master key, of ``prev`` and the canonical JSON of the entry without ``hash``: whoever can
write to the lake but does not hold the key can neither edit an entry nor re-chain an edited log nor forge one.

Removing entries from the end, or the whole log, is caught by anchors: ``state/audit.head`` in the lake, and an
anchor outside it (``PIIFLOW_AUDIT_ANCHOR_DIR``, one file per lake) that records the last entry's sequence number
and hash after every append, out of reach of whoever can write to the lake. Each run also reports its head (Prefect
artifact ``audit-head``). Subject ids appear only as keyed hashes and never a raw value: callers pass counts,
lake-relative paths, content hashes and keyed hashes.

Deleting the anchors does not help a forger: a log with entries but no head in the lake, or no anchor outside it, is
an error, not a note, and so is a log whose last run's ``audit-head`` artifact (looked up when a Prefect server is
configured) records more entries or another hash. No run appends to a log that does not verify, so a cut log is
never re-anchored as if it were whole.

Entries written before the chain was keyed (no ``"v"``, plain SHA-256) are verified as they were written and
counted as unkeyed; they may only precede keyed ones, and only as many as the lake's key record
(``state/key.json``, :mod:`flows.lake_key`) counted when it was first written: once a lake's chain is keyed, an
unkeyed entry is a forgery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from configs.catalog import Catalog
from configs.errors import StorageError
from configs.settings import Settings
from flows.storage import LakeFS, lake_fs
from transforms.keys import key_fingerprint

GENESIS = "0" * 64
VERSION = 2


def _canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()


def _mac(key: bytes, prev: str, body: dict) -> str:
    return hmac.new(key, prev.encode() + _canonical(body), "sha256").hexdigest()


def _legacy_digest(prev: str, body: dict) -> str:
    return hashlib.sha256(prev.encode() + _canonical(body)).hexdigest()


def anchor_path(catalog: Catalog, settings: Settings) -> Path:
    """This lake's anchor outside the lake: one file per lake (named by its real path) in the anchor folder."""
    lake_id = hashlib.sha256(lake_fs(catalog).location_id().encode()).hexdigest()[:16]
    return settings.audit_anchor_folder() / f"{lake_id}.json"


#: (log location, seq, hash) of the logs this process verified or wrote last: an append checks the whole log only
#: when its tail is not what this process last saw.
_VERIFIED: dict[str, tuple[int, str]] = {}
#: The key fingerprint this process knows each log's lake records (``state/key.json``).
_RECORDED: dict[str, str] = {}


class AuditLog:
    def __init__(self, fs: LakeFS, state_dir: Path, key: bytes, anchor: Path | None = None,
                 fingerprint: str | None = None, earlier_keys: tuple[bytes, ...] = ()):
        self.fs, self.key, self.anchor, self.fingerprint = fs, key, anchor, fingerprint
        #: The audit keys of the lake's earlier master keys, oldest first (a rotated lake's chain used them before).
        self.earlier_keys = earlier_keys
        self.state_dir = state_dir
        self.path = state_dir / "audit.jsonl"
        self.head = state_dir / "audit.head"

    @classmethod
    def of(cls, catalog: Catalog, settings: Settings) -> "AuditLog":
        """The catalog's audit log, keyed and anchored as ``settings`` say."""
        anchor = anchor_path(catalog, settings)
        if not lake_fs(catalog).object_store and os.path.realpath(anchor).startswith(
                os.path.realpath(catalog.lake.root).rstrip(os.sep) + os.sep):
            raise StorageError("PIIFLOW_AUDIT_ANCHOR_DIR is inside the lake; the anchor must be out of the reach of "
                               "whoever can write to the lake")
        from flows.lake_key import audit_keys

        master = settings.master_key()
        *earlier, current = audit_keys(catalog, master)
        return cls(lake_fs(catalog), catalog.state_path, current, anchor, key_fingerprint(master), tuple(earlier))

    def _where(self) -> str:
        return f"{self.fs.location_id()}:{self.path}"

    def last_entry_is_mine(self) -> bool:
        """Whether the log's last entry was chained under this log's key (True for an empty log and for a last entry
        from before the chain was keyed): one read, no full verification."""
        data = self.fs.complete_lines(self.path) if self.fs.exists(self.path) else b""
        end = data.rstrip(b"\n")
        if not end:
            return True
        try:
            last = json.loads(end[end.rfind(b"\n") + 1:])
            body = {k: v for k, v in last.items() if k != "hash"}
            return last.get("v") != VERSION or hmac.compare_digest(_mac(self.key, last["prev"], body), last["hash"])
        except (ValueError, KeyError, TypeError):
            return False

    def check_writable(self) -> None:
        """Refuse, before a run changes anything, a log that does not verify (see :meth:`append`)."""
        self._check(self.fs.complete_lines(self.path) if self.fs.exists(self.path) else b"")

    def _check(self, data: bytes) -> None:
        """Refuse to append to (and so re-anchor) the log whose complete lines are ``data`` unless it verifies, and
        record the lake's key on the first write under it. Verified only when its tail is not what this process
        last verified or wrote, so consecutive appends of one run cost one read of the log each."""
        where = self._where()
        if _VERIFIED.get(where) != _last(data):
            v = verify(self.fs, self.state_dir, [*self.earlier_keys, self.key], self.anchor, migrating=True,
                       data=data)
            if not v.ok:
                raise StorageError(f"the audit log does not verify ({v.problem}): nothing appended, so nothing "
                                   f"re-anchors it; run `piiflow audit verify` and restore the log from a backup")
            _VERIFIED[where] = _last(data)
        if self.fingerprint is not None and _RECORDED.get(where) != self.fingerprint:
            from flows.lake_key import record_fingerprint

            record_fingerprint(self.fs, self.state_dir, self.fingerprint, _unkeyed(data))
            _RECORDED[where] = self.fingerprint

    def _tail(self) -> tuple[int, str]:
        """(last seq, last hash), after dropping a torn final line a killed writer may have left."""
        return _last(self.fs.complete_lines(self.path))

    def append(self, event: str, **fields) -> dict:
        """Append one entry (fsynced) and move both heads; returns the entry. The entry is made from the log as it
        is when written (one read and one write of the log on an object store), after that log was verified
        (:meth:`_check`): a cut or forged log is never appended to, so no run re-anchors it."""
        made: dict = {}

        def entry_after(data: bytes) -> str:
            self._check(data)
            seq, prev = _last(data)
            body = {"v": VERSION, "seq": seq + 1, "ts": datetime.now(timezone.utc).isoformat(), "prev": prev,
                    "event": event, **fields}
            made["entry"] = {**body, "hash": _mac(self.key, prev, body)}
            return json.dumps(made["entry"], ensure_ascii=False, default=str) + "\n"

        self.fs.append_after(self.path, entry_after)
        entry = made["entry"]
        head = json.dumps({"seq": entry["seq"], "hash": entry["hash"]}).encode()
        self.fs.write_bytes(self.head, head)
        if self.anchor is not None:
            _write_outside(self.anchor, json.dumps({"seq": entry["seq"], "hash": entry["hash"],
                                                    "key_fingerprint": self.fingerprint}).encode())
        _VERIFIED[self._where()] = (entry["seq"], entry["hash"])
        return entry

    def interrupted(self, event: str, request_id: str) -> bool:
        """Whether a run recorded ``<event>.start`` for ``request_id`` and never its ``<event>.end`` (it was killed:
        its work may be partly done)."""
        if not self.fs.exists(self.path):
            return False
        open_ = False
        for line in self.fs.read_bytes(self.path).decode("utf-8").splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if e.get("request_id") == request_id and e.get("event") in (f"{event}.start", f"{event}.end"):
                open_ = e["event"].endswith(".start")
        return open_

    def last(self) -> dict:
        seq, h = self._tail()
        return {"seq": seq, "hash": h}


def _unkeyed(data: bytes) -> int:
    """How many entries from before the chain was keyed the (verified) log ``data`` holds."""
    return sum(1 for line in data.splitlines() if line.strip() and json.loads(line).get("v") != VERSION)


def _last(data: bytes) -> tuple[int, str]:
    """(seq, hash) of the last entry of a log's complete lines ``data``; (0, GENESIS) for an empty log."""
    end = data.rstrip(b"\n")
    if not end:
        return 0, GENESIS
    last = json.loads(end[end.rfind(b"\n") + 1:])
    return last["seq"], last["hash"]


def _write_outside(path: Path, data: bytes) -> None:
    """Atomically replace the anchor file (outside the lake, in a folder the operator chose)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@dataclass
class Verification:
    ok: bool
    entries: int
    problem: str = ""
    #: Entries from before the chain was keyed (plain SHA-256: anyone could have re-chained them).
    unkeyed: int = 0
    #: Whether an anchor outside the lake vouched for the log's end.
    anchored: bool = False
    notes: list[str] = field(default_factory=list)


def verify(fs: LakeFS, state_dir: Path, key: bytes | list[bytes], anchor: Path | None = None, *, migrating: bool = False,
           artifact: dict | None = None, data: bytes | None = None) -> Verification:
    """Check every entry's keyed hash, the chain of ``prev`` hashes, consecutive sequence numbers, the head in the
    lake, the anchor outside it and (when given) the head the last run reported as a Prefect ``artifact``: an edited,
    forged, re-chained, reordered, removed or truncated log fails, and so does a log with entries whose anchors are
    gone. Unkeyed entries are allowed only as many as the lake's key record counted (``migrating``: the first write
    under a lake that has no record yet, which then records them)."""
    from flows.lake_key import has_key_record, recorded_unkeyed

    keys = list(key) if isinstance(key, (list, tuple)) else [key]
    epoch = 0  # which of ``keys`` chains the entries: the next one after each ``key.rotate`` entry
    log = AuditLog(fs, state_dir, keys[-1], anchor)
    outside = read_anchor(anchor)
    allowed_unkeyed = None if migrating else recorded_unkeyed(fs, state_dir)
    if data is None and fs.exists(log.path):
        data = fs.read_bytes(log.path)
    if not data:
        if outside and outside.get("seq"):
            return Verification(False, 0, f"the audit log is missing, but the anchor outside the lake records "
                                          f"{outside['seq']} entries (log removed)")
        if has_key_record(fs, state_dir):
            return Verification(False, 0, "the audit log is missing, but the lake's key record (state/key.json) says "
                                          "runs wrote to it (log removed)")
        return Verification(True, 0, notes=["no audit log yet"])
    prev, n, before_last, unkeyed, keyed_seen = GENESIS, 0, GENESIS, 0, False
    hashes: dict[int, str] = {}
    for lineno, line in enumerate(re.findall(r"[^\n]*\n|[^\n]+$", data.decode("utf-8")), 1):
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
        if entry.get("v") == VERSION:
            keyed_seen = True
            if not hmac.compare_digest(_mac(keys[epoch], prev, body), str(entry.get("hash"))):
                return Verification(False, n, f"line {lineno}: content does not match its keyed hash (entry "
                                              f"edited or forged, or a different master key)")
            if entry.get("event") == "key.rotate":
                if epoch + 1 >= len(keys):
                    return Verification(False, n, f"line {lineno}: a key rotation the lake's keyring does not "
                                                  f"know (state/keyring.json replaced or removed)")
                epoch += 1
        else:
            if keyed_seen:
                return Verification(False, n, f"line {lineno}: an unkeyed entry after keyed ones (forged)")
            if _legacy_digest(prev, body) != entry.get("hash"):
                return Verification(False, n, f"line {lineno}: content does not match its hash (entry edited)")
            unkeyed += 1
            if allowed_unkeyed is not None and unkeyed > allowed_unkeyed:
                return Verification(False, n, f"line {lineno}: an unkeyed entry where the lake's chain is keyed "
                                              f"(forged; the key record allows {allowed_unkeyed})")
        before_last, prev, n = prev, entry["hash"], n + 1
        hashes[n] = prev
    if epoch != len(keys) - 1:
        return Verification(False, n, f"the lake's keyring records {len(keys) - 1} earlier key(s) but the log "
                                      f"{epoch} rotation(s) (entries removed)")
    v = Verification(True, n, unkeyed=unkeyed)
    missing = ""
    if fs.exists(log.head):
        head = json.loads(fs.read_bytes(log.head))
        crashed_before_head = head.get("seq") == n - 1 and head.get("hash") == before_last  # appended, head not moved
        if (head.get("seq") != n or head.get("hash") != prev) and not crashed_before_head:
            return Verification(False, n, f"head records entry {head.get('seq')} but the log ends at {n} "
                                          f"(entries removed from the end)")
    elif n > 1:
        missing = "state/audit.head is missing while the log has entries (the head was removed)"
    elif n:
        v.notes.append("state/audit.head is missing (a run killed after its first entry)")
    for record, what in ((artifact, "the last run's audit-head artifact in Prefect"),
                         (outside, "the anchor outside the lake")):
        problem = _contradicts(record, what, hashes, n)
        if problem:
            return Verification(False, n, problem)
    if outside:
        seq = outside.get("seq", 0)
        v.anchored = True
        if seq < n:
            v.notes.append(f"{n - seq} entries after the anchor's (written where the anchor was not)")
    elif n > 1 and anchor is not None:
        return Verification(False, n, f"no anchor outside the lake for a log of {n} entries (expected {anchor}; "
                                      f"removed, or PIIFLOW_AUDIT_ANCHOR_DIR points elsewhere than the runs' did)")
    elif n:
        v.notes.append("no anchor outside the lake for this log (PIIFLOW_AUDIT_ANCHOR_DIR)")
    if missing:
        return Verification(False, n, missing)
    if unkeyed:
        v.notes.append(f"{unkeyed} unkeyed entries from before the chain was keyed")
    return v


def _contradicts(record: dict | None, what: str, hashes: dict[int, str], n: int) -> str:
    """What is wrong with a log of ``n`` entries (their ``hashes`` by number) that ``what`` (an anchor) records as
    ``record`` ({"seq", "hash"}); "" when nothing is, or there is no record."""
    seq = (record or {}).get("seq", 0)
    if seq > n:
        return f"{what} records entry {seq} but the log ends at {n} (entries removed from the end)"
    if seq and hashes.get(seq) != record.get("hash"):
        return f"entry {seq} differs from the one {what} recorded (the log was rewritten)"
    return ""


def read_anchor(anchor: Path | None) -> dict | None:
    if anchor is None:
        return None
    try:
        return json.loads(anchor.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise StorageError(f"cannot read the audit anchor {anchor} ({type(e).__name__})") from e


def lake_artifact_key(catalog: Catalog) -> str:
    """The Prefect artifact key of this lake's audit head (one per lake: lowercase letters, digits and dashes)."""
    return "audit-head-" + hashlib.sha256(lake_fs(catalog).location_id().encode()).hexdigest()[:16]


def artifact_head(catalog: Catalog) -> tuple[dict | None, str | None]:
    """(the audit head the lake's last run reported to Prefect, a note): looked up only when a Prefect server is
    configured (``PREFECT_API_URL``); a server that does not answer is a note, not a pass."""
    if not os.environ.get("PREFECT_API_URL"):
        return None, None
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
        from prefect.client.schemas.sorting import ArtifactSort

        with get_client(sync_client=True) as client:
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(
                any_=[lake_artifact_key(catalog) + "-table"])), sort=ArtifactSort.CREATED_DESC, limit=1)
    except Exception as e:  # noqa: BLE001 - the server is optional: say it was not checked
        return None, f"the Prefect server did not answer ({type(e).__name__}): run artifacts not checked"
    if not found:
        return None, None
    data = found[0].data
    rows = json.loads(data) if isinstance(data, str) else data
    return (rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else None), None


def verify_catalog(catalog: Catalog, settings: Settings) -> Verification:
    """:func:`verify` for a catalog's lake, with the master key and anchor of ``settings``, and the head its last
    run reported to Prefect when a server is configured."""
    from flows.lake_key import audit_keys

    head, note = artifact_head(catalog)
    v = verify(lake_fs(catalog), catalog.state_path, audit_keys(catalog, settings.master_key()),
               anchor_path(catalog, settings), artifact=head)
    if note:
        v.notes.append(note)
    elif head is not None:
        v.notes.append("checked against the last run's audit-head artifact in Prefect")
    return v
