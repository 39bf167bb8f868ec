"""PERSON without a downloaded model.

Chinese: a surname (Faker's zh_CN list of 399, plus compound surnames) followed by one or two given-name characters,
scored by name statistics and by what surrounds it. The statistics come from jieba's dictionary: its 46,058 full
names (three-character words tagged ``nr`` that start with a surname) against all its words weighted by frequency
give each character a log-likelihood ratio of starting a name and of being part of a given name, so 陈艳萍 scores far
above 和互动 or 任何想. Around it: a cue before (我叫, 联系人, 姓名, 经纪人...), a title after (先生, 女士, 老师,
经理...), jieba's segmentation (a name starts and ends on word boundaries, unless a cue or title marks that end). A
candidate that jieba knows as an ordinary word (王国, 黄金, 马上) is rejected. A surname with an honorific (陈小姐,
王先生) is a person too. Transliterated foreign names written with an interpunct (迈克尔·布兰德) or followed by the
original in brackets (阿特金森（Martin Atkinson）), and a Latin name or handle right after a Chinese role noun
(项目负责人Erik, 主唱maya).

English: honorifics and "my name is" cues; cues such as "call me Roland", "maiden name is Vestergaard", "says
Eklund"; a known first name doing what people do ("Filip lives on", "Arne's address"); a capitalised first and last
name pair from Faker's name lists of 18 locales (Megan Payne, Brian Andersson).

An optional NER model per language (settings ``ner_model``) adds PERSON through Presidio's SpacyRecognizer.
"""

from __future__ import annotations

import functools
import re

from presidio_analyzer import EntityRecognizer, RecognizerResult

from transforms.recognizers.base import jieba_tables, jieba_words, register, result_of
from transforms.recognizers.cn_address_recognizer import PLACE_SET

COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯",
                     "轩辕", "令狐", "端木", "独孤", "南宫", "西门", "百里", "呼延", "澹台", "公冶", "太史", "申屠")
CUES_BEFORE = ("我叫", "我是", "名叫", "叫做", "联系人", "姓名", "经纪人", "收件人", "收货人", "户名", "负责人", "联络人",
               "致电", "找", "请联系", "联系", "联络", "艺人", "歌手", "演员", "导演", "主持人", "作者", "记者", "教练", "球员",
               "老师", "同学", "董事长", "总裁", "经理", "助理", "先生", "女士", "客户", "用户", "顾客", "会员", "客服",
               "司机", "同事", "朋友", "转告", "this is ", "I am ", "I'm ", "name is ", "call ", "contact ", "ask ",
               "Mr. ", "Ms. ", "Dear ")
TITLES_AFTER = ("先生", "女士", "小姐", "老师", "经理", "总监", "教授", "医生", "主任", "律师", "同学", "导演", "董事长",
                "总裁", "书记", "局长", "处长", "师傅", "阿姨", "老板", "说", "表示", "称", "认为", "介绍", "透露",
                "的手机", "的电话", "的邮箱", "的微信", "的地址", "的身份", "的号码", "的联系", "的订单")
#: Last characters of role nouns that often stand right before a name (工程师, 总监, 主任, 歌手, 名家...).
ROLE_SUFFIX = set("家师长员手任监唱者官士总记理导授")
_STOP = set("的了是在和有我你他她它这那个们说就也都不人一上下大中到为与及或被把从对向以而于之其所着过来去会"
            "能要可将没很最更还又再已但如若因由此些每各某哪谁什么啊吗呢吧哦嗯呀")
# English names after an honorific or a cue, in English or Chinese text (no \b: it fails next to Chinese).
_EN = re.compile(r"(?:(?<![A-Za-z])(?i:mr|mrs|ms|miss|dr|prof)\.?\s+|(?<![A-Za-z])(?:[Mm]y name is|I am|I'm|[Tt]his is|"
                 r"[Cc]ontact|Dear)\s+|(?:我是|我叫|户名|联系人|姓名|找|收件人|客户|联系|致|和|与)[:：]?\s*)"
                 r"(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+)?([A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2})(?![A-Za-z])"
                 r"|(?<![A-Za-z])([A-Z][a-z]+(?:\s+[A-Z][a-z]+){1,2})(?=\s*(?:的|电话|手机|邮箱|先生|女士|经理|老师))")
