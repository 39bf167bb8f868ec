"""Shared fixtures. Prefect runs offline against one session-scoped test harness; the detection engine is built
once per session; generated lakes are small and made once per session where tests only read them."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from flows.runtime import configure_prefect_env

ROOT = Path(__file__).resolve().parents[1]
configure_prefect_env(ROOT / ".prefect")
os.environ.setdefault("PIIFLOW_KEY", "test-master-key-0123456789-abcdefghijklmnop")

DEMO_CATALOG = ROOT / "configs" / "demo.yaml"


@pytest.fixture(scope="session")
def analyzer():
    from transforms.detection import build_analyzer

    return build_analyzer()


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    from flows.runtime import direct_run_settings

    with prefect_test_harness(server_startup_timeout=180), direct_run_settings():
        yield


def make_lake(root: Path, *, rows: int = 1500, start=date(2026, 10, 1), end=date(2026, 10, 6), seed: int = 11):
    """Generate a small demo lake at ``root``; return (catalog path, generate result)."""
    from configs.catalog import load_catalog
    from flows.generate import generate_lake
    from transforms.synth import LakeSpec

    text = DEMO_CATALOG.read_text(encoding="utf-8").replace("root: ../demo-lake", "root: .")
    root.mkdir(parents=True, exist_ok=True)
    cat_path = root / "catalog.yaml"
    cat_path.write_text(text, encoding="utf-8")
    catalog = load_catalog(cat_path)
    res = generate_lake(catalog, LakeSpec(seed=seed, rows=rows, start=start, end=end))
    return cat_path, res


@pytest.fixture(scope="session")
def small_lake(tmp_path_factory):
    """A read-only generated lake shared by tests that do not modify it."""
    return make_lake(tmp_path_factory.mktemp("lake"))
