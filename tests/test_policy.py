"""The release gate: policy checks, k-anonymity with risk figures, and the re-scan of the output."""

from collections import Counter

import pyarrow as pa
import pytest

from configs.catalog import Dataset
from transforms.policy import apply_policy, class_sizes, k_anonymize, policy_violations, rescan


def _ds(columns: dict) -> Dataset:
    return Dataset.model_validate({"category": "log", "location": "x", "format": "parquet", "columns": columns})


def test_direct_column_left_keep_is_a_violation():
    ds = _ds({"phone": {"kind": "direct", "op": "keep"}, "q": {"kind": "free_text", "op": "keep"}})
    problems = policy_violations("logs", ds, anonymised=True)
    assert "logs.phone: direct identifier with operator 'keep'; expected drop or pseudonymize" in problems
    assert "logs.q: free text with operator 'keep'; expected drop or redact_entities" in problems


def test_k_anonymize_suppresses_small_classes_and_reports_risk():
    t = pa.table({"city": ["a"] * 6 + ["b"] * 3 + ["c"], "age": ["30"] * 6 + ["40"] * 3 + ["50"]})
    out, rep = k_anonymize(t, ["city", "age"], 3)
    assert out.num_rows == 9 and rep.suppressed == 1
    assert rep.k_reached == 3 and rep.classes == 2
    assert rep.prosecutor_risk_max == pytest.approx(1 / 3)
    assert rep.prosecutor_risk_avg == pytest.approx(2 / 9)
    assert rep.marketer_risk == pytest.approx(2 / 9)
    assert sum(rep.class_sizes.values()) == 9


def test_k_anonymity_matches_pycanon():
    anonymity = pytest.importorskip("pycanon.anonymity")
    import random
    rng = random.Random(3)
    rows = {"g": [rng.choice("MF") for _ in range(300)], "z": [rng.choice("abcdefgh") for _ in range(300)],
            "y": [str(rng.randint(1, 4)) for _ in range(300)], "s": [rng.choice("xyz") for _ in range(300)]}
    t = pa.table(rows)
    out, rep = k_anonymize(t, ["g", "z", "y"], 4)
    df = out.to_pandas()
    assert rep.k_reached == anonymity.k_anonymity(df, ["g", "z", "y"])
    # independent recount of the class sizes
    counts = Counter(zip(df["g"], df["z"], df["y"]))
    assert min(counts.values()) == rep.k_reached and len(counts) == rep.classes


def test_class_sizes_count_nulls_as_a_value():
    t = pa.table({"a": ["x", None, None, "x"]})
    assert class_sizes(t, ["a"]).to_pylist() == [2, 2, 2, 2]


def test_rescan_finds_planted_id_in_free_text(analyzer):
    ds = _ds({"ip": {"kind": "quasi", "op": "generalize_ip"}, "q": {"kind": "free_text", "op": "keep"}})
    t = pa.table({"ip": ["36.0.0.0/8"], "q": ["我的身份证号是410105197908083519谢谢"]})
    leaks = rescan(t, analyzer, ds)
    assert [(l.column, l.entity_type) for l in leaks] == [("q", "CN_RESIDENT_ID")]
    assert "410105197908083519" not in leaks[0].evidence and leaks[0].evidence.startswith("41")


def test_apply_policy_drops_undeclared_and_redacts(analyzer):
    ds = _ds({"u": {"kind": "direct", "op": "pseudonymize"}, "p": {"kind": "direct", "op": "drop"},
              "q": {"kind": "free_text", "op": "redact_entities"}})
    t = pa.table({"u": ["u1"], "p": ["13800138000"], "q": ["电话13800138000"], "extra": ["?"]})
    out, undeclared = apply_policy(t, ds, key=b"k" * 32, analyzer=analyzer)
    assert out.column_names == ["u", "q"] and undeclared == ["extra"]
    assert out.column("q").to_pylist() == ["电话<CN_MOBILE>"]


