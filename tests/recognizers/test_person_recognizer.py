"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('你好，我是李雷，我的电话', ['李雷']),  # cue before
    ('请联系王建国经理', ['王建国']),  # title after
    ('打款户名Karen Blanchard', ['Karen Blanchard']),  # English name after a Chinese cue
    ('Hi, this is Jay Taylor, call me', ['Jay Taylor']),  # English cue
    ('谢谢你', []),  # doubled character
    ('黄金价格上涨', []),  # an ordinary word starting with a surname
    ('冬日的阳光很温暖', []),  # a common word jieba's dictionary tags as a name
    ('金庸吧官方微博的视频', ['金庸']),  # the name, and not 方微博 (it cuts through 官方 and 微博)
    ('英国警察应许多汽车驾驶员的要求', []),  # 车驾 cuts through 汽车 and 驾驶员
    ('好高兴，徐妍你始终都系甘耐人寻味', ['徐妍']),  # surname and given name on word boundaries, no cue
    ('据导演迈克尔·布兰德介绍', ['迈克尔·布兰德']),  # a transliterated name with an interpunct
    ('Please ask Megan Payne about the invoice', ['Megan Payne']),  # a known first and last name, no cue
    ('Open Source Initiative approved', []),  # capitalised words that are not names
    ('Sometimes people call me Roland', ['Roland']),  # an English cue before a single name
    ('Her maiden name is Vestergaard.', ['Vestergaard']),
    ('Filip lives on a quiet street', ['Filip']),  # a known first name doing what people do
    ('As promised, here is Arne\'s address', ['Arne']),
    ('He said Monday would work. Hello World!', []),  # days and greetings' objects are not names
    ('会议由孔继尧主持', ['孔继尧']),  # no cue: the characters are ones names are made of (name statistics)
    ('任何想参加的人都可以报名', []),  # 任 is a surname, but 何想 is nothing like a given name
    ('保持联系和互动', []),  # a cue (联系) does not make 和互动 a name
    ('某影视娱乐公司董事长', []),  # a title after, but 乐公司 starts inside 娱乐
    ('售后请找陈小姐', ['陈小姐']),  # a surname with an honorific
    ('周末我和先生一起去', []),  # ... but 和 here is not a surname
    ('记者从石家庄报道', []),  # a city (jieba's dictionary tags 石家庄 as a name)
    ('现货白银价格昨日上涨', []),  # a two-character word jieba tags as a name, with nothing around it saying so
    ('这事问潘小芬吧', ['潘小芬']),  # 小 in a given name
    ('项目负责人Erik告诉记者', ['Erik']),  # a Latin name right after a role noun
    ('请联系经纪人Tel：021-5555', []),  # ... but not a contact label
    ('两队携手FLY晋级', []),  # 携手 is no role
    ('主裁判阿特金森（Martin Atkinson）', ['阿特金森', 'Martin Atkinson']),  # transliteration and original
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'PERSON') == expected


RELEASE_CASES = [
    ("请联系售后邱经理", ["邱经理"]),  # a surname and a job title: how service chat names staff
    ("找一下王老师，明天再说", ["王老师"]),
    ("张总说方案可以", ["张总"]),
    ("我们来总结一下", []),  # 总结 is a word: no 总 title
]


@pytest.mark.parametrize("text, expected", RELEASE_CASES)
def test_a_surname_with_a_job_title_is_redacted_in_releases(release_analyzer, text, expected):
    assert found(release_analyzer, text, "PERSON") == expected


def test_the_title_rule_wants_the_title_to_end_a_word():
    """王总结了三点: 总结 is a word, so the surname-and-title rule proposes nothing (LAC, the release engine's other
    reader, may still read 王总结 as a name: an extra redaction costs a word)."""
    from transforms.recognizers.person_recognizer import PersonRecognizer

    text = "王总结了三点"
    assert not [r for r in PersonRecognizer().analyze(text, ["PERSON"]) if text[r.start:r.end].startswith("王总")]
