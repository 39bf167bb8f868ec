"""De-identification operators: pure, vectorised column functions ``op(values: pa.Array, *, ...) -> pa.Array``.

Parameters are keyword-only and match the catalog's operator models. Nulls pass through. Where values repeat,
the work is done once per distinct value (dictionary-encode, transform the dictionary, take).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, uniques) of an integer array by hashing (pandas' factorize), not sorting: codes number the distinct
    values in order of first appearance, so ``uniques[codes] == values``."""
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64, copy=False), np.asarray(uniques)


def first_index(codes: np.ndarray, n_codes: int | None = None) -> np.ndarray:
    """For each code ``0..n_codes-1``, the position of its first occurrence in ``codes`` (``len(codes)`` if it
    does not occur)."""
    n_codes = int(codes.max(initial=-1)) + 1 if n_codes is None else n_codes
    first = np.full(n_codes, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes), dtype=np.int64))
    return first


def map_distinct(values: pa.Array | pa.ChunkedArray, fn: Callable[[str], str | None],
                 out_type: pa.DataType = pa.string()) -> pa.Array:
    """Apply ``fn`` once per distinct non-null value (as text) and spread the results back; nulls stay null."""
    arr = _as_array(values)
    if pa.types.is_dictionary(arr.type):  # read dictionary-encoded: the distinct values are already at hand
        dictionary, indices = arr.dictionary, arr.indices
        if not pa.types.is_string(dictionary.type) and not pa.types.is_large_string(dictionary.type):
            dictionary = dictionary.cast(pa.string())
    else:
        if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.string())
        enc = pc.dictionary_encode(arr)
        dictionary, indices = enc.dictionary, enc.indices
    mapped = pa.array([None if v is None else fn(v) for v in dictionary.to_pylist()], out_type)
    return mapped.take(indices)


# --------------------------------------------------------------------------------------------------------------
# Keys and pseudonyms
# --------------------------------------------------------------------------------------------------------------


def derive_key(master: bytes, recipient: str) -> bytes:
    """The recipient's pseudonymisation key: HMAC-SHA256(master, "piiflow/recipient/" + recipient).

    Two recipients get unrelated keys, so their copies cannot be joined on pseudonyms.
    """
    return hmac.digest(master, b"piiflow/recipient/" + recipient.encode("utf-8"), "sha256")


def state_key(master: bytes) -> bytes:
    """The key for subject hashes kept in ``state/`` (audit log, erasure ledger): never a recipient's key."""
    return hmac.digest(master, b"piiflow/state", "sha256")


def subject_hash(key: bytes, subject_id: str) -> str:
    """A keyed hash of a subject id for the audit log and the erasure ledger (32 hex characters)."""
    return hmac.digest(key, subject_id.encode("utf-8"), "sha256").hex()[:32]


def key_fingerprint(key: bytes) -> str:
    """A public fingerprint of a key (for manifests): never enough to recover or use the key."""
    return hashlib.sha256(b"piiflow/fingerprint/" + key).hexdigest()[:16]


def pseudonymize(values: pa.Array, *, key: bytes, length: int = 16, prefix: str = "") -> pa.Array:
    """Keyed HMAC-SHA256 of each value's UTF-8 text, as ``prefix`` + the first ``length`` hex characters."""
    def token(v: str) -> str:
        return prefix + hmac.digest(key, v.encode("utf-8"), "sha256").hex()[:length]

    return map_distinct(values, token)


def mask(values: pa.Array, *, keep_first: int = 0, keep_last: int = 4, char: str = "*") -> pa.Array:
    """Replace all but the first ``keep_first`` and last ``keep_last`` characters with ``char`` (length kept).

    A value too short to keep anything is masked whole.
    """
    def m(v: str) -> str:
        n = len(v)
        if keep_first + keep_last >= n:
            return char * n
        return v[:keep_first] + char * (n - keep_first - keep_last) + (v[n - keep_last:] if keep_last else "")

    return map_distinct(values, m)


# --------------------------------------------------------------------------------------------------------------
# Generalisation
# --------------------------------------------------------------------------------------------------------------


