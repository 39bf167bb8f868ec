"""Matches and near misses; each case says what it checks."""

import pytest

CASES = [
    ('加我微信wxid_abc123def，细聊', [('WECHAT_ID', 'wxid_abc123def')]),  # wxid anywhere
    ('微信：zhang_san88', [('WECHAT_ID', 'zhang_san88')]),  # after a cue
    ('微信公众帐号：songxiaobo，2006年', [('WECHAT_ID', 'songxiaobo')]),  # an official account's id
    ('QQ是12345678', [('QQ_NUMBER', '12345678')]),  # after a cue
    ('工作Q826929452（助理）', [('QQ_NUMBER', '826929452')]),  # short cue
    ('共12345678人参加', []),  # digits without a QQ cue
    ('工作郵箱415392980@qq.代表作', [('QQ_NUMBER', '415392980')]),  # a QQ mailbox, the address cut short
    ('415392980@qq.com', []),  # ... but a whole address is an e-mail
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    from transforms.detection import detect
    got = [(f.type, text[f.start:f.end]) for f in detect(analyzer, text) if f.type in ("QQ_NUMBER", "WECHAT_ID")]
    assert got == [tuple(e) for e in expected]
