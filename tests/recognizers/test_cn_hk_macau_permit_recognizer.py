"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('港澳通行证C12345678', ['C12345678']),  # Exit-Entry Permit, card form
    ('往来港澳通行证号码CA1234567', ['CA1234567']),  # the letter-and-seven-digits form
    ('回乡证H1234567800', ['H1234567800']),  # Home Return Permit with its issue digits
    ('回鄉證M12345678', ['M12345678']),  # Macau, traditional characters
    ('快递单C12345678', []),  # the same shape with no permit cue
    ('通行证C1234567', []),  # seven digits
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'CN_HK_MACAU_PERMIT') == expected
