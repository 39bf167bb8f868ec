"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('蓝牙3C:CD:5D:AA:BB:0C已连接', ['3C:CD:5D:AA:BB:0C']),  # colons
    ('bssid 3c-cd-5d-aa-bb-0c', ['3c-cd-5d-aa-bb-0c']),  # dashes
    ('3C:CD:5D:AA:BB', []),  # five pairs
    ('3C:CD-5D:AA:BB:0C', []),  # mixed separators
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'MAC_ADDRESS') == expected
