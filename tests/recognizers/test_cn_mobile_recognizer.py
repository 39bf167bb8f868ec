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
    ('中國區安妮8618611732247星馬區', ['8618611732247']),  # country code 86 without a plus
    ('工作電話：1861060699713940087450，演员', ['1861060699713940087450']),  # two numbers written as one run
    ('编号18610606997139400874', []),  # 22 digits that are not two mobile numbers
    ('081110 130315 11823 WARN dfs.DataNode', []),  # a log time stamp and a process id, not 130315 11823
    ('手机138-12345678', ['138-12345678']),  # 3-8 grouping
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'CN_MOBILE') == expected
