"""Clause 6.5 releases: the generalisation ladder, the gate blocking what it must (leaving the previous release
byte-identical), and piiflow's operators inside Presidio's anonymizer."""

from datetime import date

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from configs.catalog import Dataset
from configs.operators import GeneralizeIp, TruncateTime
from tests.helpers import copy_lake, make_lake
from transforms import operators as ops
from transforms.policy import apply_policy, generalize_to_k
from transforms.synth import make_resident_id

KEY = b"k" * 32


def _ds(columns):
    return Dataset.model_validate({"category": "device", "location": "x", "format": "parquet", "columns": columns})


def test_ladders_end_in_suppress_and_start_with_the_declared_operator():
    assert [o.to for o in TruncateTime(to="day").ladder()[:-1]] == ["day", "week", "month"]
    assert TruncateTime(to="day").ladder()[-1].op == "suppress"
    ips = GeneralizeIp(v4_prefix=24, v6_prefix=48).ladder()
    assert [o.v4_prefix for o in ips[:-1]] == [24, 16, 8]  # then hidden (null), not 0.0.0.0/0


def test_generalize_to_k_walks_the_ladder_before_suppressing():
    rng = __import__("random").Random(1)
    n = 400
    raw = pa.table({"ip": [f"36.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(n)],
                    "carrier": [rng.choice(["中国移动", "中国联通", "中国电信"]) for _ in range(n)]})
    ds = _ds({"ip": {"kind": "quasi", "op": {"op": "generalize_ip", "v4_prefix": 24}},
              "carrier": {"kind": "quasi", "op": "keep"}})
    out, _ = apply_policy(raw, ds, key=KEY, analyzer=None)
    released, rep = generalize_to_k(raw, out, ds, 5, 0.02, key=KEY)
    assert rep.generalisation["ip"] == "generalize_ip(v4_prefix=16, v6_prefix=32)"  # /24 was not enough
    assert rep.generalisation["carrier"] == "keep"
    assert rep.k_reached >= 5 and rep.within_budget and rep.suppressed <= 0.02 * n
    assert set(released.column("ip").to_pylist()) == {f"36.{i}.0.0/16" for i in range(4)}


def test_unreachable_k_is_reported_out_of_budget():
    raw = pa.table({"a": ["x", "y", "z"]})
    ds = _ds({"a": {"kind": "quasi", "op": "keep"}})
    out, _ = apply_policy(raw, ds, key=KEY, analyzer=None)
    _, rep = generalize_to_k(raw, out, ds, 5, 0.0, key=KEY)
    assert not rep.within_budget and rep.suppressed == 3


@settings(max_examples=40)
@given(st.lists(st.dates(min_value=date(1930, 1, 1), max_value=date(2010, 12, 31)), min_size=1, max_size=20),
       st.sampled_from([5, 10, 20]))
def test_birth_year_band_never_shows_the_id_and_is_monotone(births, width):
    ids = [make_resident_id("510107", b, 123) for b in births]
    fine = ops.birth_year_band(pa.array(ids), width=width).to_pylist()
    coarse = ops.birth_year_band(pa.array(ids), width=width * 5).to_pylist()
    for b, i, f, c in zip(births, ids, fine, coarse):
        lo, hi = (int(x) for x in f.split("-"))
        assert lo <= b.year <= hi and i not in f
        clo, chi = (int(x) for x in c.split("-"))
        assert clo <= lo and hi <= chi
    assert ops.birth_year_band(pa.array(["510107199003071237", None]), width=10).to_pylist() == [None, None]


def test_gps_grid_in_kilometres():
    a, b = ops.generalize_gps(pa.array(["30.5728,104.0668", "30.5731,104.0671"]), grid_km=10).to_pylist()
    assert a == b and a != "30.5728,104.0668"


def test_presidio_anonymizer_uses_piiflow_operators():
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    from transforms.presidio_operators import register_operators

    engine = AnonymizerEngine()
    register_operators(engine)
    text = "IP 36.112.4.9 phone 13812345678"
    out = engine.anonymize(text, [RecognizerResult("IP_ADDRESS", 3, 13, 0.9), RecognizerResult("CN_MOBILE", 20, 31, 0.9)],
                           {"IP_ADDRESS": OperatorConfig("piiflow_generalize_ip", {"v4_prefix": 16}),
                            "CN_MOBILE": OperatorConfig("piiflow_pseudonymize", {"key": "k" * 32})}).text
    token = ops.pseudonymize(pa.array(["13812345678"]), key=b"k" * 32).to_pylist()[0]
    assert out == f"IP 36.112.0.0/16 phone {token}"


@pytest.fixture(scope="module")
def released_lake(tmp_path_factory, prefect_harness):
    from flows.deidentify import deidentify_flow
    base = tmp_path_factory.mktemp("gate")
    cat_path, _ = make_lake(base, rows=600, start=date(2026, 7, 1), end=date(2026, 7, 3), seed=55)
    deidentify_flow(str(cat_path), "crm_research")
    return base


def _snapshot(root):
    return {p: p.read_bytes() for p in (root / "releases").rglob("*") if p.is_file()}


@pytest.mark.parametrize("edit, message", [
    # free text declared as harmless and kept: the re-scan finds the planted identifiers
    (('text:            {kind: free_text, op: redact_entities, description: "the message text"}',
      "text:            {kind: other, op: keep}"),
     "chat_messages.text: re-scan found"),
    # a k no partition can reach without suppressing everything
    (("recipient: crm-research", "recipient: crm-research\n    max_suppression: 0.0"), None),
])
def test_gate_blocks_and_previous_release_stays_byte_identical(released_lake, tmp_path, edit, message):
    from configs.errors import ReleaseBlocked
    from flows.deidentify import deidentify_flow
    work = tmp_path / "lake"
    copy_lake(released_lake, work)
    cat = work / "catalog.yaml"
    text = cat.read_text().replace(*edit)
    if message is None:
        text = text.replace("k_anonymity: 5\n    retention: 180d", "k_anonymity: 100000\n    retention: 180d")
        message = "unreachable"
    cat.write_text(text)
    before = _snapshot(work)
    with pytest.raises(ReleaseBlocked, match=message):
        deidentify_flow(str(cat), "crm_research")
    assert _snapshot(work) == before


def test_hidden_is_a_typed_null_so_a_day_of_k_rows_fully_hidden_is_one_class():
    """Five rows and k=5 that differ in which quasi-identifiers are missing: hidden values are nulls of the
    column's type (no ``*``, no ``0.0.0.0/0`` that a null check would count as data), so with every
    quasi-identifier hidden the five rows are one class and are released; a day with fewer rows than k is released
    empty."""
    from configs.catalog import Release
    from transforms.gate import judge

    ds = _ds({"ip": {"kind": "quasi", "op": {"op": "generalize_ip", "v4_prefix": 24}},
              "carrier": {"kind": "quasi", "op": "keep"}, "n": {"kind": "quasi", "op": {"op": "bucket", "width": 10}}})
    raw = pa.table({"ip": ["36.1.2.3", "36.1.2.4", "58.9.9.9", None, "1.2.3.4"],
                    "carrier": ["移动", "联通", "电信", "移动", None], "n": [1, 25, 37, 48, None]})
    out, _ = apply_policy(raw, ds, key=KEY, analyzer=None)
    released, rep = generalize_to_k(raw, out, ds, 5, 0.15, key=KEY)
    assert released.num_rows == 5 and rep.within_budget and rep.k_reached == 5
    assert {c: released.column(c).null_count for c in ("ip", "carrier", "n")} == {"ip": 5, "carrier": 5, "n": 5}
    assert released.schema.field("n").type == pa.int64() and released.schema.field("ip").type == pa.string()
    gate, reasons = judge("logs", Release(recipient="r", purpose="analytics", datasets=("logs",)), [], [], [], rep)
    assert reasons == [] and "no_class_reaches_k" not in gate["k_anonymity"]
    wide = pa.table({"ip": [f"36.1.{i}.1" for i in range(40)], "carrier": [f"c{i}" for i in range(40)]})
    out, _ = apply_policy(wide, ds, key=KEY, analyzer=None)
    _, rep = generalize_to_k(wide, out, ds, 50, 0.15, key=KEY)  # 40 rows, k=50: fewer rows than k
    assert judge("logs", Release(recipient="r", purpose="analytics", datasets=("logs",), k_anonymity=50), [], [], [], rep)[0]["k_anonymity"][
        "fewer_rows_than_k"]


def test_the_summary_names_columns_a_day_had_to_hide_or_empty():
    """A column suppressed on some day, or generalised to a level that keeps nothing (an IP's /0), is named; a column
    that kept information is not."""
    from types import SimpleNamespace

    from transforms.gate import PartitionResult, release_summary

    def part(dt, gen, loss):
        return PartitionResult("device_events", dt, "published", 10, 10, gate={"k_anonymity": {
            "generalisation": gen, "information_loss_by_column": loss}})

    results = [part("2026-11-01", {"gps": "suppress", "ipv4": "generalize_ip(v4_prefix=8)", "carrier": "keep"},
                    {"gps": 1.0, "ipv4": 0.2, "carrier": 0.0}),
               part("2026-11-02", {"gps": "generalize_gps(decimals=0)", "ipv4": "generalize_ip(v4_prefix=0)",
                                   "carrier": "keep"}, {"gps": 0.3, "ipv4": 1.0, "carrier": 0.0})]
    summary = release_summary("analytics", SimpleNamespace(recipient="r"), "releases/analytics", results)
    assert summary["hidden_columns"] == ["device_events.gps", "device_events.ipv4"]


def test_what_the_gate_blocks_is_what_the_recognizers_declare():
    """The gate's leak list is derived from the recognizers (each declares what its entities are to a release), so a
    new recognizer cannot be left out of it; one that declares nothing is refused when it registers."""
    from transforms.detection import DIRECT_ENTITIES, NOT_REDACTED
    from transforms.recognizers import RECOGNIZERS, PiiflowRecognizer, entity_roles, register

    roles = entity_roles()
    assert {e for cls in RECOGNIZERS.values() for e in cls.ENTITY_ROLES} == set(roles)
    assert DIRECT_ENTITIES == {e for e, r in roles.items() if r == "direct"}
    assert NOT_REDACTED == {"LOCATION"} and roles["URL"] == "redacted"
    assert {"PERSON", "CN_MOBILE", "CN_RESIDENT_ID", "NICKNAME", "CN_ADDRESS"} <= DIRECT_ENTITIES

    class UndeclaredRecognizer(PiiflowRecognizer):
        SUPPORTED_ENTITY = "SOMETHING_NEW"
        PATTERNS = [("x", r"x", 0.5)]

    with pytest.raises(ValueError, match="UndeclaredRecognizer.*expected ENTITY_ROLES"):
        register(UndeclaredRecognizer)
    assert "UndeclaredRecognizer" not in RECOGNIZERS


def test_linking_counts_rows_one_to_one_on_shared_columns_at_the_coarser_writing():
    """Two releases of one table: one keeps duration exact, the other buckets it; pseudonyms never compared."""
    from configs.catalog import load_catalog  # noqa: F401  (the catalog's release view is tested below)
    from configs.operators import Bucket, Keep, Pseudonymize
    from transforms.linking import linked_rows

    raw = pa.table({"user": [f"u{i}" for i in range(8)], "kind": ["a"] * 4 + ["b"] * 4,
                    "ms": [100, 1100, 2100, 3100, 100, 150, 5000, 5100]})
    released = pa.table({"user": ops.pseudonymize(raw.column("user"), key=KEY), "kind": raw.column("kind"),
                         "ms": raw.column("ms")})
    exact = linked_rows(raw, released, {"kind": Keep(), "ms": Keep()}, {"kind": Keep(), "ms": Keep()}, "other",
                        key=KEY, tz="UTC")
    assert (exact.linked, exact.rows) == (8, 8) and exact.without == {"kind": 0.75, "ms": 0.0}
    coarse = linked_rows(raw, released, {"kind": Keep(), "ms": Keep()}, {"kind": Keep(), "ms": Bucket(width=1000)},
                         "other", key=KEY, tz="UTC")
    # buckets: a:0,1,2,3 (each alone: 4 linked); b:0,0,5,5 (pairs: none linked)
    assert coarse.linked == 4 and "4 of 8" in coarse.reason("t", 0.05)
    from transforms.linking import shared_columns
    ds = _ds({"user": {"kind": "direct", "op": {"op": "pseudonymize"}}, "kind": {"kind": "other", "op": "keep"},
              "ms": {"kind": "other", "op": "keep"}, "gone": {"kind": "other", "op": "drop"}})
    assert shared_columns(ds, ds, ["user", "kind", "ms", "gone"]) == ["kind", "ms"]
    assert Pseudonymize().op in __import__("transforms.linking", fromlist=["KEYED"]).KEYED


def test_two_releases_of_one_dataset_cannot_be_joined_row_by_row(tmp_path, prefect_harness):
    """The demo's analytics and marketing both release usage_events. Here analytics drops ``client`` (so marketing
    holds something analytics lacks). With duration_ms exact in both, the gate blocks (naming the columns and the
    one to coarsen) and nothing is published; with marketing's own operator for it (``releases.marketing.columns``:
    dropped) both publish and their manifests record the linked share under the bound. In the demo as it is,
    marketing holds nothing analytics lacks: a link tells no one anything, and the manifests say so (contained)."""
    import json

    from configs.errors import PolicyError, ReleaseBlocked
    from flows.deidentify import deidentify_flow
    cat_path, _ = make_lake(tmp_path / "lake", rows=1500, start=date(2026, 7, 1), end=date(2026, 7, 2), seed=5)
    demo = cat_path.read_text()
    own = "        duration_ms: drop "
    assert own in demo
    analytics_own = "    max_suppression: 0.15"
    text = demo.replace(analytics_own, analytics_own + "\n    columns:\n      usage_events:\n        client: drop", 1)
    cat_path.write_text(text.replace(own, "        client: keep "))
    with pytest.raises(ReleaseBlocked, match=r"can be matched one-to-one with release 'analytics' on ts, event_type, "
                                             r"duration_ms.*coarsen duration_ms"):
        deidentify_flow(str(cat_path), "marketing")
    assert not (tmp_path / "lake" / "releases" / "marketing" / "usage_events").exists()

    def linking(release):
        return [json.loads(m.read_text())["gate"]["linking"] for m in
                (tmp_path / "lake" / "releases" / release / "_meta" / "usage_events").glob("dt=*/manifest.json")]

    cat_path.write_text(text)
    deidentify_flow(str(cat_path), "analytics")
    deidentify_flow(str(cat_path), "marketing")
    for release in ("analytics", "marketing"):
        for g in linking(release):
            other = g["others"][0]
            assert other["other"] == ("marketing" if release == "analytics" else "analytics")
            assert other["linked_share"] <= g["max_linked_share"] == 0.05 and not other["contained"]
    dictionary = (tmp_path / "lake" / "releases" / "marketing" / "_meta" / "dictionary.md").read_text()
    assert "duration_ms" not in dictionary and "event_type" in dictionary
    cat_path.write_text(demo)
    deidentify_flow(str(cat_path), "marketing")
    assert all(g["others"][0]["contained"] for g in linking("marketing"))
    text = demo
    # a release's own operator for a direct identifier, or for a column the dataset lacks: refused at load
    from configs.catalog import load_catalog
    for bad, says in (("        user_id: keep ", "direct identifier"), ("        no_such: keep ", "no_such")):
        cat_path.write_text(text.replace(own, bad))
        with pytest.raises(PolicyError, match=says):
            load_catalog(cat_path)
