"""What runs remember of the lake's bytes between them, so that a nightly on unchanged data reads almost none.

A release partition is redone when its inputs changed, which its manifest tells by their SHA-256. Hashing every
input file every night reads the whole lake; instead each file's digest is remembered with its signature (local:
size, modification time, inode and change time, which no rewrite in place keeps, as ``touch -r`` can keep the
modification time; object stores: size and ETag) in ``state/digests.json``, and read again only when the signature
differs. The same book remembers values computed from a partition's data that depend only on things with a
signature (what a release's exclusions reach in a partition: its inputs and the exclusions themselves), under a key
made of those.

The book is a cache: deleting it costs one run's reading, never a wrong answer; a book that cannot be read is
started afresh. It holds lake-relative paths, signatures and hashes, never a value from the data. A file not looked
up for :data:`FORGET_AFTER_DAYS` (purged, or of a dataset no release reads) is forgotten when the book is saved,
without asking the storage whether it still exists (on an object store, a request per file).
"""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from typing import Callable

from configs.catalog import Catalog
from flows.storage import lake_fs

BOOK = "digests.json"
#: Entries not looked up for this many days are dropped from the book.
FORGET_AFTER_DAYS = 30
_BOOKS: dict[str, "DigestBook"] = {}
_LOCK = threading.Lock()


class DigestBook:
    def __init__(self, catalog: Catalog):
        self.fs = lake_fs(catalog)
        self.path = catalog.state_path / BOOK
        self._lock = threading.Lock()
        #: lake-relative path -> [signature, SHA-256, the day it was last looked up (ISO)]
        self.files: dict[str, list[str]] = {}
        self._today = date.today().isoformat()
        self.memo: dict[str, str] = {}
        #: What this process hashed (bytes) and what it took from the book instead (files), for benchmarks.
        self.bytes_hashed = 0
        self.files_remembered = 0
        self._dirty = False
        try:
            data = json.loads(self.fs.read_bytes(self.path)) if self.fs.exists(self.path) else {}
            self.files = {k: list(v) for k, v in data.get("files", {}).items()}
            self.memo = dict(data.get("memo", {}))
        except (OSError, ValueError, TypeError, AttributeError):
            self.files, self.memo = {}, {}

    def digest(self, path) -> str:
        """SHA-256 of the file at ``path``: remembered while its signature holds, else read."""
        rel, sig = self.fs.rel(path), self.fs.signature(path)
        with self._lock:
            known = self.files.get(rel)
            if known and known[0] == sig:
                self.files_remembered += 1
                if known[2:] != [self._today]:
                    self.files[rel] = [*known[:2], self._today]
                    self._dirty = True
                return known[1]
        value = self.fs.digest(path)
        with self._lock:
            self.files[rel] = [sig, value, self._today]
            self.bytes_hashed += int(sig.split(":", 1)[0])
            self._dirty = True
        return value

    def remember(self, key: str, compute: Callable[[], str]) -> str:
        """``compute()``, remembered under ``key`` (a hash of everything the value depends on)."""
        with self._lock:
            if key in self.memo:
                return self.memo[key]
        value = compute()
        with self._lock:
            self.memo[key] = value
            self._dirty = True
        return value

    def save(self) -> None:
        """Write the book (atomically) if anything changed; files not looked up for :data:`FORGET_AFTER_DAYS` are
        forgotten (an entry from before days were recorded counts as looked up today)."""
        oldest = (date.today() - timedelta(days=FORGET_AFTER_DAYS)).isoformat()
        with self._lock:
            if not self._dirty:
                return
            files = {k: v for k, v in self.files.items() if (v[2] if len(v) > 2 else self._today) >= oldest}
            memo = dict(list(self.memo.items())[-100_000:])  # the most recent, bounded
            self._dirty = False
        self.fs.write_bytes(self.path, json.dumps({"files": files, "memo": memo}, sort_keys=True).encode())


def book(catalog: Catalog) -> DigestBook:
    """The lake's book, one per lake per process."""
    key = str(catalog.lake.root)
    with _LOCK:
        if key not in _BOOKS:
            _BOOKS[key] = DigestBook(catalog)
        return _BOOKS[key]


def forget() -> None:
    """Drop every book this process holds (they are read again from the lake): for tests."""
    with _LOCK:
        _BOOKS.clear()
