"""``generalize_gps``: a position snapped down to a grid; and the parsing of ``"lat,lon"`` text that every
position operator shares."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.operators.base import as_array, factorize, first_index, implements


def positions(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """(which values are ``"lat,lon"`` positions, their (lat, lon) pairs as an (n_ok, 2) float array), vectorised
    with Arrow; nulls and other text are not positions."""
    arr = as_array(values)
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    ok = pc.fill_null(pc.match_substring_regex(arr, r"^\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*$"), False)
    if not (pc.sum(ok.cast(pa.int64())).as_py() or 0):
        return ok, np.zeros((0, 2))
    good = arr if pc.all(ok).as_py() else arr.filter(ok)
    if pc.any(pc.match_substring(good, " ")).as_py():
        good = pc.replace_substring(good, " ", "")
    return ok, pc.list_flatten(pc.split_pattern(good, ",")).cast(pa.float64()).to_numpy().reshape(-1, 2)


def spread(ok: pa.Array, done: pa.Array) -> pa.Array:
    """``done`` (one value per position) back in the rows the positions came from; other rows null."""
    if len(done) == len(ok):
        return done
    if not len(done):
        return pa.nulls(len(ok), done.type)
    idx = pc.cumulative_sum(ok.cast(pa.int64())).to_numpy() - 1
    picked = done.take(pa.array(np.where(ok.to_numpy(zero_copy_only=False), idx, 0)))
    return pc.if_else(ok, picked, pa.nulls(len(ok), done.type))


@implements("generalize_gps", leaves=("GPS_COORDINATE",))
def generalize_gps(values: pa.Array, *, decimals: int = 2, grid_km: float | None = None) -> pa.Array:
    """``"lat,lon"`` snapped down to a grid: ``10**-decimals`` degrees (0 decimals is about 100 km), or cells of
    ``grid_km`` kilometres (1 degree of latitude taken as 111 km). Values that are not positions become null.
    Vectorised with Arrow and numpy."""
    step = grid_km / 111.0 if grid_km else 10.0 ** -decimals
    shown = max(0, min(6, math.ceil(-math.log10(step)) + 1)) if grid_km else decimals
    ok, pair = positions(values)
    return spread(ok, _grid_names(pair, step, shown))


def _grid_names(pair: np.ndarray, step: float, shown: int) -> pa.Array:
    """Each (lat, lon) snapped down to the grid, named ``"lat,lon"`` with ``shown`` decimals; each distinct cell is
    formatted once."""
    if not len(pair):
        return pa.array([], pa.string())
    cells = np.floor(pair / step).astype(np.int64)
    lo = cells.min(axis=0, initial=0)
    width = int(cells[:, 1].max(initial=0) - lo[1]) + 1
    inverse, _ = factorize((cells[:, 0] - lo[0]) * width + (cells[:, 1] - lo[1]))
    uniq = cells[first_index(inverse)]
    names = pa.array([f"{a * step + 0.0:.{shown}f},{b * step + 0.0:.{shown}f}" for a, b in uniq.tolist()], pa.string())
    return names.take(pa.array(inverse.ravel()))