#: English cues before a name: how people are called and who says or is told things (call me Lauren, her maiden
#: name is Vestergaard, says Eklund, directed by Tiffany Gabor, shouted at Janet).
_EN_CUED = re.compile(r"(?<![A-Za-z])(?:call(?:s|ed)? me|(?:[Ii]t's|[Ii]t is|[Ii]'m|I am) called|named|(?:first|last|"
                      r"middle|maiden|full|sur)?[Nn]ame(?: is|'s|:|\?)|says|said|(?:directed|written|produced|sung|"
                      r"performed|composed|painted|photographed|signed) by|starring|shouted at|(?:had )?given|told|"
                      r"asked|[Tt]hanks|[Tt]hank you|[Rr]egards|[Ss]incerely|[Hh]i|[Hh]ello|[Hh]ey)[,:]?\s+"
                      r"([A-Z][a-z\u00c0-\u024f'\-]+(?:\s+[A-Z][a-z\u00c0-\u024f'\-]+)?)(?![A-Za-z\u00c0-\u024f])")
#: A known first name (Faker's lists) that does what people do (Filip lives on..., Frank had given..., Arne's
#: address).
_EN_ACTOR = re.compile(r"(?<![A-Za-z])([A-Z][a-z\u00c0-\u024f]+)(?:\s+(?:lives|lived|said|says|had|has|was|shouted|told|"
                       r"asked|called|wrote|works|worked)\b|'s\s+(?:address|phone|number|email|e-mail|kid|son|daughter|"
                       r"wife|husband|house|home|car|account|card|birthday))")
_CJK = re.compile(r"[\u4e00-\u9fff]")
#: A known first name and any capitalised word after it: Ronald Pesälä, Timothy Laarman (the last name need not be
#: in a list).
_FIRST_ANY = re.compile(r"(?<![A-Za-z\u00c0-\u024f])([A-Z][a-z\u00c0-\u024f]+)\s([A-Z][a-z\u00c0-\u024f'\-]{1,20})"
                        r"(?![A-Za-z\u00c0-\u024f])")
#: Capitalised words after a first name that make it no name (Grace Period, Mark Down, Main Street).
_NOT_LAST = frozenset("Street St Road Rd Avenue Ave Lane Drive Court Place Inc Ltd LLC Corp Company Group Period "
                      "Down Up Day Days Time Point Street Square Park Hall House Center Centre Hotel Bank Airport "
                      "University College School Hospital Church Station Bridge River Lake Mountain Island Valley "
                      "County City Town Village Report Policy Service Services Team Project".split())
#: First names that are also common English words, which a capitalised word after them does not make a name.
_WORD_FIRST = frozenset("May Will Mark Grant Bill Rose Hope Joy Faith June April Summer Dawn Art Guy Page Sky Rich "
                        "Young Long Price Case Frank Miles Chase Wade Bell Hunter Baker Love Major Star".split())
#: A single name addressed at the start of a sentence: "Jakobine, can I please speak to you?"
_VOCATIVE = re.compile(r"(?:^|(?<=[.!?\n]\s))([A-Z][a-z\u00c0-\u024f]{2,20}),\s+(?:can|could|would|will|please|I|"
                       r"we|you|thanks|thank|are|do|did|have)\b")
#: Family and partners: the words that name a person's relation to someone (Sumaya's kid, my kid Mali).
_KIN = "kid|son|daughter|wife|husband|mother|father|mom|dad|brother|sister|partner|boyfriend|girlfriend"
#: A capitalised word with a family member or a possession after it: Sumaya's kid.
_POSSESSIVE = re.compile(r"(?<![A-Za-z])([A-Z][a-z\u00c0-\u024f]{2,20})'s\s+(?:" + _KIN + r"|baby|children|family)\b")
#: A capitalised word opening a sentence whose verb only a person does: "Delvis spent a year at", "Morishita began
#: writing", "Duqyaha shouted at".
_EN_SUBJECT = re.compile(r"(?:^|(?<=[.!?\n]\s)|(?<=[.!?\n]))\s*([A-Z][a-z\u00c0-\u024f'\-]{2,20})\s+(?:shouted|whispered|"
                         r"yelled|smiled|laughed|cried|married|divorced|apologi[sz]ed|complained|sang|graduated|was "
                         r"born|grew up|spent (?:a|an|one|two|three|several|many|\d+) (?:year|years|month|months|decade|"
                         r"summer|childhood)|began (?:writing|singing|acting|painting|studying|his|her|their))\b")
