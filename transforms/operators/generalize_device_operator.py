"""``generalize_device``: a device model to its brand, an OS version to its family and major version."""

from __future__ import annotations

import re

import pyarrow as pa

from transforms.operators.base import implements, map_distinct
from transforms.operators.suppress_operator import suppress

_BRANDS = [
    (r"^(iphone|ipad|ipod|macbook|imac|apple)", "Apple"), (r"^(huawei|mate|nova|p\d{2})", "HUAWEI"),
    (r"^(honor|荣耀)", "HONOR"), (r"^(xiaomi|redmi|mi |poco|小米|红米)", "Xiaomi"), (r"^(oppo|reno|find)", "OPPO"),
    (r"^(vivo|iqoo)", "vivo"), (r"^(oneplus|一加)", "OnePlus"), (r"^(samsung|galaxy|sm-)", "Samsung"),
    (r"^(pixel|google)", "Google"), (r"^(lenovo|thinkpad|联想)", "Lenovo"), (r"^(meizu|魅族)", "Meizu"),
]
_BRAND_RX = [(re.compile(p, re.I), b) for p, b in _BRANDS]


@implements("generalize_device", distinct=True)
def generalize_device(values: pa.Array, *, level: int = 1) -> pa.Array:
    """Device model -> brand (``iPhone 15 Pro`` -> ``Apple``); OS version -> family and major
    (``iOS 17.2`` -> ``iOS 17``). Unknown models become ``other``. Level 2 hides every value (null)."""
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
