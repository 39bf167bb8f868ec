"""Aggregate releases with differential privacy: the mechanism really applied (transforms/aggregates.py), the
catalog's checks, and the budget ledger (flows/aggregate.py): overspending refused before any data is read, a
re-run spends nothing and publishes the same values, the policy's exclusions applied before counting."""

from __future__ import annotations

import json
import shutil
from datetime import date

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from configs.catalog import Aggregate, load_catalog
from configs.errors import PolicyError, ReleaseBlocked
from tests.helpers import DEMO_CATALOG, make_lake
from transforms.aggregates import measurements, release_day, with_cell_order
from transforms.budget import left_in_window, worst_window

CITIES = ["成都市", "北京市"]


def _agg(**over) -> Aggregate:
    spec = {"recipient": "analysts", "purpose": "analytics", "dataset": "device_events",
            "dimensions": {"city": {"column": "gps", "values": CITIES}},
            "measures": {"users": {"of": "users"}, "events": {"of": "rows"}},
            "max_rows_per_day": 3, "max_cells_per_day": 1, "epsilon": 1.0}
    spec.update(over)
    return Aggregate.model_validate(spec)


def _rows(per_city: dict[str, int], rows_each: int = 2) -> pa.Table:
    """``per_city[c]`` subjects in city ``c``, ``rows_each`` rows each (dimension_table's layout)."""
    unit, city = [], []
    for c, n in per_city.items():
        for i in range(n):
            unit += [f"{c}-{i}"] * rows_each
            city += [c] * rows_each
    return with_cell_order(pa.table({"__unit__": pa.array(unit, pa.string()), "city": pa.array(city, pa.string())}),
                           ["city"])


def test_the_noise_is_drawn_each_time_and_spreads_as_opendp_declares():
    """Each release draws fresh noise; over many draws the published users of a cell centre on the truth with the
    spread of the declared scale, and the published 95% intervals hold the truth about 95% of the time."""
    agg = _agg()
    rows = _rows({"成都市": 200, "北京市": 30})
    ms = measurements(agg, rows.schema)
    users = next(n for n in ms.noise if n.measure == "users")
    assert users.distribution == "Integer Laplace" and users.scale > 0 and ms.epsilon == pytest.approx(1.0)
    draws, covered = [], 0
    for _ in range(200):
        out = release_day(rows, agg, ms).to_pylist()
        cell = next(r for r in out if r["city"] == "成都市")
        draws.append(cell["users"])
        covered += cell["users_low"] <= 200 <= cell["users_high"]
    draws = np.array(draws, dtype=float)
    assert len(set(draws.tolist())) > 5  # not one value published again and again
    expected_sd = np.sqrt(2) * users.scale  # a Laplace of scale b has standard deviation b * sqrt(2)
    assert 0.7 * expected_sd < draws.std() < 1.3 * expected_sd
    assert abs(draws.mean() - 200) < 5 * expected_sd / np.sqrt(len(draws))
    assert covered / len(draws) >= 0.88


def test_a_value_of_few_subjects_is_published_only_when_declared_public():
    """Without public values a cell must pass OpenDP's threshold (delta): a city of one subject is not published;
    with the values declared public every cell is, zeros included."""
    rows = _rows({"成都市": 400, "拉萨市": 1}, rows_each=1)
    private = _agg(dimensions={"city": {"column": "gps"}}, delta=1e-7)
    ms = measurements(private, rows.schema)
    assert all(n.threshold and n.threshold > 1 for n in ms.noise)
    for _ in range(5):
        assert {r["city"] for r in release_day(rows, private, ms).to_pylist()} == {"成都市"}
    public = _agg(dimensions={"city": {"column": "gps", "values": ["成都市", "拉萨市", "北京市"]}})
    got = release_day(rows, public, measurements(public, rows.schema)).to_pylist()
    assert [r["city"] for r in got] == sorted(["成都市", "拉萨市", "北京市"])


