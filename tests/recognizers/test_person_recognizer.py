"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('你好，我是李雷，我的电话', ['李雷']),  # cue before
    ('请联系王建国经理', ['王建国']),  # title after
    ('打款户名Karen Blanchard', ['Karen Blanchard']),  # English name after a Chinese cue
    ('Hi, this is Jay Taylor, call me', ['Jay Taylor']),  # English cue
    ('谢谢你', []),  # doubled character
    ('黄金价格上涨', []),  # an ordinary word starting with a surname
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'PERSON') == expected