def generalize_ip(values: pa.Array, *, v4_prefix: int = 24, v6_prefix: int = 48) -> pa.Array:
    """The network an address belongs to, in CIDR notation (``36.112.4.9`` -> ``36.112.4.0/24``).
    Values that are not IP addresses become null (they cannot be generalised safely). Dotted-quad IPv4 is done
    in bulk with Arrow and numpy; anything else goes through :mod:`ipaddress` once per distinct value."""
    arr = _as_array(values)
    if pa.types.is_dictionary(arr.type):
        return generalize_ip(arr.dictionary, v4_prefix=v4_prefix, v6_prefix=v6_prefix).take(arr.indices)
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    if len(arr) > 1024:  # addresses repeat: generalise each distinct one once
        enc = pc.dictionary_encode(arr)
        if len(enc.dictionary) < len(arr) // 2:
            return generalize_ip(enc.dictionary, v4_prefix=v4_prefix, v6_prefix=v6_prefix).take(enc.indices)

    def g(v: str) -> str | None:
        try:
            ip = ipaddress.ip_address(v.strip())
        except ValueError:
            return None
        prefix = v4_prefix if ip.version == 4 else v6_prefix
        return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))

    quad = pc.fill_null(pc.match_substring_regex(arr, r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|"
                                                 r"[1-9]?\d)){3}$"), False)
    n_quad = pc.sum(quad.cast(pa.int64())).as_py() or 0
    if n_quad == 0:
        return map_distinct(arr, g)
    parts = pc.list_flatten(pc.split_pattern(arr.filter(quad), ".")).cast(pa.int64()).to_numpy().reshape(-1, 4)
    as_int = (parts[:, 0] << 24) | (parts[:, 1] << 16) | (parts[:, 2] << 8) | parts[:, 3]
    mask = ((0xFFFFFFFF << (32 - v4_prefix)) & 0xFFFFFFFF) if v4_prefix else 0
    inverse, nets = factorize(as_int & mask)  # format each distinct network once
    names = pa.array([f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}/{v4_prefix}" for n in nets.tolist()],
                     pa.string())
    quads = names.take(pa.array(inverse.ravel()))
    if n_quad == len(arr) - arr.null_count and arr.null_count == 0:
        return quads
    rest = map_distinct(arr, g)
    idx = pc.cumulative_sum(quad.cast(pa.int64())).to_numpy() - 1
    picked = quads.take(pa.array(np.where(quad.to_numpy(zero_copy_only=False), idx, 0)))
    return pc.if_else(quad, picked, rest)


def generalize_gps(values: pa.Array, *, decimals: int = 2, grid_km: float | None = None) -> pa.Array:
    """``"lat,lon"`` snapped down to a grid: ``10**-decimals`` degrees (0 decimals is about 100 km), or cells of
    ``grid_km`` kilometres (1 degree of latitude taken as 111 km). Values that are not positions become null.
    Vectorised with Arrow and numpy."""
    step = grid_km / 111.0 if grid_km else 10.0 ** -decimals
    shown = max(0, min(6, math.ceil(-math.log10(step)) + 1)) if grid_km else decimals
    arr = _as_array(values)
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    ok = pc.fill_null(pc.match_substring_regex(arr, r"^\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*$"), False)
    if not (pc.sum(ok.cast(pa.int64())).as_py() or 0):
        return pa.nulls(len(arr), pa.string())
    all_ok = pc.all(ok).as_py()
    good = arr if all_ok else arr.filter(ok)
    if pc.any(pc.match_substring(good, " ")).as_py():
        good = pc.replace_substring(good, " ", "")
    pair = pc.list_flatten(pc.split_pattern(good, ",")).cast(pa.float64()).to_numpy().reshape(-1, 2)
    done = _grid_names(pair, step, shown)
    if len(done) == len(arr):
        return done
    idx = pc.cumulative_sum(ok.cast(pa.int64())).to_numpy() - 1
    picked = done.take(pa.array(np.where(ok.to_numpy(zero_copy_only=False), idx, 0)))
    return pc.if_else(ok, picked, pa.nulls(len(arr), pa.string()))


def _grid_names(pair: np.ndarray, step: float, shown: int) -> pa.Array:
    """Each (lat, lon) snapped down to the grid, named ``"lat,lon"`` with ``shown`` decimals; each distinct cell is
    formatted once."""
    cells = np.floor(pair / step).astype(np.int64)
    lo = cells.min(axis=0, initial=0)
    width = int(cells[:, 1].max(initial=0) - lo[1]) + 1
    inverse, _ = factorize((cells[:, 0] - lo[0]) * width + (cells[:, 1] - lo[1]))
    uniq = cells[first_index(inverse)]
    names = pa.array([f"{a * step + 0.0:.{shown}f},{b * step + 0.0:.{shown}f}" for a, b in uniq.tolist()], pa.string())
    return names.take(pa.array(inverse.ravel()))


def birth_year_band(values: pa.Array, *, width: int = 10) -> pa.Array:
    """A valid mainland resident ID -> its holder's band of birth years (``1990-1999`` for width 10); anything
    else (bad check digit, not an ID) becomes null. The ID itself never reaches the output."""
    from transforms.checksums import resident_id_ok

    def g(v: str) -> str | None:
        v = v.strip()
        if not resident_id_ok(v):
            return None
        year = int(v[6:10]) if len(v) == 18 else 1900 + int(v[6:8])
        lo = year - year % width
        return f"{lo}-{lo + width - 1}"

    return map_distinct(values, g)