def test_a_subject_counts_within_the_declared_bounds():
    """Truncation bounds each subject's influence: a subject with 1,000 rows adds at most max_rows_per_day rows to
    a cell, so the noisy count stays near the bound, not near 1,000."""
    rows = _rows({"成都市": 1}, rows_each=1000)
    agg = _agg(max_rows_per_day=3, epsilon=5.0)
    ms = measurements(agg, rows.schema)
    events = [next(r for r in release_day(rows, agg, ms).to_pylist() if r["city"] == "成都市")["events"]
              for _ in range(20)]
    assert np.median(events) < 20


@pytest.mark.parametrize("change, message", [
    ({"dimensions": {"phone": {"column": "imei", "values": ["x"]}}}, "'imei' is a direct column"),
    ({"measures": {"who": {"of": "sum", "column": "user_id", "clip": [0, 1]}}}, "'user_id' is a direct column"),
    ({"epsilon": 2.0}, "epsilon: expected at most the privacy_budget's epsilon_per_day (1)"),
    ({"dimensions": {"carrier": {"column": "carrier"}}}, "delta: expected a delta > 0"),
    ({"measures": {"d": {"of": "sum", "column": "carrier"}}}, "clip: expected [low, high]"),
    ({"dimensions": {"city": {"column": "gps", "op": "pseudonymize", "values": ["x"]}}},
     "op: expected an operator that keeps"),
])
def test_the_catalog_refuses_what_an_aggregate_may_not_do(tmp_path, change, message):
    import yaml

    doc = yaml.safe_load(DEMO_CATALOG.read_text(encoding="utf-8"))
    doc["releases"]["analytics_daily"].update(change)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError) as e:
        load_catalog(path)
    assert message in str(e.value) and "releases.analytics_daily" in str(e.value)


def test_a_recipients_aggregates_together_stay_under_the_daily_ceiling(tmp_path):
    import yaml

    doc = yaml.safe_load(DEMO_CATALOG.read_text(encoding="utf-8"))
    doc["releases"]["analytics_daily_2"] = {**doc["releases"]["analytics_daily"], "epsilon": 0.5}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError, match="recipient 'analytics-team' spend epsilon 1.5 a day together"):
        load_catalog(path)


def test_window_arithmetic():
    spent = {10: 1.0, 11: 1.0, 40: 1.0}
    assert worst_window(spent, [11], 30) == (2.0, 11)
    assert worst_window(spent, [40], 30) == (2.0, 40)  # the 30 days 11..40 hold days 11 and 40
    assert left_in_window(spent, 40, 30, 30.0) == 28.0


# --------------------------------------------------------------------------------------------------------------
# The flow: the ledger, re-runs, exclusions
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("agg-pristine")
    make_lake(root, rows=1500, start=date(2026, 10, 1), end=date(2026, 10, 6))
    return root


@pytest.fixture
def lake(pristine, tmp_path):
    shutil.copytree(pristine, tmp_path / "lake")
    return tmp_path / "lake" / "catalog.yaml"


def _ledger(cat_path) -> list[dict]:
    path = cat_path.parent / "state" / "privacy" / "ledger.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _published(cat_path) -> pl.DataFrame:
    return pl.read_parquet(str(cat_path.parent / "releases" / "analytics_daily" / "device_events" / "*" / "*.parquet"),
                           hive_partitioning=True)