#: Who is spoken to or about: "said Honoré to James", "my kid Mali", "her husband Tom".
_EN_RELATION = re.compile(r"(?<![A-Za-z])(?:(?:said|says|wrote|shouted|whispered)\s+[A-Z][a-z\u00c0-\u024f]+\s+to|"
                          r"(?:[Mm]y|[Hh]is|[Hh]er|[Oo]ur|[Tt]heir)\s+(?:" + _KIN + r"|friend|boss|colleague|cousin|"
                          r"uncle|aunt|nephew|niece|grandson|granddaughter|grandmother|grandfather|neighbou?r))\s+"
                          r"([A-Z][a-z\u00c0-\u024f'\-]{1,20})(?![A-Za-z\u00c0-\u024f])")


@functools.lru_cache(maxsize=1)
def _english_stop_words() -> frozenset[str]:
    """spaCy's English stop words (nobody, everyone, this, which...): never a name."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


@functools.lru_cache(maxsize=1)
def _lexicon() -> tuple[frozenset[str], dict[str, str], dict[str, int]]:
    """(surnames, jieba word -> tag, jieba word -> frequency), loaded once per process."""
    from faker.providers.person.zh_CN import Provider

    tags, freq = jieba_tables()
    return frozenset(Provider.last_names) | frozenset(COMPOUND_SURNAMES), tags, freq


@functools.lru_cache(maxsize=1)
def _surname_finder():
    """``search(text, pos)`` for the next compound or single surname: the scan jumps from one to the next."""
    surnames = _lexicon()[0]
    singles = "".join(sorted(s for s in surnames if len(s) == 1))
    return re.compile("|".join(COMPOUND_SURNAMES) + f"|[{re.escape(singles)}]").search


#: What ends a phrase after a name, and the contact words that follow one (联系成文电话...).
_PHRASE_END = frozenset("，,。.!！?？、;；:： ")
#: A framed name may be a dictionary word this rare (成文 270), not a common one (方式 16,797, 文件 4,288).
FRAMED_WORD = 1000
_CONTACT_WORDS = ("电话", "手机", "邮箱", "微信", "的电话", "的手机")
#: What follows a name when someone is quoted (对记者说, 告诉记者).
_SAID = ("对", "告诉", "向记者", "指出", "坦言")
#: What stands before a name in a list of names (张三、李四和王五).
_LIST_MARKS = ("，", "、", "：", ":", "和", "与", "及")
#: Words jieba tags ``nr`` yet uses this often are ordinary words (明星 2,130, 阳光 3,451): names need a cue then.
COMMON_NR = 1000
#: A surname and given name that fall on word boundaries and are no dictionary word score this much more.
ALIGNED_BONUS = 0.1
#: Characters that spell foreign names in Chinese (a hand-written list of the usual transliteration syllables).
TRANSLIT_CHARS = ("阿埃艾爱安奥巴芭拜班邦保鲍贝本比彼毕宾波伯博布查达戴丹道德登迪蒂丁东杜敦多厄恩尔法凡菲费芬丰弗福"
                  "富盖甘冈高戈格葛贡古瓜哈海汉豪赫亨洪胡华霍基吉加贾杰金卡凯坎康柯科克肯库奎拉莱兰朗劳勒雷蕾里理利莉"
                  "丽连琳林隆卢鲁路伦罗洛马玛迈麦曼梅门蒙米密明莫姆默穆纳娜奈南内尼妮纽诺欧帕派潘佩彭皮珀普奇齐契乔切"
                  "琼丘萨塞桑瑟森沙莎尚什圣施史斯松苏索塔泰坦汤唐特提汀图托瓦威韦维温沃乌伍西希锡夏辛休雅亚扬耶伊英尤"
                  "于约泽詹扎朱兹佐黛珊娅奥")
#: Transliterated foreign names written with an interpunct: 迈克尔·布兰德, 西恩·潘, 黛博拉·格里本.
_TRANSLITERATED = re.compile(f"[{TRANSLIT_CHARS}]{{1,6}}(?:[·•‧・][{TRANSLIT_CHARS}]{{1,8}}){{1,3}}")
#: A transliterated name with the original in brackets: 阿特金森（Martin Atkinson）, 博瓦德(henrikbogvad). Both
#: halves are the name.
_TRANSLIT_WITH_ORIGINAL = re.compile(f"(?<![{TRANSLIT_CHARS}])([{TRANSLIT_CHARS}]{{2,8}})[（(]"
                                     r"([A-Za-z][A-Za-z'\-]+(?:[ .][A-Za-z][A-Za-z'\-]+){0,2})[）)]")
#: A Latin name or handle right after a role noun: 项目负责人Erik, 经纪人：Victor, 主唱maya, 选手Lyn.
_ROLE_LATIN = re.compile(r"(?:(?![联携])[\u4e00-\u9fff][家师长员手监唱者官士总理导授]|主任|负责人|经纪人|經紀人|经理人|"
                         r"經理人|联系人|聯繫人|签署人|领队|領隊|选手|選手|主播|学生|學生)[:：]?\s?"
                         r"([A-Za-z][a-z]+(?:[A-Z][a-z]+)?|[A-Z]{2,}[a-z]*)(?![A-Za-z.:/@]|\d*[A-Za-z@])")
#: A Latin word in Chinese text, where spaces are often dropped (CLUENER's texts have none): a first and last name
#: written together (PeterWoodward, johnwalsh) or a first name and a capitalised word (BradBuxer).
_LATIN_WORD = re.compile(r"(?<![A-Za-z0-9\u00c0-\u024f@._/\-])[A-Za-z]{6,30}(?![A-Za-z0-9\u00c0-\u024f@/]|\.[A-Za-z])")
_CAMEL_PAIR = re.compile(r"([A-Z][a-z]{2,})([A-Z][a-z]{2,})")
#: Capitalised words after an English cue that are not names (said The..., Hi All, given This...).
_EN_NOT_NAMES = frozenset("The A An This That These Those It He She They We You I All Everyone Team There Here "
                          "Sir Madam Mr Mrs Ms Dr Yes No Ok OK Please Thanks Thank Hello Hi Dear World Guys Folks "
                          "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May "
                          "June July August September October November December Today Yesterday Tomorrow".split())
#: Latin words after a role noun that are not names (contact labels, acronyms, web words).
_NOT_NAMES = frozenset("tel fax vip http https www email mail qq id app tv ceo cto cfo coo vp pr hr it emba mba dj mc "
                       "ktv pc ps".split())


def _word_bounds(text: str) -> set[int]:
    """Offsets where jieba's dictionary segmentation puts a word boundary; a name starts and ends on one."""
    return {0} | {end for _, end, _ in jieba_words(text)}


