"""Location levels: positions placed in China's administrative divisions (transforms/places.py) and the
``generalize_place`` ladder built on them."""

import socket

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from configs.errors import PolicyError
from configs.operators import GeneralizePlace, Suppress
from transforms import operators as ops
from transforms import places
from transforms.synth import _CITIES

#: (position, city, province): a hand-written table, border-free places of each kind of division.
KNOWN = [
    ((30.6598, 104.0633), "成都市", "四川省"),  # a prefecture-level city
    ((39.9087, 116.3975), "北京市", "北京市"),  # a municipality: the city is the province
    ((29.5630, 106.5516), "重庆市", "重庆市"),
    ((22.5431, 114.0579), "深圳市", "广东省"),
    ((23.0207, 113.7518), "东莞市", "广东省"),  # a city with no counties: its own seat
    ((30.3642, 113.4540), "仙桃市", "湖北省"),  # a county-level city directly under its province
    ((39.7731, 98.2892), "嘉峪关市", "甘肃省"),  # a city whose only child row has no coordinates
    ((22.2783, 114.1747), "香港特别行政区", "香港特别行政区"),
    ((43.8256, 87.6168), "乌鲁木齐市", "新疆维吾尔自治区"),
    ((29.6520, 91.1721), "拉萨市", "西藏自治区"),
]


@pytest.mark.parametrize("where, city, province", KNOWN, ids=[k[1] for k in KNOWN])
def test_a_position_is_placed_in_its_city_and_province(where, city, province):
    values = pa.array([f"{where[0]:.6f},{where[1]:.6f}"])
    assert ops.generalize_place(values, to="city").to_pylist() == [city]
    assert ops.generalize_place(values, to="province").to_pylist() == [province]
    assert ops.generalize_place(values, to="country").to_pylist() == [places.COUNTRY]


def test_outside_china_not_a_position_and_null_are_null():
    values = pa.array(["48.8566,2.3522", "40.7128,-74.0060", "-33.87,151.21", "nope", None, "91,200x"])
    for level in ("city", "province", "country"):
        assert ops.generalize_place(values, to=level).to_pylist() == [None] * 6


def test_every_city_the_synthetic_lake_draws_from_is_placed_in_itself():
    """The demo's positions are drawn around each city's own seat from the same table: its city level is a city."""
    for city, *_ in _CITIES:
        lat, lon = places.centre_of(city)
        rng = np.random.default_rng(1)
        near_lat, near_lon = lat + rng.normal(0, 0.05, 400), lon + rng.normal(0, 0.05, 400)
        got = places.names_at(places.seat_of(near_lat, near_lon), "city")
        assert sum(g == city for g in got) >= 0.9 * len(got), city
    with pytest.raises(ValueError, match="no city"):
        places.centre_of("亚特兰蒂斯")


def test_coarser_levels_never_split_a_finer_one():
    """A city lies in one province, a province in one country: the ladder is a hierarchy, as the lattice needs."""
    div = places.divisions()
    for fine, coarse in (("city", "province"), ("province", "country")):
        pairs = set(zip(div.names[fine].tolist(), div.names[coarse].tolist()))
        assert len({f for f, _ in pairs}) == len(pairs), fine
    assert len(set(div.names["province"])) == 34 and len(set(div.names["city"])) > 360


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(18, 54), st.floats(73, 135)), min_size=1, max_size=60))
def test_placing_distinct_cells_once_gives_what_placing_each_gives(points):
    """Positions are placed per distinct 0.01-degree cell: a batch and each position alone agree, and every
    position of one cell gets one city."""
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    batch = places.seat_of(lat, lon)
    alone = [int(places.seat_of(lat[i:i + 1], lon[i:i + 1])[0]) for i in range(len(points))]
    assert batch.tolist() == alone


def test_the_ladder_climbs_city_province_country_then_hides():
    assert GeneralizePlace(to="city").ladder() == [GeneralizePlace(to="city"), GeneralizePlace(to="province"),
                                                    GeneralizePlace(to="country"), Suppress()]
    assert GeneralizePlace(to="province").ladder()[0] == GeneralizePlace(to="province")


def test_the_division_table_is_checked_and_read_offline(monkeypatch):
    """The table is read from the installed package with sockets refused, and a table that is not the pinned one
    is refused by name before any position is placed."""
    def refuse(*a, **k):
        raise OSError("network refused in this test")

    places.divisions.cache_clear()
    monkeypatch.setattr(socket.socket, "connect", refuse)
    try:
        assert len(places.divisions().xyz) > 2800
        places.divisions.cache_clear()
        monkeypatch.setattr(places, "ADCODES_SHA256", "0" * 64)
        with pytest.raises(PolicyError, match="cpca: the installed division table's SHA-256"):
            places.divisions()
    finally:
        places.divisions.cache_clear()
