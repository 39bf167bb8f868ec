"""Golden files: a release partition's ``manifest.json`` and ``report.md`` as recipients read them, so that any
change of their format is a visible diff under ``tests/data/golden/``. Values that differ from run to run (times,
temporary paths, hashes of the catalog path and of Parquet bytes, which name the writer's version) are replaced by
placeholders; everything else (structure, counts, the gate's evidence, k, risks) must match exactly.

Regenerate after an intended change with ``PIIFLOW_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and review the diff.
"""

import json
import os
import re
from datetime import date
from pathlib import Path

import pytest

from configs.catalog import load_catalog
from configs.settings import Settings
from flows.deidentify import plan_dates, release_key, release_partition
from tests.helpers import make_lake, meta_of

GOLDEN = Path(__file__).parent / "data" / "golden"
DT = date(2026, 10, 3)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One partition of each kind of input: call records (CSV) and device events (Parquet), published."""
    cat_path, _ = make_lake(tmp_path_factory.mktemp("golden"), rows=1500, seed=11)
    catalog = load_catalog(cat_path)
    settings = Settings()
    out = {}
    for release, dataset in (("crm_research", "call_records"), ("analytics", "device_events")):
        key = release_key(settings, catalog.releases[release].recipient)
        paths = plan_dates(catalog, dataset, DT, DT)[DT]
        res = release_partition(catalog, release, dataset, DT, paths, key, settings)
        assert res.status == "published", res.reasons
        out[dataset] = (catalog, Path(res.path))
    return out


def normalized_manifest(catalog, folder: Path) -> dict:
    m = json.loads((meta_of(folder) / "manifest.json").read_text(encoding="utf-8"))
    for field in ("policy_hash", "input_fingerprint"):
        assert _HEX64.match(m[field]), field
        m[field] = f"<{field}>"
    assert m["created_at"] and m["seconds"] >= 0
    m["created_at"], m["seconds"] = "<created_at>", "<seconds>"
    for item in m["inputs"] + m["outputs"]:
        assert _HEX64.match(item["sha256"])
        assert not item["path"].startswith("/")  # no internal path reaches a recipient
        item["sha256"] = "<sha256>"
        if item["path"].endswith(".parquet") and "bytes" in item:
            item["bytes"] = "<bytes>"  # Parquet bytes carry the writer's version
    return m


def normalized_report(catalog, folder: Path) -> str:
    return (meta_of(folder) / "report.md").read_text(encoding="utf-8").replace(catalog.policy_hash[:12], "<policy>")


def _compare(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PIIFLOW_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with PIIFLOW_UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8"), f"{name} changed; if intended, regenerate (see module doc)"


@pytest.mark.parametrize("dataset", ["call_records", "device_events"])
def test_manifest_matches_its_golden_file(published, dataset):
    catalog, folder = published[dataset]
    text = json.dumps(normalized_manifest(catalog, folder), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    _compare(f"{dataset}.manifest.json", text)


@pytest.mark.parametrize("dataset", ["call_records", "device_events"])
def test_report_matches_its_golden_file(published, dataset):
    catalog, folder = published[dataset]
    _compare(f"{dataset}.report.md", normalized_report(catalog, folder))
