"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('位置30.572800,104.066800附近', ['30.572800,104.066800']),  # glued to Chinese
    ('坐标 30.5728，104.0668', ['30.5728，104.0668']),  # full-width comma
    ('比分1.5,2.5', []),  # too few decimals
    ('95.12345,104.0668', []),  # latitude over 90
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'GPS_COORDINATE') == expected
