"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('香港電話：（852）94896744', ['（852）94896744']),  # Hong Kong with country code
    ('工作請洽：+852-37411033WowMusic', ['+852-37411033']),  # glued to Latin letters
    ('台北0933905613', ['0933905613']),  # Taiwan mobile with trunk 0
    ('办公电话83192727', ['83192727']),  # 8 digits with a phone cue
    ('共83192727人', []),  # 8 digits without a cue
    ('from 163.27.187.39 (163.27.187.39)', []),  # an IP address is not a phone
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'PHONE_NUMBER') == expected
