"""The lattice search finds the node of least information loss that meets k within the suppression budget: the
same loss as evaluating every node, on many small random tables."""

from itertools import product

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from configs.catalog import Dataset
from transforms import lattice
from transforms.policy import apply_policy, generalize_to_k

KEY = b"k" * 32


def exhaustive(lat: lattice.Lattice, k: int, budget: float) -> float | None:
    """The least loss of any feasible node, evaluating every node."""
    best = None
    for node in product(*[range(n) for n in lat.shape]):
        small, suppressed = lat.below_k(node, k)
        if suppressed <= budget:
            loss = lat.loss(node, small)
            best = loss if best is None else min(best, loss)
    return best


def _random_lattice(rng: np.random.Generator, rows: int, shapes: list[int]) -> lattice.Lattice:
    """Columns whose ladders merge codes as they climb (each level a coarsening of the one below), some values
    missing."""
    codes0, maps, nulls = {}, {}, {}
    for j, levels in enumerate(shapes):
        n0 = int(rng.integers(2, 12))
        col = rng.integers(0, n0 + 1, rows)  # code n0 stands for a missing value
        chain = [np.arange(n0 + 1)]
        for lvl in range(1, levels):
            coarser = np.minimum(chain[-1] // 2, max(1, n0 >> lvl))
            coarser[n0] = 10_000  # missing stays missing, apart from the values
            chain.append(lattice.factorize(coarser) if lvl < levels - 1 else np.where(np.arange(n0 + 1) == n0, 1, 0))
        codes0[f"c{j}"], maps[f"c{j}"], nulls[f"c{j}"] = col, chain, n0
    return lattice.build(codes0, maps, nulls)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 120), st.lists(st.integers(1, 4), min_size=1, max_size=4),
       st.integers(2, 6), st.sampled_from([0.0, 0.05, 0.2]))
def test_search_finds_the_least_loss_of_every_feasible_node(seed, rows, shapes, k, share):
    lat = _random_lattice(np.random.default_rng(seed), rows, shapes)
    budget = share * rows
    found = lattice.search(lat, k, budget)
    best = exhaustive(lat, k, budget)
    if best is None:
        assert not found.feasible and found.node == tuple(n - 1 for n in lat.shape)
    else:
        assert found.feasible and abs(found.loss - best) < 1e-9
        assert found.suppressed <= budget


def test_the_search_stops_early_on_real_ladders():
    """A day of device events: the bound prunes most of the lattice."""
    rng = np.random.default_rng(3)
    n = 600
    cities = [(30.57, 104.06), (39.90, 116.40), (31.23, 121.47), (23.13, 113.26)]
    pts = [cities[i] for i in rng.integers(0, 4, n)]
    raw = pa.table({
        "ts": [f"2026-10-01T{h:02d}:{m:02d}:00+08:00" for h, m in zip(rng.integers(0, 24, n), rng.integers(0, 60, n))],
        "ip": [f"{a}.{b}.{rng.integers(0, 256)}.{rng.integers(1, 255)}" for a, b in
               zip(rng.choice([36, 58, 112, 117], n), rng.integers(0, 4, n))],
        "gps": [f"{la + rng.normal(0, .05):.5f},{lo + rng.normal(0, .05):.5f}" for la, lo in pts],
        "carrier": rng.choice(["中国移动", "中国联通", "中国电信"], n).tolist(),
    })
    ds = Dataset.model_validate({"category": "device", "location": "x", "format": "parquet", "columns": {
        "ts": {"kind": "quasi", "op": {"op": "truncate_time", "to": "hour"}},
        "ip": {"kind": "quasi", "op": {"op": "generalize_ip", "v4_prefix": 16}},
        "gps": {"kind": "quasi", "op": {"op": "generalize_gps", "decimals": 1}},
        "carrier": {"kind": "quasi", "op": "keep"}}})
    out, _ = apply_policy(raw, ds, key=KEY, analyzer=None)
    released, rep = generalize_to_k(raw, out, ds, 5, 0.05, key=KEY)
    assert rep.within_budget and rep.k_reached >= 5
    assert rep.lattice["visited"] < rep.lattice["nodes"] / 2
    assert 0 < rep.information_loss < 1 and set(rep.information_loss_by_column) == {"ts", "ip", "gps", "carrier"}
    assert rep.generalisation["carrier"] == "keep"  # three carriers never need hiding


def _day(n: int, values: list[int], rng) -> pa.Table:
    return pa.table({"duration": rng.choice(values, n).astype(float),
                     "carrier": rng.choice(["中国移动", "中国联通"], n).tolist()})


USAGE = Dataset.model_validate({"category": "usage", "location": "x", "format": "parquet", "columns": {
    "duration": {"kind": "quasi", "op": {"op": "bucket", "width": 1}},
    "carrier": {"kind": "quasi", "op": "keep"}}})


def _alone(t: pa.Table, **kw):
    return generalize_to_k(t, apply_policy(t, USAGE, key=KEY, analyzer=None)[0], USAGE, 5, 0.05, key=KEY, **kw)[1]


def test_one_level_for_every_day_each_day_within_its_budget():
    """Global recoding: a busy day would keep the declared bucket, a quiet day needs wider ones; searched together,
    both days get the quiet day's width (one level for the release), each within its own suppression budget, and
    each day's partition then applies exactly those levels."""
    from transforms.policy import declared_quasi, release_levels

    rng = np.random.default_rng(5)
    busy, quiet = _day(2000, [1, 2, 3, 4], rng), _day(40, list(range(10)), rng)
    alone = [_alone(t) for t in (busy, quiet)]
    assert alone[0].generalisation["duration"] != alone[1].generalisation["duration"]  # per day, levels differ
    days = [(t, declared_quasi(t, USAGE, key=KEY)) for t in (busy, quiet)]
    levels, over = release_levels(days, USAGE, 5, 0.05, key=KEY)
    assert over == [] and levels == {"duration": alone[1].generalisation["duration"], "carrier": "keep"}
    for t in (busy, quiet):
        rep = _alone(t, levels=levels)
        assert rep.generalisation == levels and rep.within_budget and rep.k_reached >= 5


def test_a_day_no_level_brings_within_budget_is_named():
    from transforms.policy import declared_quasi, release_levels

    rng = np.random.default_rng(6)
    tiny = pa.table({"duration": [1.0, 2.0, 3.0], "carrier": ["中国移动", "中国联通", "中国电信"]})
    days = [(t, declared_quasi(t, USAGE, key=KEY)) for t in (_day(500, [1, 2], rng), tiny)]
    levels, over = release_levels(days, USAGE, 5, 0.05, key=KEY)
    assert over == [1] and levels == {"duration": "suppress", "carrier": "suppress"}
