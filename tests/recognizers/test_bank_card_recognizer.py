"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('Receiving block blk_-4980916519894289629 src', []),  # a block id in a log line
    ('added to blk_5165786360127153975 size', []),  # ... with or without its sign
    ('卡号624579018923842827', ['624579018923842827']),  # UnionPay, Luhn-valid
    ('卡号6245790189238428271', []),  # 19 digits, Luhn fails
    ('卡号6245 7901 8923 8428 27', ['6245 7901 8923 8428 27']),  # grouped digits
    ('运单号1234567812345678', []),  # no card prefix
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'BANK_CARD') == expected
