"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('收货地址：成都市武侯区人民南路四段12号3栋502室，电话', ['成都市武侯区人民南路四段12号3栋502室']),  # full address
    ('住在北京', []),  # a place name alone is a LOCATION (below), not an address
    ('超市门口的马路', []),  # 市 and 路 alone are not an address
    ('成都市', []),  # ... with its suffix too
    ('比如在中关村工作走到四号线很近', ['中关村']),  # a place name from jieba's dictionary
    ('湖北银监局已正式批准', []),  # a place naming an organisation
    ('作品：《东京审判》等', []),  # a place inside a title
    ('蓝牙耳机已连接', []),  # jieba tags 蓝牙 as a place; it is not one
    ('出站后沿着溪月路一直走', ['溪月路']),  # a name jieba does not know, then a place-kind word
    ('我们住在晴川小区三期', ['晴川小区']),  # ... stopping at function words on the left (在)
    ('走到这条路的尽头', []),  # 这条 is no name
    ('这个小区环境好', []),  # nor is 这个
    ('京东订单123456789012', []),  # a company jieba tags as a place
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'CN_ADDRESS') == expected


@pytest.mark.parametrize("text, expected", [('住在北京', ['北京']), ('成都市', ['成都市'])])
def test_a_place_alone_is_a_location(analyzer, text, expected):
    assert found(analyzer, text, 'LOCATION') == expected
