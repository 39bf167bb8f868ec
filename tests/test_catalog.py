"""The catalog loader rejects a bad file before any data is touched, naming file, key, expectation and finding."""

import copy
from pathlib import Path

import pytest
import yaml

from configs.catalog import catalog_from_dict, load_catalog, parse_duration
from configs.errors import PolicyError

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
RAW = yaml.safe_load(DEMO.read_text(encoding="utf-8"))


def _load(mutate) -> str:
    raw = copy.deepcopy(RAW)
    mutate(raw)
    with pytest.raises(PolicyError) as e:
        catalog_from_dict(raw, source=Path("demo.yaml"))
    return str(e.value)


def _set(path: str, value):
    def mutate(raw):
        node = raw
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    return mutate


@pytest.mark.parametrize("mutate, message", [
    # an operator name that does not exist
    (_set("datasets.app_logs.columns.ip.op", "hashh"),
     "demo.yaml: datasets.app_logs.columns.ip.op: unknown operator 'hashh'; expected one of keep, drop, pseudonymize, "
     "mask, generalize_ip, generalize_gps, generalize_place, truncate_time, generalize_device, bucket, birth_year_band, "
     "redact_entities"),
    # a retention with a letter O where a zero belongs
    (_set("datasets.app_logs.retention", "18O d"),
     "demo.yaml: datasets.app_logs.retention: expected a duration like '180d' (a whole number and one of h, d, w, y), "
     "found '18O d'"),
    # a subject key that is not a declared column
    (_set("datasets.app_logs.subject_key", "uid"),
     "demo.yaml: datasets.app_logs.subject_key: expected one of the declared columns (request_id, ts, user_id, ip, "
     "user_agent, carrier, language, path, query, status), found 'uid'"),
    # a release naming a dataset that is not declared
    (_set("releases.analytics.datasets", ["app_logs", "web_logs"]),
     "demo.yaml: releases.analytics.datasets: expected names of declared datasets (registration, device_events, "
     "app_logs, usage_events, call_records, chat_messages, enterprise_contacts), found 'web_logs'"),
    # an operator parameter of the wrong type
    (_set("datasets.app_logs.columns.ip.op", {"op": "generalize_ip", "v4_prefix": "wide"}),
     "demo.yaml: datasets.app_logs.columns.ip.op.v4_prefix: expected an integer, found 'wide'"),
    # an operator parameter out of range
    (_set("datasets.app_logs.columns.ip.op", {"op": "generalize_ip", "v4_prefix": 40}),
     "demo.yaml: datasets.app_logs.columns.ip.op.v4_prefix: expected at most 32, found 40"),
    # a dataset stored outside the allowed regions
    (_set("datasets.app_logs.region", "us-east-1"),
     "demo.yaml: datasets.app_logs.region: expected a region matching allowed_regions ['cn-*'], found 'us-east-1'"),
    # a lake outside its own allowed regions
    (_set("lake.region", "eu-west-1"),
     "demo.yaml: lake.region: expected a region matching allowed_regions ['cn-*'], found 'eu-west-1'"),
    # a release written outside the allowed regions
    (_set("releases.analytics.region", "us-west-2"),
     "demo.yaml: releases.analytics.region: expected a region matching allowed_regions ['cn-*'], found 'us-west-2'"),
    # an unknown column kind
    (_set("datasets.app_logs.columns.ip.kind", "secret"),
     "demo.yaml: datasets.app_logs.columns.ip.kind: expected 'direct', 'quasi', 'free_text', 'sensitive' or 'other', "
     "found 'secret'"),
    # a misspelt key
    (_set("datasets.app_logs.colour", "red"),
     "demo.yaml: datasets.app_logs.colour: unknown key (found 'red'); check the spelling against the catalog reference"),
    # a text dataset without its file pattern
    (_set("datasets.app_logs.files", None),
     "demo.yaml: datasets.app_logs.files: expected a file name pattern such as 'app-{dt}.jsonl.gz' for format "
     "'jsonl', found nothing"),
])
def test_bad_catalog_is_rejected_with_its_place(mutate, message):
    assert _load(mutate) == message


def test_only_the_first_problem_is_spelled_out_and_the_rest_counted():
    def two(raw):
        raw["datasets"]["app_logs"]["retention"] = "soon"
        raw["datasets"]["device_events"]["retention"] = "later"
    assert _load(two).endswith("(and 1 more)")


def test_yaml_syntax_error_names_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lake: {root: x\ndatasets: [\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"bad\.yaml: not valid YAML at line \d+"):
        load_catalog(bad)


def test_missing_file(tmp_path):
    with pytest.raises(PolicyError, match="cannot read the catalog"):
        load_catalog(tmp_path / "nope.yaml")


def test_demo_catalog_loads_frozen_with_policy_hash():
    cat = load_catalog(DEMO)
    assert cat.lake.root == (DEMO.parent / "../demo-lake").resolve()
    assert cat.datasets["app_logs"].retention.days == 30
    assert cat.datasets["app_logs"].columns["ip"].op.v4_prefix == 8
    assert cat.datasets["app_logs"].columns["user_id"].op.op == "pseudonymize"  # shorthand string form
    assert len(cat.policy_hash) == 64
    with pytest.raises(Exception):
        cat.datasets["app_logs"].retention = None  # frozen


def test_policy_hash_changes_with_any_declaration():
    a = catalog_from_dict(copy.deepcopy(RAW)).policy_hash
    raw = copy.deepcopy(RAW)
    raw["releases"]["analytics"]["k_anonymity"] = 6
    assert catalog_from_dict(raw).policy_hash != a


def test_policy_hash_ignores_where_the_lake_is_and_the_descriptions(tmp_path):
    """Two spellings of one lake (configs/demo.yaml's ../demo-lake, a catalog inside the lake's .) and a reworded
    description change no released byte: the same policy."""
    a = catalog_from_dict(copy.deepcopy(RAW)).policy_hash
    raw = copy.deepcopy(RAW)
    raw["lake"]["root"] = "/somewhere/else"
    raw["datasets"]["app_logs"]["description"] = "reworded"
    raw["datasets"]["app_logs"]["columns"]["ip"]["description"] = "reworded too"
    assert catalog_from_dict(raw).policy_hash == a


@pytest.mark.parametrize("text, days", [("180d", 180), ("2w", 14), ("1y", 365), (" 30 d ", 30)])
def test_durations(text, days):
    assert parse_duration(text).days == days


@pytest.mark.parametrize("text", ["0d", "18O d", "180", "d", "-5d", "1.5d"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_release_purpose_comes_from_the_vocabulary_and_the_datasets_allow_it(tmp_path):
    from configs.catalog import PURPOSES
    from tests.helpers import DEMO_CATALOG

    text = DEMO_CATALOG.read_text(encoding="utf-8")
    assert load_catalog(DEMO_CATALOG).releases["analytics"].purpose in PURPOSES
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("    purpose: analytics\n", "    purpose: product usage analytics\n", 1))
    with pytest.raises(PolicyError, match=r"releases\.analytics\.purpose: expected 'analytics', 'marketing'.*found 'product usage analytics'"):
        load_catalog(bad)
    head, tail = text.split("  device_events:\n", 1)
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text(head + "  device_events:\n    purposes: [security]\n" + tail)
    with pytest.raises(PolicyError, match="dataset 'device_events' may serve only security, found 'analytics'"):
        load_catalog(narrow)