def test_publish_then_rerun_spends_nothing_and_republishes_the_same_values(lake, prefect_harness):
    from flows.aggregate import aggregate_flow

    first = aggregate_flow(str(lake), "analytics_daily")
    assert first["published"] == 6 and first["spent"] == pytest.approx(6.0)
    ledger = _ledger(lake)
    assert [e["day"] for e in ledger] == [f"2026-10-0{d}" for d in range(1, 7)]
    assert all(set(e) >= {"release", "recipient", "day", "epsilon", "definition", "output"} for e in ledger)
    published = _published(lake)
    assert set(published.columns) >= {"city", "carrier", "users", "users_low", "users_high", "events", "dt"}
    assert published.height == 6 * 366 * 3  # every public cell, every day
    assert published["users"].min() >= 0  # clamped
    # a re-run: nothing spent, nothing rewritten
    again = aggregate_flow(str(lake), "analytics_daily")
    assert again["published"] == 0 and again["skipped"] == 6 and again["spent"] == 0
    assert len(_ledger(lake)) == 6
    # a partition lost: republished from what was stored, the same noise, no new spending
    day = lake.parent / "releases" / "analytics_daily" / "device_events" / "dt=2026-10-03"
    before = pq.read_table(day / "part-00000.parquet")
    shutil.rmtree(day)
    third = aggregate_flow(str(lake), "analytics_daily")
    assert third["published"] == 1 and third["spent"] == 0 and len(_ledger(lake)) == 6
    assert pq.read_table(day / "part-00000.parquet").equals(before)
    index = json.loads((lake.parent / "releases" / "analytics_daily" / "_meta" / "index.json").read_text())
    assert index["budget"]["spent_total"] == pytest.approx(6.0) and len(index["days"]) == 6
    from flows.release_listing import list_releases

    listed = next(r for r in list_releases(load_catalog(lake)) if r["release"] == "analytics_daily")
    assert listed["published"] and listed["datasets"]["device_events"]["partitions"] == 6
    assert listed["budget"]["spent_total"] == pytest.approx(6.0) and listed["budget"]["recipient"] == "analytics-team"
    meta = lake.parent / "releases" / "analytics_daily" / "_meta"
    assert "clamped at zero" in (meta / "dictionary.md").read_text()
    page = (meta / "report.html").read_text()
    assert 'id="budget"' in page and "<td>6</td></tr></table>" in page and "<script" not in page  # 6 spent in all


def test_an_overspend_is_refused_before_any_data_is_read(lake, prefect_harness, monkeypatch):
    """A budget of 4 over 30 days cannot pay for 6 days: refused in one line, nothing read, spent or written."""
    from flows import aggregate

    text = lake.read_text(encoding="utf-8").replace("epsilon_per_window: 30", "epsilon_per_window: 4")
    lake.write_text(text, encoding="utf-8")
    monkeypatch.setattr(aggregate, "load_date", lambda *a, **k: pytest.fail("data read despite the refusal"))
    with pytest.raises(ReleaseBlocked, match=r"would spend epsilon 6 in the 30 days .* past the privacy_budget's "
                                             r"epsilon_per_window \(4\)"):
        aggregate.aggregate_flow(str(lake), "analytics_daily")
    assert _ledger(lake) == [] and not (lake.parent / "releases" / "analytics_daily").exists()
    # a smaller range fits, and then what is left is what it says
    monkeypatch.undo()
    done = aggregate.aggregate_flow(str(lake), "analytics_daily", date(2026, 10, 1), date(2026, 10, 4))
    assert done["published"] == 4
    with pytest.raises(ReleaseBlocked, match="already spent in that window: 4"):
        aggregate.aggregate_flow(str(lake), "analytics_daily", date(2026, 10, 5), date(2026, 10, 5))


def test_objections_are_applied_before_counting(lake, prefect_harness, tmp_path):
    """A subject who objected to analytics is left out of an aggregate for analytics, counted by reason."""
    from flows.aggregate import aggregate_flow
    from flows.consent import consent_flow

    raw = pl.read_parquet(str(lake.parent / "raw" / "device_events" / "dt=2026-10-02" / "*.parquet"))
    who = raw["user_id"].unique().sort()[:5].to_list()
    ids = tmp_path / "ids.csv"
    ids.write_text("subject_id\n" + "\n".join(who) + "\n", encoding="utf-8")
    consent_flow(str(lake), "objection", str(ids), purposes=["analytics"], execute=True)
    aggregate_flow(str(lake), "analytics_daily", date(2026, 10, 2), date(2026, 10, 2))
    manifest = json.loads((lake.parent / "releases" / "analytics_daily" / "_meta" / "device_events" / "dt=2026-10-02"
                           / "manifest.json").read_text())
    assert manifest["left_out"].get("objection", 0) == raw.filter(pl.col("user_id").is_in(who)).height > 0
    assert manifest["rows_read"] == raw.height - manifest["left_out"]["objection"]