#: Faker locales whose (Latin-script) first and last names make the English name lists.
NAME_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "sv_SE", "da_DK", "no_NO", "fi_FI",
                "pl_PL", "cs_CZ", "hu_HU", "pt_BR", "pt_PT", "hr_HR", "sk_SK")
_LATIN_PAIR = re.compile(r"(?<![A-Za-z\u00c0-\u024f])([A-Z][a-z\u00c0-\u024f]+)\s+([A-Z][a-z\u00c0-\u024f'\-]+)"
                         r"(?![A-Za-z\u00c0-\u024f])")


@functools.lru_cache(maxsize=1)
def _latin_names() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names) from Faker's person providers of :data:`NAME_LOCALES`."""
    import importlib

    first: set[str] = set()
    last: set[str] = set()
    for loc in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        for attr, out in (("first_names", first), ("first_names_male", first), ("first_names_female", first),
                          ("last_names", last)):
            out.update(n for n in getattr(provider, attr, ()) if n.isalpha())
    return frozenset(first), frozenset(last)


def _joined_name(word: str) -> bool:
    """Whether a Latin ``word`` is a first and last name written together: both parts in the name lists
    (johnwalsh, PeterWoodward), or a first name and a capitalised word (BradBuxer; not NowTV, GameInformer)."""
    first, last = _latin_names()
    camel = _CAMEL_PAIR.fullmatch(word)
    if camel and camel.group(1) in first and camel.group(1) not in _WORD_FIRST:
        return True
    low = word.lower()
    return any(low[:k].capitalize() in first and low[:k].capitalize() not in _WORD_FIRST
               and low[k:].capitalize() in last for k in range(3, len(low) - 2))


