"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('idfa 6D92078A-8246-4BA4-AE5B-76104861E7DC', ['6D92078A-8246-4BA4-AE5B-76104861E7DC']),  # IDFA
    ('android_id: 9774d56d682e549c', ['9774d56d682e549c']),  # Android ID with context
    ('hash 9774d56d682e549c', []),  # 16 hex characters without context
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'DEVICE_ID') == expected
