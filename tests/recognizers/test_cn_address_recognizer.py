"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('收货地址：成都市武侯区人民南路四段12号3栋502室，电话', ['成都市武侯区人民南路四段12号3栋502室']),  # full address
    ('住在北京', ['北京']),  # a place name alone
    ('超市门口的马路', []),  # 市 and 路 alone are not an address
    ('成都市', ['成都市']),  # a known city with its suffix
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'CN_ADDRESS') == expected
