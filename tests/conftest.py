"""Shared fixtures. Prefect runs offline against one session-scoped test harness; the detection engine is built
once per session; generated lakes are small and made once per session where tests only read them."""

from __future__ import annotations

import os
import tempfile

import pytest

from flows.runtime import configure_prefect_env
from tests.helpers import ROOT, make_lake

configure_prefect_env(ROOT / ".prefect")
os.environ.setdefault("PIIFLOW_KEY", "test-master-key-0123456789-abcdefghijklmnop")
# Commands the tests start never record their runs in a developer's own `prefect server start` (flows/prefect_api.py).
os.environ.setdefault("PIIFLOW_LOCAL_PREFECT", "off")
# Audit anchors of the tests' lakes: outside every lake, never in the user's home.
os.environ.setdefault("PIIFLOW_AUDIT_ANCHOR_DIR", tempfile.mkdtemp(prefix="piiflow-test-anchors-"))


@pytest.fixture(scope="session")
def analyzer():
    from transforms.detection import build_analyzer

    return build_analyzer()


@pytest.fixture(scope="session")
def release_analyzer():
    """The recall-first engine that redacts releases and re-scans them (``release_score_threshold``)."""
    from configs.settings import Settings
    from transforms.detection import build_analyzer

    return build_analyzer(threshold=Settings().release_score_threshold)


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    from flows.runtime import direct_run_settings

    with prefect_test_harness(server_startup_timeout=180), direct_run_settings():
        yield


@pytest.fixture(scope="session")
def small_lake(tmp_path_factory):
    """A read-only generated lake shared by tests that do not modify it."""
    return make_lake(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 endpoint (moto's standalone server) on 127.0.0.1 for this test process; stopped at the end."""
    from tests.s3server import s3_server as start

    with start() as server:
        yield server


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The S3 server, with the standard AWS environment set for this test (and its child processes)."""
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    yield s3_server
