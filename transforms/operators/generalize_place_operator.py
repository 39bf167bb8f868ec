"""``generalize_place``: a position to the city, province or country it is in."""

from __future__ import annotations

import pyarrow as pa

from transforms import places
from transforms.operators.base import implements
from transforms.operators.generalize_gps_operator import positions, spread


# (a division's name may read as an address to the re-scan; every value is a name from a fixed table)
@implements("generalize_place", leaves=("CN_ADDRESS",))
def generalize_place(values: pa.Array, *, to: str = "city") -> pa.Array:
    """``"lat,lon"`` -> the name of the city, province or country it is in (``成都市``, ``四川省``, ``中国``), from
    China's administrative divisions (:mod:`transforms.places`: the nearest county seat, each distinct 0.01-degree
    cell placed once). Values that are not positions, and positions outside China, become null."""
    ok, pair = positions(values)
    seats = places.seat_of(pair[:, 0], pair[:, 1])
    return spread(ok, pa.array(places.names_at(seats, to), pa.string()))
