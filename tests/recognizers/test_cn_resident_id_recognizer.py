"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('身份证号510107199003071236', ['510107199003071236']),  # valid check digit
    ('身份证号51010719900307123X', []),  # wrong check character
    ('身份证号510107199003071237', []),  # wrong check digit
    ('身份证号51010719900307123', []),  # 17 digits
    ('身份证号510107199013071236', []),  # month 13
    ('订单9510107199003071236', []),  # inside a longer digit run
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'CN_RESIDENT_ID') == expected
