"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('头像https://cdn.im-example.cn/a/1.jpg，好', ['https://cdn.im-example.cn/a/1.jpg']),  # stops at Chinese comma
    ('见www.example.com', []),  # no scheme
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'URL') == expected