#: Name statistics: a candidate's log-likelihood ratio (:func:`_name_llr`) above what a name of its length
#: usually reaches without being one (surname + 1 character: 1.5, + 2 characters: 3.0) adds ``LLR_WEIGHT`` per
#: unit to its score, within ``LLR_RANGE``. 3.0 is about a common surname with one typical given-name character.
LLR_OFFSET = {1: 1.5, 2: 3.0}
LLR_WEIGHT = 0.12
LLR_RANGE = (-0.3, 0.25)
#: Honorifics that make a surname alone a reference to a person (陈小姐, 王先生), when the surname is one that
#: starts names more than it appears in other words (log-likelihood ratio >= 1: not 和, 方, 常, 江) or a cue precedes.
HONORIFICS = ("先生", "女士", "小姐", "太太")
#: Job titles that, after a surname alone, refer to one person as people address staff in service chat (售后邱经理,
#: 王老师, 张总), under the same conditions as :data:`HONORIFICS`, and only where the title ends a word (王总结 is no
#: person).
SURNAME_TITLES = ("经理", "老师", "医生", "大夫", "主任", "律师", "师傅", "总监", "教授", "警官", "阿姨", "总")


@functools.lru_cache(maxsize=1)
def _name_model() -> tuple[dict[str, float], dict[str, float]]:
    """Log-likelihood ratios, per character, of starting a full name (surname) and of being part of a given name,
    against the character's frequency in text: from jieba's dictionary, its full names (three-character words
    tagged ``nr`` that start with a surname, 46,058) against all its words weighted by frequency."""
    import math
    from collections import Counter

    surnames, tags, freq = _lexicon()
    names = [w for w, t in tags.items() if t == "nr" and len(w) == 3 and w[0] in surnames]
    given, first = Counter(c for w in names for c in w[1:]), Counter(w[0] for w in names)
    text: Counter = Counter()
    for w, f in freq.items():
        for c in w:
            text[c] += f
    t_total, g_total, s_total = sum(text.values()), sum(given.values()), sum(first.values())

    def llr(counts, total):
        return {c: math.log((n + 0.5) / total) - math.log((text[c] + 1) / t_total) for c, n in counts.items()}

    return llr(first, s_total), llr(given, g_total)


def _name_llr(surname: str, given: str) -> float:
    """Log-likelihood ratio of a surname and given name being a name rather than text (0: no evidence either way;
    a character never seen in a name counts -3)."""
    first, giv = _name_model()
    return first.get(surname[0], -3.0) + sum(giv.get(c, -3.0) for c in given)


