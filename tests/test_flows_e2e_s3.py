"""The end-to-end tests of tests/test_flows_e2e.py that check the nightly's run, on an s3:// lake (a bucket of the test
S3 server): a file of its own so that the local and the S3 nightly run on two test workers at once."""

import pytest

from tests import test_flows_e2e as e2e

globals().update({name: getattr(e2e, name) for name in e2e.NIGHTLY_TESTS})


@pytest.fixture(scope="module", params=["s3"])
def nightly_run(request, tmp_path_factory, prefect_harness):
    yield from e2e.run_nightly(request.param, request, tmp_path_factory)
