"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ("快递放到1203室门口", ["1203室"]),  # a room written alone in chat
    ("我家门牌号是1806，来了打电话", ["1806"]),  # a door number after its cue: the number, not the cue
    ("房间号：2305", ["2305"]),
    ("门牌号码为17号", ["17号"]),
    ("户型是三室两厅", []),  # a flat's layout, not an address
    ("会议在办公室开", []),
    ("第1203期节目", []),  # a number without a room word
    ("编号1234567室", []),  # a longer number is no room
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, "CN_ADDRESS") == expected