@register
class PersonRecognizer(EntityRecognizer):
    SUPPORTED_ENTITY = "PERSON"
    ENTITY_ROLES = {"PERSON": "direct"}
    NLP_FREE = True  # no PREFILTER: any Chinese text may hold a name

    def __init__(self, supported_language: str = "zh"):
        super().__init__(supported_entities=[self.SUPPORTED_ENTITY], name="PersonRecognizer",
                         supported_language=supported_language)

    def load(self) -> None:
        _name_model()  # jieba's dictionary, the name lists and statistics, once per process, at engine build
        _latin_names()

    def analyze(self, text, entities, nlp_artifacts=None):
        out = [result_of(self, m.start(g), m.end(g), 0.75) for m in _EN.finditer(text) for g in (1, 2) if m.group(g)]
        first, last = _latin_names()
        out += [result_of(self, m.start(), m.end(), 0.6) for m in _LATIN_PAIR.finditer(text)
                if m.group(1) in first and m.group(2) in last]
        out += [result_of(self, m.start(1), m.end(1), 0.6) for m in _EN_CUED.finditer(text)
                if m.group(1).split()[0] not in _EN_NOT_NAMES]
        out += [result_of(self, m.start(1), m.end(1), 0.6) for m in _EN_ACTOR.finditer(text) if m.group(1) in first]
        out += [result_of(self, m.start(), m.end(), 0.55) for m in _FIRST_ANY.finditer(text)
                if m.group(1) in first and m.group(1) not in _WORD_FIRST and m.group(2) not in _NOT_LAST
                and m.group(2) not in _EN_NOT_NAMES]
        out += [result_of(self, m.start(1), m.end(1), 0.5) for m in _VOCATIVE.finditer(text)
                if m.group(1) not in _EN_NOT_NAMES]
        out += [result_of(self, m.start(1), m.end(1), 0.55) for m in _POSSESSIVE.finditer(text)
                if m.group(1) not in _EN_NOT_NAMES]
        out += [result_of(self, m.start(1), m.end(1), 0.55) for pattern in (_EN_SUBJECT, _EN_RELATION)
                for m in pattern.finditer(text) if m.group(1) not in _EN_NOT_NAMES
                and m.group(1).lower() not in _english_stop_words()]
        if _CJK.search(text):  # Chinese names themselves: ChineseNerRecognizer weighs this rule with the model
            out += [result_of(self, m.start(), m.end(), 0.65) for m in _TRANSLITERATED.finditer(text)
                    if len(m.group()) <= 16]
            out += [result_of(self, m.start(g), m.end(g), 0.6) for m in _TRANSLIT_WITH_ORIGINAL.finditer(text)
                    for g in (1, 2)]
            out += [result_of(self, m.start(), m.end(), 0.6) for m in _LATIN_WORD.finditer(text)
                    if _joined_name(m.group())]
            out += [result_of(self, m.start(1), m.end(1), 0.6) for m in _ROLE_LATIN.finditer(text)
                    if len(m.group(1)) <= 20 and m.group(1).lower() not in _NOT_NAMES
                    and not (m.group(1).isupper() and len(m.group(1)) <= 3)]
        return out

    def _chinese(self, text: str) -> list[RecognizerResult]:
        _, tags, freq = _lexicon()
        find = _surname_finder()
        bounds: set[int] | None = None
        n, i, out = len(text), 0, []
        while i < n:
            m = find(text, i)
            if m is None:
                break
            i = m.start()
            s_len = 2 if text[i:i + 2] in COMPOUND_SURNAMES else 1
            before = text[max(0, i - 9):i]
            cue_before = before.rstrip(":：").endswith(CUES_BEFORE)  # 联系人王建国, 联系人：王建国
            honorific = next((h for h in HONORIFICS if text.startswith(h, i + s_len)), None)
            titled = None if honorific else next((t for t in SURNAME_TITLES if text.startswith(t, i + s_len)), None)
            if titled:
                if bounds is None:
                    bounds = _word_bounds(text)
                j = i + s_len + len(titled)
                if i in bounds and (j in bounds or j == n) and (
                        cue_before or _name_model()[0].get(text[i], -3.0) >= 1.0):
                    out.append(result_of(self, i, j, 0.7 if cue_before else 0.55))
                    i = j
                    continue
            if honorific:
                if bounds is None:
                    bounds = _word_bounds(text)
                if i in bounds and (cue_before or _name_model()[0].get(text[i], -3.0) >= 1.0):
                    j = i + s_len + len(honorific)
                    out.append(result_of(self, i, j, 0.75 if cue_before else 0.6))
                    i = j
                    continue
            best = None
            for g_len in (2, 1):
                j = i + s_len + g_len
                if j > n or not all(_CJK.match(c) for c in text[i + s_len:j]):
                    continue
                cand, giv = text[i:j], text[i + s_len:j]
                after = text[j:j + 3]
                title_after = after.startswith(TITLES_AFTER)
                cued = cue_before or title_after
                role_before = before[-1:] in ROLE_SUFFIX
                if g_len == 1 and giv == text[i]:
                    continue  # a doubled character (谢谢, 常常)
                if any(c in _STOP for c in giv):
                    # function characters (王者之, 李在说), unless a role or cue before and a phrase end or what
                    # people say after mark whole words as the name (副研究员尹中立对本报记者表示)
                    if not (g_len == 2 and (cue_before or role_before) and (
                            title_after or not after or after[:1] in _PHRASE_END or after.startswith(_SAID)
                            or (cue_before and after[:1].isdigit()))):
                        continue
                    if bounds is None:
                        bounds = _word_bounds(text)
                    if i not in bounds or j not in bounds:
                        continue
                tag = tags.get(cand)
                # a cue before and a title or the end of a phrase after mark both ends: a name even when it is
                # also a word (this is 成文, ; 找管建国经理)
                framed = cue_before and freq.get(cand, 0) <= FRAMED_WORD and (
                    title_after or not after or after[:1] in _PHRASE_END or after.startswith(_CONTACT_WORDS)
                    or after[:1].isdigit())  # 经纪人：宁一含13311317, a contact number right after
                if not framed and (tag is not None and tag != "nr" and freq.get(cand, 0) > 50 or cand in PLACE_SET):
                    continue  # an ordinary word (王国, 黄金, 马上) or a place (石家庄, which jieba tags nr)
                if tag == "nr" and not cued and freq.get(cand, 0) > COMMON_NR:
                    continue  # a common word jieba's dictionary tags as a name: 明星, 阳光, 顾问, 陆军
                if tag == "nr" and g_len == 1 and not (cued or role_before or before[-1:] in _LIST_MARKS):
                    continue  # a two-character word it tags so (白银, 荣耀, 祝福) is a name only in a name's context
                if not (cued or role_before) and tags.get(giv) not in (None, "nr") and freq.get(giv, 0) > 2000 \
                        and g_len == 2:
                    continue  # surname + a common word: 高兴趣, 王者荣耀 (but 王建国经理 is a name)
                if bounds is None:  # segment the text only once a candidate survives the dictionary checks
                    bounds = _word_bounds(text)
                aligned = i in bounds and j in bounds
                if not aligned and not ((i in bounds or cue_before) and (j in bounds or title_after)):
                    continue  # cuts through a word (官方微博 is not 方微博, 娱乐公司董事长 not 乐公司) where no cue
                    # or title marks that end of the name
                score = 0.3 + min(LLR_RANGE[1], max(LLR_RANGE[0], LLR_WEIGHT * (
                    _name_llr(text[i:i + s_len], giv) - LLR_OFFSET[g_len])))
                if aligned and tag is None and (g_len == 1 or tags.get(giv) is None):
                    score += ALIGNED_BONUS
                if cued:
                    score += 0.3
                elif role_before:
                    score += 0.2
                if before[-1:] in _LIST_MARKS and after[:1] in ("，", "、", "。", "和", "与", ""):
                    score += 0.1
                if framed:
                    score = max(score, 0.6)
                if best is None or score > best[2] + 0.05:
                    best = (i, j, score)
            if best and best[2] >= 0.5:
                out.append(result_of(self, best[0], best[1], min(best[2], 0.95)))
                i = best[1]
            else:
                i += 1
        return out


