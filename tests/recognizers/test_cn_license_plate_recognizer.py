"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('车牌号粤B12345，违停', ['粤B12345']),  # ordinary plate
    ('京A·12345在路口', ['京A·12345']),  # with a separating dot
    ('新能源车京AD12345', ['京AD12345']),  # small new-energy plate: D first
    ('大巴粤B12345F进站', ['粤B12345F']),  # large new-energy plate: F last
    ('教练车粤B1234学', ['粤B1234学']),  # learner plate
    ('京ABCDE1', []),  # too many letters
    ('京I12345', []),  # I is no plate letter
    ('苏A123456789', []),  # inside a longer run
    ('型号是京A12', []),  # too short
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'CN_LICENSE_PLATE') == expected
