"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('手机13812345678，谢谢', ['13812345678']),  # glued to Chinese
    ('电话+86 138-1234-5678', ['+86 138-1234-5678']),  # country code, dashes
    ('（86）138-0284-1004', ['（86）138-0284-1004']),  # bracketed country code
    ('Tel13701233057QQ', ['13701233057']),  # glued to Latin letters
    ('订单号2138123456789012', []),  # inside a longer digit run
    ('1381234567', []),  # 10 digits
    ('12812345678', []),  # second digit 2 is not a mobile prefix
    ('trace 9f13812345678a0b1c2d3e4f5a6b7c8d', []),  # inside a hexadecimal token
    ('时间戳1732780800123', []),  # 13-digit millisecond timestamp
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'CN_MOBILE') == expected
