"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('基站460-00-12345-678901', ['460-00-12345-678901']),  # MCC-MNC-LAC-CI
    ('电话460-00-1234', []),  # too few parts
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'CELL_ID') == expected
