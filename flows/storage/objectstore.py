"""The lake on an object store (S3 and every store that speaks its API: Alibaba OSS, Tencent COS, MinIO).

:class:`ObjectLakeFS` keeps :class:`~flows.storage.fs.LakeFS`'s contract where there is no ``rename``, no ``fsync``
and no link:

- **Inside the lake.** Keys are checked lexically (:meth:`ObjectLakeFS.safe`): a key with an empty, ``.`` or ``..``
  part is refused like a symbolic link on a disk, and a listing reports it as a :class:`~flows.storage.fs.Problem`
  and never touches it.
- **Atomic writes.** An object appears whole when its upload completes, and a PUT over an existing key replaces it
  whole: a file is written to a private local temporary file first (the worker's own disk, never shared) and then
  uploaded in one request, so a killed run leaves no partial object in the lake.
- **Folders.** A release partition (one data object and its manifest) is published by server-side copies, data first
  and manifest last: the manifest is the partition's commit. A publish marks its staging folder before its first
  copy, so :func:`flows.storage.releases.recover_release` rolls a killed publish forward; unmarked staging is
  discarded.
- **The lake's lock** is an object created only if absent (``If-None-Match: *``) and removed only by its owner
  (``If-Match``); a lock left by a killed run on this host is recognised by its dead process and taken over.
- **Append** (the audit chain, ledgers) is read, extend, and write back only if unchanged since the read
  (``If-Match`` on the ETag), so two writers can never interleave.

Credentials come from the standard environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``), the endpoint and signing region from the catalog's ``lake.storage`` or ``AWS_ENDPOINT_URL``,
``AWS_REGION``; ``AWS_ALLOW_HTTP=true`` admits a plain-HTTP endpoint. None of them is ever logged or reported.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from configs.errors import LakeBusy, StorageError
from configs.locations import ObjectPath
from flows.storage.fs import Entry, LakeFS, Problem, file_digest


@dataclass(frozen=True)
class S3Config:
    """How to reach the store. Secrets are not fields: boto3 and delta-rs read them from the environment."""

    endpoint: str | None
    region: str
    allow_http: bool

    @classmethod
    def from_env(cls, storage=None) -> "S3Config":
        env = os.environ
        endpoint = (getattr(storage, "endpoint", None) or env.get("AWS_ENDPOINT_URL_S3")
                    or env.get("AWS_ENDPOINT_URL") or None)
        region = (getattr(storage, "signing_region", None) or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
                  or "us-east-1")
        allow = getattr(storage, "allow_http", None)
        if allow is None:
            allow = env.get("AWS_ALLOW_HTTP", "").strip().lower() in ("1", "true", "yes")
        if endpoint and endpoint.lower().startswith("http://") and not allow:
            raise StorageError("the object store's endpoint is plain HTTP: set AWS_ALLOW_HTTP=true (or "
                               "lake.storage.allow_http) to allow it, e.g. for a local test server")
        return cls(endpoint.rstrip("/") if endpoint else None, region, bool(allow))

    def delta_options(self) -> dict[str, str]:
        """delta-rs storage options: its own safe commits on S3 (conditional put on the ETag), path-style requests,
        credentials from the environment (held in memory, never written)."""
        opts = {"AWS_REGION": self.region, "conditional_put": "etag", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false"}
        if self.endpoint:
            opts["AWS_ENDPOINT_URL"] = self.endpoint
        if self.allow_http:
            opts["AWS_ALLOW_HTTP"] = "true"
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            if os.environ.get(name):
                opts[name] = os.environ[name]
        return opts


_CLIENTS: dict[tuple, object] = {}
_CLIENTS_LOCK = threading.Lock()
#: Requests made by this process, by operation, and the bytes its object downloads received (what ``bench/``
#: reports: where an object store's time goes).
REQUESTS: dict[str, int] = {}
DOWNLOADED = {"bytes": 0}


#: SHA-256 digests this process has computed, by object: (endpoint, bucket, key) -> (ETag, digest) of what it last
#: read or wrote there. A digest asked for again costs a HEAD, not a second download (a purge digests each file it
#: has just read, and again after rewriting it): the entry counts only while the object's ETag is the one recorded.
_DIGESTS: "collections.OrderedDict[tuple, tuple[str, str]]" = collections.OrderedDict()
_DIGESTS_LOCK = threading.Lock()
_DIGESTS_MAX = 4096
#: An upload this size or smaller is one PUT, whose answer carries the ETag; a larger one goes in parts (boto3's
#: transfer manager) and its ETag is read back with a HEAD.
_SINGLE_PUT = 8 * 1024 * 1024


def _count(event_name: str, **_) -> None:
    op = event_name.rsplit(".", 1)[-1]
    REQUESTS[op] = REQUESTS.get(op, 0) + 1


def _downloaded(parsed: dict, **_) -> None:
    DOWNLOADED["bytes"] += int(parsed.get("ContentLength") or 0)


def client_for(config: S3Config):
    """One boto3 S3 client per configuration and process (clients are thread-safe; a forked worker makes its own)."""
    key = (config, os.getpid(), os.environ.get("AWS_ACCESS_KEY_ID"))
    with _CLIENTS_LOCK:
        c = _CLIENTS.get(key)
        if c is None:
            import boto3
            from botocore.config import Config

            c = boto3.session.Session().client(
                "s3", endpoint_url=config.endpoint, region_name=config.region,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"},
                              max_pool_connections=32))
            c.meta.events.register("before-call.s3", _count)
            c.meta.events.register("after-call.s3.GetObject", _downloaded)
            _CLIENTS[key] = c
    return c


def _code(e: Exception) -> str:
    return str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))


def _status(e: Exception) -> int:
    return int(getattr(e, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _missing(e: Exception) -> bool:
    return _code(e) in ("NoSuchKey", "404", "NotFound") or _status(e) == 404


def _precondition(e: Exception) -> bool:
    return _code(e) in ("PreconditionFailed", "ConditionalRequestConflict") or _status(e) in (409, 412)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ObjectLakeFS(LakeFS):
    """One lake under ``s3://bucket/prefix``; see the module docstring."""

    object_store = True

    def __init__(self, root: ObjectPath, config: S3Config, region: str | None = None,
                 allowed_regions: tuple[str, ...] = ()):
        self.root = root
        self.config = config
        self.region, self.allowed_regions = region, allowed_regions
        self._client = None

    # -- where ---------------------------------------------------------------------------------------------------

    @property
    def client(self):
        if self._client is None:
            self._client = client_for(self.config)
        return self._client

    def _bk(self, path) -> tuple[str, str]:
        p = ObjectPath(str(path))
        return p.bucket, p.key

    def path(self, text: str) -> ObjectPath:
        return ObjectPath(text)

    def uri(self, path) -> str:
        return ObjectPath(str(path)).uri

    def location_id(self) -> str:
        return self.root.uri

    def storage_options(self) -> dict[str, str]:
        return self.config.delta_options()

    def safe(self, path, zone=None):
        path = ObjectPath(str(path))
        zone = ObjectPath(str(zone)) if zone is not None else self.root
        try:
            below = path.relative_to(zone)
            zone.relative_to(self.root)
        except ValueError:
            raise StorageError(f"refusing {self.rel(path)}: outside {self.rel(zone)}") from None
        for part in below.parts:
            if part in ("..", ".", ""):
                raise StorageError(f"refusing {self.rel(path)}: '{part}' in a key")
        if path.bucket != self.root.bucket:
            raise StorageError(f"refusing {self.rel(path)}: outside the lake's bucket")
        return path

    def check_root(self, *, must_exist: bool = True) -> None:
        """The bucket must exist and be reachable, and lie in an allowed region (clause 5.1), and (unless
        ``must_exist`` is False, for a lake about to be written) hold something under the root's prefix, as a local
        root must be an existing folder: StorageError before anything is written."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

        try:
            loc = self.client.get_bucket_location(Bucket=self.root.bucket).get("LocationConstraint") or "us-east-1"
        except ClientError as e:
            what = "does not exist" if _code(e) in ("NoSuchBucket", "404") else f"cannot be reached ({_code(e)})"
            raise StorageError(f"lake root {self.root.uri}: the bucket {what}; check lake.root and the "
                               f"credentials in the environment") from None
        except (NoCredentialsError, PartialCredentialsError):
            raise StorageError(f"lake root {self.root.uri}: no credentials for the object store; set "
                               f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment") from None
        except BotoCoreError as e:
            raise StorageError(f"lake root {self.root.uri}: the object store cannot be reached "
                               f"({type(e).__name__}); check AWS_ENDPOINT_URL or lake.storage.endpoint") from None
        if self.region is not None:
            from configs.catalog import region_allowed

            if not region_allowed(loc, self.allowed_regions) or loc != self.region:
                raise StorageError(f"lake root {self.root.uri}: the bucket is in region {loc!r}, the catalog says "
                                   f"{self.region!r} (allowed regions {list(self.allowed_regions)}); refusing to "
                                   f"read or write there")
        if must_exist:
            page = self.client.list_objects_v2(Bucket=self.root.bucket, Prefix=self.root.key + "/" if
                                               self.root.key else "", MaxKeys=1)
            if not page.get("KeyCount"):
                raise StorageError(f"lake root {self.root.uri} does not exist (nothing under that prefix); check "
                                   f"lake.root in the catalog")

    # -- listing -------------------------------------------------------------------------------------------------

    def _list(self, folder, recursive: bool, problems: list[Problem] | None):
        """(name below ``folder``, whether it is a folder) for what is under ``folder``; a key with an empty, ``.``
        or ``..`` part is left out and reported in ``problems`` (as a link is on a disk)."""
        bucket, key = self._bk(folder)
        prefix = key + "/" if key else ""
        kwargs = {"Bucket": bucket, "Prefix": prefix}
        if not recursive:
            kwargs["Delimiter"] = "/"
        for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
            found = [(cp["Prefix"][len(prefix):].rstrip("/"), True) for cp in page.get("CommonPrefixes") or []]
            found += [(obj["Key"][len(prefix):], False) for obj in page.get("Contents") or []
                      if obj["Key"] != prefix and not obj["Key"].endswith("/")]  # folder markers hold no data
            for rest, is_dir in found:
                if any(p in ("", ".", "..") for p in rest.split("/")):
                    if problems is not None:
                        problems.append(Problem(f"{self.rel(folder)}/{rest}", "a key with an empty, '.' or '..' "
                                                                              "part: refused, not followed"))
                    continue
                yield rest, is_dir

    def scan_dir(self, folder, problems: list[Problem] | None = None) -> list[Entry]:
        folder = self.safe(folder)
        return sorted((Entry(name, folder / name, is_dir, not is_dir)
                       for name, is_dir in self._list(folder, False, problems)), key=lambda e: e.name)

    def walk_files(self, folder, problems: list[Problem] | None = None) -> list:
        folder = self.safe(folder)
        return sorted(folder / rest for rest, _ in self._list(folder, True, problems))

    def _head(self, path) -> dict | None:
        from botocore.exceptions import ClientError

        bucket, key = self._bk(self.safe(path))
        try:
            return self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as e:
            if _missing(e):
                return None
            raise

    def exists(self, path) -> bool:
        if self._head(path) is not None:
            return True
        bucket, key = self._bk(self.safe(path))
        page = self.client.list_objects_v2(Bucket=bucket, Prefix=key.rstrip("/") + "/", MaxKeys=1)
        return bool(page.get("KeyCount"))

    def size(self, path) -> int:
        h = self._head(path)
        if h is None:
            raise StorageError(f"{self.rel(path)}: no such object")
        return int(h["ContentLength"])

    def signature(self, path) -> str:
        """``size:etag``: an object rewritten is a new ETag (its time has only second resolution)."""
        h = self._head(path)
        if h is None:
            raise StorageError(f"{self.rel(path)}: no such object")
        return f"{h['ContentLength']}:{h['ETag'].strip(chr(34))}"

    # -- reading -------------------------------------------------------------------------------------------------

    def _get(self, path) -> tuple[bytes, str]:
        from botocore.exceptions import ClientError

        path = self.safe(path)
        bucket, key = self._bk(path)
        try:
            r = self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as e:
            if _missing(e):
                raise FileNotFoundError(self.rel(path)) from None
            raise
        data = r["Body"].read()
        self._remember(path, r["ETag"], hashlib.sha256(data).hexdigest())
        return data, r["ETag"]

    def _digest_key(self, path) -> tuple:
        return (self.config.endpoint, *self._bk(path))

    def _remember(self, path, etag: str, digest: str) -> None:
        key = self._digest_key(path)
        with _DIGESTS_LOCK:
            _DIGESTS[key] = (etag, digest)
            _DIGESTS.move_to_end(key)
            while len(_DIGESTS) > _DIGESTS_MAX:
                _DIGESTS.popitem(last=False)

    def read_bytes(self, path) -> bytes:
        return self._get(path)[0]

    def digest(self, path) -> str:
        """SHA-256 of the object as it is now: what this process last read or wrote there if a HEAD shows the same
        ETag, else from downloading it (with nothing remembered, straight away: one request either way)."""
        path = self.safe(path)
        with _DIGESTS_LOCK:
            known = _DIGESTS.get(self._digest_key(path))
        if known is not None:
            h = self._head(path)
            if h is None:
                raise FileNotFoundError(self.rel(path))
            if h["ETag"] == known[0]:
                return known[1]
        return hashlib.sha256(self.read_bytes(path)).hexdigest()

    def open_input(self, path):
        import pyarrow as pa

        return pa.BufferReader(self.read_bytes(path))

    # -- writing, atomically -------------------------------------------------------------------------------------

    def _put(self, path, data: bytes, **conditions) -> str:
        path = self.safe(path)
        bucket, key = self._bk(path)
        etag = self.client.put_object(Bucket=bucket, Key=key, Body=data, **conditions)["ETag"]
        self._remember(path, etag, hashlib.sha256(data).hexdigest())
        return etag

    @contextlib.contextmanager
    def atomic_file(self, path) -> Iterator[Path]:
        """Yield a local temporary path (not yet created, in a private folder of this process); on success upload
        it to ``path`` in one piece. :meth:`LakeFS.atomic_stream` writes through this."""
        path = self.safe(path)
        private = Path(tempfile.mkdtemp(prefix=f".tmp-piiflow-{os.getpid()}-"))
        try:
            yield private / "data"
            local = private / "data"
            if local.stat().st_size <= _SINGLE_PUT:
                self._put(path, local.read_bytes())
            else:
                bucket, key = self._bk(path)
                self.client.upload_file(str(local), bucket, key)
                uploaded = self._head(path)
                if uploaded is not None:
                    self._remember(path, uploaded["ETag"], file_digest(local))
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def write_bytes(self, path, data: bytes) -> None:
        self._put(path, data)

    def append_line(self, path, line: str) -> None:
        """Read, extend and write back only if nobody wrote in between (``If-Match``); retried on a conflict."""
        self.append_after(path, lambda data: line)

    def append_after(self, path, make_line: Callable[[bytes], str]) -> str:
        """As :meth:`LakeFS.append_after`, in one GET and one conditional PUT (``If-Match``); on a conflict the
        object is read again and the line made again from what is there now. (A PUT is whole: no line is torn.)"""
        for _ in range(20):
            try:
                data, etag = self._get(path)
                cond = {"IfMatch": etag}
            except FileNotFoundError:
                data, cond = b"", {"IfNoneMatch": "*"}
            line = make_line(data)
            try:
                self._put(path, data + line.encode("utf-8"), **cond)
                return line
            except Exception as e:  # noqa: BLE001
                if not _precondition(e):
                    raise
                time.sleep(0.05)
        raise StorageError(f"{self.rel(path)}: could not append (other writers kept changing it)")

    # -- folders -------------------------------------------------------------------------------------------------

    def make_dirs(self, path) -> None:
        """Nothing to do: a prefix exists when an object is under it."""
        self.safe(path)

    def sync_dir(self, path) -> None:
        """Nothing to do: an object store's changes are durable when the request returns."""

    def sync_tree(self, folder) -> None:
        """Nothing to do: an uploaded object is durable when its PUT returns."""

    def sync_parents(self, targets) -> None:
        """Nothing to do (see :meth:`sync_tree`)."""

    def copy(self, src, dst) -> None:
        """Server-side copy of one object (the copy appears whole)."""
        sb, sk = self._bk(self.safe(src))
        db, dk = self._bk(self.safe(dst))
        self.client.copy_object(Bucket=db, Key=dk, CopySource={"Bucket": sb, "Key": sk})

    def swap_in(self, staged, target) -> None:
        """Copy every object of ``staged`` to the same name under ``target`` (each copy replaces its object whole;
        a file called ``manifest.json`` is copied last: it is the commit), then remove what ``target`` held that
        ``staged`` does not."""
        staged, target = self.safe(staged), self.safe(target)
        new = [p.relative_to(staged) for p in self.walk_files(staged)]
        for rel in sorted(new, key=lambda r: (r.name == "manifest.json", str(r))):
            self.copy(staged / rel, target / rel)
        keep = {str(r) for r in new}
        self._delete_keys([p for p in self.walk_files(target) if str(p.relative_to(target)) not in keep])

    def recover(self, folder) -> int:
        """Remove what an interrupted writer left under ``folder``: objects under a ``.tmp-`` name (staging that
        was never published); and the local temporaries of dead processes of this host."""
        n = 0
        stale = [p for p in self.walk_files(folder) if any(part.startswith(".tmp-") for part in
                                                             p.relative_to(self.safe(folder)).parts)]
        self._delete_keys(stale)
        n += len(stale)
        tmpdir = Path(tempfile.gettempdir())
        for f in tmpdir.glob(".tmp-piiflow-*"):
            with contextlib.suppress(ValueError, OSError):
                pid = int(f.name.split("-")[2])
                if not _pid_alive(pid) and f.is_dir() and not f.is_symlink():
                    shutil.rmtree(f)
        return n

    # -- deleting ------------------------------------------------------------------------------------------------

    def _delete_keys(self, paths) -> None:
        by_bucket: dict[str, list[str]] = {}
        for p in paths:
            b, k = self._bk(self.safe(p))
            by_bucket.setdefault(b, []).append(k)
        for bucket, keys in by_bucket.items():
            for i in range(0, len(keys), 1000):
                r = self.client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                                      "Quiet": True})
                if r.get("Errors"):
                    raise StorageError(f"{len(r['Errors'])} objects could not be deleted under "
                                       f"{self.rel(paths[0])} ({r['Errors'][0].get('Code')})")

    def delete_file(self, path, zone=None) -> None:
        path = self.safe(path, zone)
        bucket, key = self._bk(path)
        self.client.delete_object(Bucket=bucket, Key=key)

    def delete_tree(self, path, zone=None) -> None:
        path = self.safe(path, zone)
        self._delete_keys(self.walk_files(path))

    def remove_empty_dir(self, path) -> None:
        """Nothing to do: a prefix with no objects does not exist."""

    def rename(self, src, dst) -> None:
        """Copy then delete (not atomic: a kill between leaves both, and a rerun repeats it harmlessly)."""
        self.copy(src, dst)
        self.delete_file(src)

    # -- the lake's lock -----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _acquire_lock(self, state_dir, what: str) -> Iterator[None]:
        """``state/.lock`` created only if absent; a lock whose owner was a process of this host that is gone is
        taken over; removed by its owner only."""
        lock = self.safe(ObjectPath(str(state_dir)) / ".lock")
        me = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex,
              "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "what": what.split(" ")[0]}
        etag = None
        for _ in range(3):
            try:
                etag = self._put(lock, json.dumps(me).encode(), IfNoneMatch="*")
                break
            except Exception as e:  # noqa: BLE001
                if not _precondition(e):
                    raise
            try:
                data, held_etag = self._get(lock)
                holder = json.loads(data)
            except FileNotFoundError:
                continue
            except ValueError:
                holder = {}
            if holder.get("host") == me["host"] and isinstance(holder.get("pid"), int) \
                    and not _pid_alive(holder["pid"]):
                self._delete_if(lock, held_etag)  # its owner was killed: take it over
                continue
            since = holder.get("since", "?")
            raise LakeBusy(f"{what}: another piiflow run holds the lake's lock ({self.rel(lock)}, since {since} "
                               f"on host {holder.get('host', '?')})")
        if etag is None:
            raise StorageError(f"{what}: could not take the lake's lock ({self.rel(lock)})")
        try:
            yield
        finally:
            self._delete_if(lock, etag)

    def _delete_if(self, path, etag: str) -> None:
        from botocore.exceptions import ClientError

        bucket, key = self._bk(path)
        with contextlib.suppress(ClientError):
            self.client.delete_object(Bucket=bucket, Key=key, IfMatch=etag)

