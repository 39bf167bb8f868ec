"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('版本号 v10.2.3.4 已发布', []),  # a version string with its v
    (':smiling_eyes::beaming_face:', []),  # emoji short codes, not IPv6 (e::bea)
    ('::1 is loopback', ['::1']),
    ('登录IP为192.168.1.20的用户', ['192.168.1.20']),  # glued to Chinese
    ('client 2408:8a1:3f::12:ab said', ['2408:8a1:3f::12:ab']),  # IPv6
    ('版本1.2.3.4.5发布', []),  # version string
    ('时间12:30:45', []),  # a time is not IPv6
    ('host 62.99.164.82.sh.example.net up', []),  # reverse-DNS name
    ('256.1.1.1', []),  # octet out of range
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'IP_ADDRESS') == expected
