"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('哈哈哈//@奇葩小师妹:哈哈哈哈', ['奇葩小师妹']),  # a Weibo repost chain: the two slashes do not make it a URL
    ('期待~~~~@英子-殷@dd_lucky', ['英子-殷', 'dd_lucky']),  # two handles written together, underscore and dash
    ('力来了唉～@AF丶L @Chicken_翼', ['AF丶L', 'Chicken_翼']),  # decorative 丶, Latin and Chinese mixed
    ('ssh root@notty and user@localhost', []),  # user@host after Latin letters, not a mention
    ('工作連絡找＠陳依佳小妹即可！', ['小妹即可']),  # full-width at sign; the real name inside is a PERSON
    ('们超级喜欢@淘宝网http://t.cn/abc', ['淘宝网']),  # a link glued after the handle is not part of it
    ('contact @john_doe on twitter', ['john_doe']),  # English text
    ('请把合同发到bill@uih.com.hk，谢谢', []),  # the @ of an e-mail address
    ('见 https://medium.com/@someone/post', []),  # the @ in a URL path
    ('CryMeARiver~@o@~工作联系', []),  # an emoticon: one character is no handle
    ("@app.route('/x') and @Test(timeout=5)", []),  # decorators and annotations called in code
    ('发送 @ 所有人', []),  # an @ followed by a space
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'NICKNAME') == expected


def test_a_real_name_inside_a_handle_is_a_person_and_the_rest_stays_a_nickname():
    from presidio_analyzer import RecognizerResult

    from transforms.detection import Finding, _resolve_overlaps

    text = "//@博洛尼蔡明:很应"
    found = _resolve_overlaps([RecognizerResult("NICKNAME", 3, 8, 0.6), RecognizerResult("PERSON", 6, 8, 0.55)], text)
    assert found == [Finding("NICKNAME", 3, 6, 0.6), Finding("PERSON", 6, 8, 0.55)]
    # a name in the middle splits the handle; a better finding of another kind still wins where it lies
    found = _resolve_overlaps([RecognizerResult("NICKNAME", 0, 10, 0.6), RecognizerResult("PERSON", 3, 5, 0.9)])
    assert [(f.type, f.start, f.end) for f in found] == [("NICKNAME", 0, 3), ("PERSON", 3, 5), ("NICKNAME", 5, 10)]