@functools.lru_cache(maxsize=1)
def _rules() -> PersonRecognizer:
    rec = PersonRecognizer()
    rec.load()
    return rec


@functools.lru_cache(maxsize=4096)
def chinese_name_candidates(text: str) -> tuple[RecognizerResult, ...]:
    """The Chinese-name rule's findings (surname, given name, cues, titles, name statistics; 小王 and 老李) in
    ``text``: what the trained model reads as hints and :class:`~transforms.recognizers.cn_ner_recognizer.
    ChineseNerRecognizer` weighs with the model's own reading. Remembered for recent texts: the model's features
    and the recognizer both read them (treat the findings as read-only)."""
    if not _CJK.search(text):
        return ()
    rules = _rules()
    found = rules._chinese(text)
    taken = [(r.start, r.end) for r in found]
    found += [r for r in _familiar(rules, text) if not any(s < r.end and r.start < e for s, e in taken)]
    return tuple(found)


#: 小王, 老李, 阿珍: a familiar prefix and a surname (or a given-name character after 阿), a way colleagues and
#: customers name people in chat.
_FAMILIAR = re.compile(r"([小老阿])([\u4e00-\u9fff])")
#: Characters after a familiar name that say a person does something (说, 来, 在...) or is addressed.
_FAMILIAR_AFTER = frozenset("说来去在是也都和跟把给让叫要会已还就的，。、！？ :：,")

_FAMILIAR_TIME = ("明天", "今天", "昨天", "刚才", "下午", "上午", "晚上")


def _familiar(rules: "PersonRecognizer", text: str) -> list[RecognizerResult]:
    surnames, tags, freq = _lexicon()
    out = []
    for m in _FAMILIAR.finditer(text):
        word, second = m.group(), m.group(2)
        if second not in surnames or (tags.get(word) not in (None, "nr") and freq.get(word, 0) > 50):
            continue  # not a surname, or an ordinary word (小时, 老实, 小米)
        after = text[m.end():m.end() + 1]
        if after and after not in _FAMILIAR_AFTER and not any(text.startswith(w, m.end()) for w in _FAMILIAR_TIME):
            continue
        out.append(result_of(rules, m.start(), m.end(), 0.55))
    return out
