"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('IMEI:358751101234561', ['358751101234561']),  # Luhn-valid, known prefix
    ('IMEI:358751101234562', []),  # Luhn fails
    ('流水号123456789012347', []),  # Luhn-valid but unknown prefix
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'IMEI') == expected
