"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('邮箱张三abc.d@qq.com谢谢', ['abc.d@qq.com']),  # spans the address, not the Chinese word
    ('聯絡.Calvin-c2009@hotmail.com，香港', ['Calvin-c2009@hotmail.com']),  # after a full stop
    ('609602937@qq.com1861100198', ['609602937@qq.com']),  # digits right after the domain
    ('經紀人羅小姐-jessicafplydia@yahoo.com.hk.，香港', ['jessicafplydia@yahoo.com.hk']),  # after a dash
    ('mail first-last@example.com now', ['first-last@example.com']),  # not only the part after the dash
    ('user@localhost', []),  # no top-level domain
    ('@qq.com', []),  # no local part
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'EMAIL_ADDRESS') == expected
