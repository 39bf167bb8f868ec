"""Where in China a position is: its city (地级市), province (省级) and country, the units analysts group by.

The data are China's administrative divisions (GB/T 2260 codes, each division's name and the coordinates of its
seat) as ``cpca`` ships them (MIT; ``cpca/resources/adcodes.csv``, 3,511 divisions), pinned exactly in
``pyproject.toml`` and checked by SHA-256 before use: nothing is downloaded. ``cpca`` itself is not imported (its
import builds text matchers piiflow does not use); only its table is read.

A position is placed at the nearest *seat* (the seat of a county-level division, or of a city or region that has
none beneath it: 东莞市, 香港特别行政区), by great-circle distance, and takes that division's city and province. This is
a Voronoi approximation of real borders: a position within a few kilometres of a border may be placed in the
neighbouring county, and so, where that border is also a city's, in the neighbouring city. A position farther than
:data:`MAX_KM` from every seat (outside China) is placed nowhere: null at every level. Positions are placed on a
0.01-degree grid (about 1 km), each distinct cell once.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from configs.errors import PolicyError
from configs.operators import PLACE_LEVELS as LEVELS

#: The SHA-256 of ``cpca/resources/adcodes.csv`` in cpca 0.5.5 (the version ``pyproject.toml`` pins).
ADCODES_SHA256 = "66948fa1519ba053f22b8c2d05c897c9b19c44cdc3044e464b52f0143ff418fe"
COUNTRY = "中国"
#: A position farther than this from every seat is outside the table (China's largest counties, in Xinjiang and
#: Tibet, reach about 250 km from their seats).
MAX_KM = 300.0
_EARTH_KM = 6371.0
#: Municipalities: the city is the province.
_MUNICIPALITIES = {"11", "12", "31", "50"}
#: City-level rows that are groupings, not cities: a county under one is its own city.
_NOT_A_CITY = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
#: Distinct positions placed per block (a block's distance matrix is block x seats).
_BLOCK = 2048


@dataclass(frozen=True)
class Divisions:
    """The seats positions are placed at: unit vectors (seats x 3) and, per level, each seat's name."""

    xyz: np.ndarray
    #: (lat, lon) of each city's and province's own seat, by name
    centres: dict[str, tuple[float, float]]
    names: dict[str, np.ndarray]


def _table_path() -> Path:
    spec = importlib.util.find_spec("cpca")
    if spec is None or not spec.submodule_search_locations:
        raise PolicyError("location levels need the package cpca (China's administrative divisions): "
                          "reinstall piiflow with its dependencies")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"


@functools.lru_cache(maxsize=1)
def divisions() -> Divisions:
    """The seats and their city, province and country names, loaded once per process after the table's SHA-256
    is checked."""
    raw = _table_path().read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != ADCODES_SHA256:
        raise PolicyError(f"cpca: the installed division table's SHA-256 is {digest[:16]}..., not the pinned "
                          f"{ADCODES_SHA256[:16]}...: reinstall the version pyproject.toml pins")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    name = {r["adcode"][:6]: r["name"] for r in rows}
    placed = [r["adcode"][:6] for r in rows if r["latitude"] and r["longitude"]]
    parents = {code[:2] + "0000" for code in placed if code[2:] != "0000"}
    parents |= {code[:4] + "00" for code in placed if code[4:] != "00"}
    lat, lon, city, province = [], [], [], []
    for r in rows:
        code = r["adcode"][:6]
        if code in parents or not r["latitude"] or not r["longitude"]:
            continue
        prov = name[code[:2] + "0000"]
        above = name.get(code[:4] + "00")
        if code[2:] == "0000" or code[:2] in _MUNICIPALITIES:
            town = prov  # a municipality, or a region with no cities (香港特别行政区)
        elif code[4:] == "00" or not above or above in _NOT_A_CITY:
            town = r["name"]  # a city with no counties (东莞市), or a county-level city under its province (仙桃市)
        else:
            town = above
        lat.append(float(r["latitude"]))
        lon.append(float(r["longitude"]))
        city.append(town)
        province.append(prov)
    xyz = _unit(np.asarray(lat), np.asarray(lon))
    centres = {r["name"]: (float(r["latitude"]), float(r["longitude"])) for r in rows
               if r["latitude"] and r["adcode"][4:6] == "00" and r["name"] not in _NOT_A_CITY}
    return Divisions(xyz, centres, {"city": np.asarray(city, dtype=object), "province": np.asarray(province, dtype=object),
                           "country": np.full(len(city), COUNTRY, dtype=object)})


def _unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def seat_of(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """For each position, the index of its seat in :func:`divisions` (``-1``: outside the table). Works on the
    distinct 0.01-degree cells of the positions, a block at a time."""
    if not len(lat):
        return np.zeros(0, dtype=np.int64)
    cells = np.floor(np.column_stack([lat, lon]) * 100).astype(np.int64)
    _, first, inverse = np.unique(cells, axis=0, return_index=True, return_inverse=True)
    centre = (cells[first] + 0.5) / 100
    div = divisions()
    xyz = _unit(centre[:, 0], centre[:, 1])
    best = np.empty(len(xyz), dtype=np.int64)
    for at in range(0, len(xyz), _BLOCK):
        cos = xyz[at:at + _BLOCK] @ div.xyz.T
        pick = cos.argmax(axis=1)
        near = np.take_along_axis(cos, pick[:, None], axis=1)[:, 0]
        far = np.arccos(np.clip(near, -1.0, 1.0)) * _EARTH_KM > MAX_KM
        best[at:at + _BLOCK] = np.where(far, -1, pick)
    return best[inverse.ravel()]


def names_at(seats: np.ndarray, level: str) -> list[str | None]:
    """The ``level`` name (one of :data:`LEVELS`) of each seat index from :func:`seat_of`; ``-1`` gives None."""
    if level not in LEVELS:
        raise ValueError(f"unknown location level {level!r}; expected one of {', '.join(LEVELS)}")
    names = divisions().names[level]
    return [None if s < 0 else names[s] for s in seats.tolist()]


def centre_of(city: str) -> tuple[float, float]:
    """(lat, lon) of a city's (or province's) own seat: where the synthetic lake draws its users' positions."""
    try:
        return divisions().centres[city]
    except KeyError:
        raise ValueError(f"{city!r} is no city in the division table") from None
