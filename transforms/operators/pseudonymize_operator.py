"""``pseudonymize``: a keyed HMAC-SHA256 token per value, under the recipient's key."""

from __future__ import annotations

import hmac

import pyarrow as pa

from transforms.operators.base import implements, map_distinct


@implements("pseudonymize", distinct=True, needs=("key",))
def pseudonymize(values: pa.Array, *, key: bytes, length: int = 16, prefix: str = "") -> pa.Array:
    """Keyed HMAC-SHA256 of each value's UTF-8 text, as ``prefix`` + the first ``length`` hex characters."""
    def token(v: str) -> str:
        return prefix + hmac.digest(key, v.encode("utf-8"), "sha256").hex()[:length]

    return map_distinct(values, token)