def suppress(values: pa.Array) -> pa.Array:
    """Every non-null value replaced by ``*`` (the top of every generalisation ladder)."""
    return map_distinct(values, lambda v: "*")


def to_timestamp(values: pa.Array | pa.ChunkedArray, tz: str = "Asia/Shanghai") -> pa.Array:
    """Event times as ``timestamp[ms, tz]``: timestamps are converted, ISO-8601 text is parsed (naive text is taken
    as local time in ``tz``); anything unparseable becomes null."""
    arr = _as_array(values)
    if pa.types.is_timestamp(arr.type):
        s = pd.Series(arr.to_pandas())
        s = s.dt.tz_localize(tz) if s.dt.tz is None else s.dt.tz_convert(tz)
    else:
        text = pd.Series(arr.cast(pa.string()).to_pandas(), dtype="object")
        has_tz = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True, na=False)
        s = pd.Series(pd.NaT, index=text.index, dtype=f"datetime64[ms, {tz}]")
        if has_tz.any():
            s[has_tz] = pd.to_datetime(text[has_tz], utc=True, errors="coerce", format="ISO8601").dt.tz_convert(tz)
        naive = ~has_tz & text.notna()
        if naive.any():
            s[naive] = pd.to_datetime(text[naive], errors="coerce", format="ISO8601").dt.tz_localize(
                tz, ambiguous="NaT", nonexistent="NaT")
    return pa.array(s.dt.as_unit("ms"), type=pa.timestamp("ms", tz=tz), from_pandas=True)


def truncate_time(values: pa.Array, *, to: str = "hour", tz: str = "Asia/Shanghai") -> pa.Array:
    """Event times truncated in local time (``tz``) to the start of their hour, day, week (Monday) or month."""
    ts = pd.Series(to_timestamp(values, tz).to_pandas())
    if to == "hour":
        out = ts.dt.floor("h", ambiguous="NaT", nonexistent="NaT")
    elif to == "day":
        out = ts.dt.normalize()
    elif to == "week":
        out = (ts - pd.to_timedelta(ts.dt.weekday, unit="D")).dt.normalize()
    elif to == "month":
        out = ts.dt.normalize() - pd.to_timedelta(ts.dt.day - 1, unit="D")
    else:
        raise ValueError(f"truncate_time: expected to = hour, day, week or month, found {to!r}")
    return pa.array(out.dt.as_unit("ms"), type=pa.timestamp("ms", tz=tz), from_pandas=True)


_BRANDS = [
    (r"^(iphone|ipad|ipod|macbook|imac|apple)", "Apple"), (r"^(huawei|mate|nova|p\d{2})", "HUAWEI"),
    (r"^(honor|荣耀)", "HONOR"), (r"^(xiaomi|redmi|mi |poco|小米|红米)", "Xiaomi"), (r"^(oppo|reno|find)", "OPPO"),
    (r"^(vivo|iqoo)", "vivo"), (r"^(oneplus|一加)", "OnePlus"), (r"^(samsung|galaxy|sm-)", "Samsung"),
    (r"^(pixel|google)", "Google"), (r"^(lenovo|thinkpad|联想)", "Lenovo"), (r"^(meizu|魅族)", "Meizu"),
]
_BRAND_RX = [(re.compile(p, re.I), b) for p, b in _BRANDS]


def generalize_device(values: pa.Array, *, level: int = 1) -> pa.Array:
    """Device model -> brand (``iPhone 15 Pro`` -> ``Apple``); OS version -> family and major
    (``iOS 17.2`` -> ``iOS 17``). Unknown models become ``other``. Level 2 gives ``*``."""
    if level >= 2:
        return suppress(values)

    def g(v: str) -> str:
        s = v.strip()
        m = re.match(r"^(Android|HarmonyOS|iOS|iPadOS|macOS|Windows)\s+(\d+)", s, re.I)
        if m:
            return f"{m.group(1)} {m.group(2)}"
        for rx, brand in _BRAND_RX:
            if rx.search(s):
                return brand
        return "other"

    return map_distinct(values, g)


def bucket(values: pa.Array, *, width: float) -> pa.Array:
    """Numbers into ranges of ``width`` as text: ``75`` with width 60 -> ``60-120``. Non-numbers become null."""
    arr = _as_array(values)
    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        numbers = pd.to_numeric(pd.Series(arr.to_pylist(), dtype="object"), errors="coerce")
        arr = pa.array(numbers, pa.float64(), from_pandas=True)
    lo = pc.multiply(pc.floor(pc.divide(pc.cast(arr, pa.float64()), width)), width)
    fmt = (lambda x: str(int(x))) if float(width).is_integer() else (lambda x: f"{x:g}")
    return map_distinct(lo, lambda v: f"{fmt(float(v))}-{fmt(float(v) + width)}")
