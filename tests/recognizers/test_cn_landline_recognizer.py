"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('座机028-86048320转分机', ['028-86048320']),  # area code and dash
    ('电话(010)62345678', ['(010)62345678']),  # bracketed area code
    ('电话：0755 2345 6789', ['0755 2345 6789']),  # spaces
    ('版本号 1.028.8604', []),  # version string
    ('编号12028860483201', []),  # inside a longer digit run
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'CN_LANDLINE') == expected
