"""``generalize_ip``: an address to the network it belongs to."""

from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.operators.base import as_array, factorize, implements, map_distinct


@implements("generalize_ip", distinct=True, leaves=("IP_ADDRESS",))
def generalize_ip(values: pa.Array, *, v4_prefix: int = 24, v6_prefix: int = 48) -> pa.Array:
    """The network an address belongs to, in CIDR notation (``36.112.4.9`` -> ``36.112.4.0/24``).
    Values that are not IP addresses become null (they cannot be generalised safely). Dotted-quad IPv4 is done
    in bulk with Arrow and numpy; anything else goes through :mod:`ipaddress` once per distinct value."""
    arr = as_array(values)
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