def test_rescan_checks_pseudonym_columns_by_token_shape(analyzer):
    ds = _ds({"u": {"kind": "direct", "op": "pseudonymize"}})
    # "13812345678abcde" would never come out of pseudonymize; a token that happens to start with digits is fine
    t = pa.table({"u": ["1381234567812345", "13812345678", None]})
    leaks = rescan(t, analyzer, ds)
    assert [(l.column, l.entity_type, l.count) for l in leaks] == [("u", "NOT_A_PSEUDONYM", 1)]
    assert "13812345678" not in leaks[0].evidence


def test_l_diversity_matches_pycanon():
    anonymity = pytest.importorskip("pycanon.anonymity")
    import random

    from transforms.policy import l_diversity
    rng = random.Random(5)
    t = pa.table({"g": [rng.choice("MF") for _ in range(200)], "z": [rng.choice("abcd") for _ in range(200)],
                  "d": [rng.choice(["flu", "cold", "hiv", "none"]) for _ in range(200)]})
    assert l_diversity(t, ["g", "z"], "d") == anonymity.l_diversity(t.to_pandas(), ["g", "z"], ["d"])
    one = pa.table({"g": ["M", "M", "F", "F"], "d": ["a", "b", "c", "c"]})
    assert l_diversity(one, ["g"], "d") == 1


def test_combine_groups_exactly_whatever_the_code_ranges():
    """Class ids from packed codes (wide ranges force re-numbering) group rows exactly as their tuples do."""
    import numpy as np

    from transforms.lattice import combine as _combine

    rng = np.random.default_rng(7)
    n = 5000
    cols = [rng.integers(0, hi, n) for hi in (3, 2**20, 2**21, 7, 2**22)]
    ids = _combine(cols)
    tuples = list(zip(*(c.tolist() for c in cols)))
    first_id: dict = {}
    for t, i in zip(tuples, ids.tolist()):
        assert first_id.setdefault(t, i) == i  # equal tuples, equal ids
    assert len(set(first_id.values())) == len(first_id)  # different tuples, different ids


def test_generalize_to_k_report_matches_an_independent_recount():
    """The classes carried from the ladder search to the suppression step are those of the released columns."""
    import collections
    import random

    from transforms.policy import generalize_to_k

    rng = random.Random(3)
    n = 3000
    raw = pa.table({
        "ip": [f"{rng.randint(1, 3)}.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(n)],
        "gps": [f"{30 + rng.random():.5f},{104 + rng.random() * 3:.5f}" for _ in range(n)],
        "carrier": [rng.choice(["中国移动", "中国联通", "中国电信", None]) for _ in range(n)],
    })
    ds = Dataset.model_validate({"category": "device", "location": "x", "format": "parquet", "columns": {
        "ip": {"kind": "quasi", "op": {"op": "generalize_ip", "v4_prefix": 24}},
        "gps": {"kind": "quasi", "op": {"op": "generalize_gps", "decimals": 2}},
        "carrier": {"kind": "quasi", "op": "keep"}}})
    out, _ = apply_policy(raw, ds, key=b"k" * 32, analyzer=None)
    released, rep = generalize_to_k(raw, out, ds, 5, 0.1, key=b"k" * 32)
    sizes = collections.Counter(zip(*(released.column(c).to_pylist() for c in ("ip", "gps", "carrier"))))
    assert min(sizes.values()) == rep.k_reached >= 5
    assert rep.classes == len(sizes) and released.num_rows == n - rep.suppressed
    assert rep.class_sizes["50+"] == sum(s for s in sizes.values() if s >= 50)


def test_columns_to_read_keeps_what_a_release_needs():
    from transforms.policy import columns_to_read

    ds = Dataset.model_validate({"category": "device", "location": "x", "format": "parquet", "subject_key": "u",
                                 "row_key": "id", "event_time": "ts", "columns": {
                                     "u": {"kind": "direct", "op": "pseudonymize"},
                                     "imei": {"kind": "direct", "op": "drop"},
                                     "ts": {"kind": "quasi", "op": {"op": "truncate_time", "to": "day"}},
                                     "id": {"kind": "other", "op": "drop"}}})
    assert columns_to_read(ds) == ["u", "ts", "id"]
    assert columns_to_read(ds, row_key=False) == ["u", "ts"]
