"""Where a lake lives: a local folder (a :class:`~pathlib.Path`) or an object store (an :class:`ObjectPath`).

A location in a catalog, or given to ``--dir``, is a path or a URI. ``s3://bucket/prefix`` (any S3-compatible store:
AWS S3, Alibaba OSS, Tencent COS, MinIO) becomes an :class:`ObjectPath`; every other ``scheme://`` is refused by
name rather than taken for a relative folder called ``scheme:``.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

#: Object-store schemes piiflow reads and writes (all through the S3 API).
OBJECT_SCHEMES = ("s3",)

_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")
#: S3 bucket names (the rules AWS, OSS, COS and MinIO share): 3-63 lowercase letters, digits, dots and hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class ObjectPath(PurePosixPath):
    """A key in an object store, written ``/<bucket>/<key>`` so that ``/``, ``parent``, ``name`` and
    ``relative_to`` work as on a folder. It is no local path: ``open()``, ``os`` functions and pyarrow refuse it
    (``__fspath__`` raises), so no code can write an object-store location to the local disk by mistake."""

    scheme = "s3"

    def __fspath__(self):  # noqa: D105
        raise TypeError(f"{self.uri} is in an object store, not on the local disk: use the lake's storage layer")

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{str(self).lstrip('/')}"

    @property
    def bucket(self) -> str:
        return self.parts[1] if len(self.parts) > 1 else ""

    @property
    def key(self) -> str:
        """The object key inside the bucket (no leading slash; ``""`` for the bucket itself)."""
        return "/".join(self.parts[2:])


def is_uri(text: str) -> bool:
    return bool(_URI.match(str(text)))


def parse_location(text: str | Path) -> Path | ObjectPath:
    """A location as piiflow handles it: ``s3://bucket/prefix`` -> :class:`ObjectPath`, anything else a local path.
    Raises ValueError for a URI of another scheme, a bad bucket name, or ``..``/``.``/empty parts in the key."""
    if isinstance(text, (Path, ObjectPath)):
        return text
    m = _URI.match(str(text))
    if not m:
        return Path(text)
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme not in OBJECT_SCHEMES:
        raise ValueError(f"expected a local folder or an s3:// URI, found a {scheme}:// URI (for HDFS, OSS, COS or "
                         f"MinIO use their S3 endpoint with s3://)")
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"expected s3://<bucket>/<prefix> with a valid bucket name, found bucket {bucket!r}")
    parts = [p for p in key.rstrip("/").split("/")] if key.strip("/") else []
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError("expected s3://<bucket>/<prefix> whose prefix has no empty, '.' or '..' parts")
    return ObjectPath("/", bucket, *parts)
