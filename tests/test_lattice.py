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
