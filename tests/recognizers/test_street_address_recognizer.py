"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('Please ship it to 221 Baker Street, London', ['221 Baker Street']),  # number, name, kind
    ('billing: 12 elm rd. apt 4', ['12 elm rd. apt 4']),  # lower case, abbreviated, with the apartment
    ('Filip lives on Nassaustraat 123 now', ['Nassaustraat 123']),  # a Dutch street: kind glued to the name
    ('envoyer au 48 rue Descartes', ['48 rue Descartes']),  # kind before the name
    ('ZIP: 11164', ['ZIP: 11164']),  # a postcode after its label
    ('Tom has 3 brothers and lives in a town', []),  # a number and words, no street kind
    ('GET /api/v1/users 200 OK', []),  # a log line
    ('process 1234 closed its ring buffer', []),  # kind words inside ordinary text
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'STREET_ADDRESS') == expected
