"""The operators' one registry: every operator a catalog may declare (configs/operators.py) has one implementation
(transforms/operators/), whose keyword parameters are exactly the declaration's plus the context it asks for, and a
row in the table below. Adding an operator without all three fails here."""

import inspect
from datetime import datetime
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from configs.operators import (
    OPERATORS,
    BirthYearBand,
    Bucket,
    Drop,
    GeneralizeDevice,
    GeneralizeGps,
    GeneralizeIp,
    GeneralizePlace,
    Keep,
    Mask,
    Pseudonymize,
    RedactEntities,
    Suppress,
    TruncateTime,
    declare,
)
from transforms.operators import IMPLEMENTATIONS, apply_operator, implements
from transforms.synth import make_resident_id

KEY = b"k" * 32
SH = ZoneInfo("Asia/Shanghai")
RID = make_resident_id("110105", datetime(1987, 3, 9).date(), 123)

#: (declared operator, input column, expected output column): one row per operator at least, nulls included.
TABLE = [
    (Keep(), pa.array([304, None, 500]), [304, None, 500]),  # the type is kept too
    (Drop(), pa.array(["13812345678", None]), None),  # the column is not released
    (Pseudonymize(length=8, prefix="u_"), pa.array(["u1", None, "u1"]), "tokens"),
    (Mask(keep_first=3, keep_last=2), pa.array(["13812345678", None, "ab"]), ["138******78", None, "**"]),
    (GeneralizeIp(v4_prefix=16, v6_prefix=32), pa.array(["36.112.4.9", "2408:8207:1:2::1", "nope", None]),
     ["36.112.0.0/16", "2408:8207::/32", None, None]),
    (GeneralizeGps(decimals=1), pa.array(["30.5728,104.0668", None, "x"]), ["30.5,104.0", None, None]),
    (GeneralizePlace(to="city"), pa.array(["30.5728,104.0668", None, "x", "48.8566,2.3522"]),
     ["成都市", None, None, None]),  # Paris is in no Chinese division
    (TruncateTime(to="day"), pa.array(["2026-10-03T23:59:00+08:00", None]),
     [datetime(2026, 10, 3), None]),  # local wall-clock time, no time zone: ts::DATE = dt in any session
    (GeneralizeDevice(level=1), pa.array(["iPhone 15 Pro", "iOS 17.2", "Nokia 3310", None]),
     ["Apple", "iOS 17", "other", None]),
    (Bucket(width=60), pa.array([75, 0, None]), [60, 0, None]),
    (BirthYearBand(width=10), pa.array([RID, "110105198703091234", None]), ["1980-1989", None, None]),
    (RedactEntities(), pa.array(["call 13812345678 now", None]), ["call <CN_MOBILE> now", None]),
    (Suppress(), pa.array(["a", None]), [None, None]),
]


def test_every_declared_operator_is_implemented_and_in_the_table():
    assert set(IMPLEMENTATIONS) == set(OPERATORS)
    assert {spec.op for spec, _, _ in TABLE} == set(OPERATORS)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_an_implementation_takes_its_declarations_parameters_and_context(name):
    impl = IMPLEMENTATIONS[name]
    params = inspect.signature(impl.fn).parameters
    keyword = {p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY}
    declared = set(OPERATORS[name].model_fields) - {"op"}
    assert keyword == declared | set(impl.needs), name
    assert list(params)[0] == "values"


@pytest.mark.parametrize("spec, values, expected", TABLE, ids=[s.op for s, _, _ in TABLE])
def test_table(spec, values, expected, analyzer):
    out = apply_operator(spec, values, key=KEY, tz="Asia/Shanghai", analyzer=analyzer)
    if expected is None:
        assert out is None
    elif expected == "tokens":
        got = out.to_pylist()
        assert got[1] is None and got[0] == got[2] and got[0].startswith("u_") and len(got[0]) == 10
    else:
        assert out.to_pylist() == expected


def test_keep_keeps_the_arrow_type():
    values = pa.array([1, 2], pa.int16())
    assert apply_operator(Keep(), values).type == pa.int16()


def test_a_name_declared_or_implemented_twice_or_never_declared_is_refused_at_import():
    with pytest.raises(ValueError, match="operator 'mask' is registered twice"):
        declare(type("Mask2", (Mask,), {}))
    with pytest.raises(ValueError, match="operator implementation 'mask' is registered twice"):
        implements("mask")(lambda values: values)
    with pytest.raises(ValueError, match="no declaration"):
        implements("shuffle")(lambda values: values)
    with pytest.raises(ValueError, match="unknown context"):
        implements("keep", needs=("clock",))(lambda values: values)
    assert set(IMPLEMENTATIONS) == set(OPERATORS)  # nothing was registered by the refusals


def test_ladders_are_declared_with_the_operator():
    assert [o.describe() for o in GeneralizeIp(v4_prefix=24, v6_prefix=48).ladder()] == [
        "generalize_ip(v4_prefix=24, v6_prefix=48)", "generalize_ip(v4_prefix=16, v6_prefix=32)",
        "generalize_ip(v4_prefix=8, v6_prefix=16)", "suppress"]
    assert [o.op for o in Pseudonymize().ladder()] == ["pseudonymize"]  # nothing to walk
    assert [o.op for o in Keep().ladder()] == ["keep", "suppress"]
