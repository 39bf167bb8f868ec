"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('统一社会信用代码：91110108551385082Q', ['91110108551385082Q']),  # check character right
    ('纳税人识别号91440300708461136T。', ['91440300708461136T']),  # glued to Chinese on both sides
    ('信用代码91110108551385082R', []),  # wrong check character
    ('信用代码9111010855138508Q', []),  # 17 characters
    ('编号91110108551385082QA', []),  # inside a longer run
    ('编号91110108551385082O', []),  # O is not a GB 32100 character
    ('身份证号510107199003071236', []),  # a valid resident ID is not taken for a code
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'CN_USCC') == expected
