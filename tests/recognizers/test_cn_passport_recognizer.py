"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('护照号E12345678，有效期', ['E12345678']),  # e-passport, with its cue
    ('passport no. EA1234567', ['EA1234567']),  # the newer letter-and-seven-digits form
    ('护照G12345678', ['G12345678']),  # the older form
    ('订单号E12345678已发货', []),  # the same shape with no passport cue
    ('护照号E123456789', []),  # nine digits
    ('护照号EI1234567', []),  # I is not used
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'CN_PASSPORT') == expected
