"""Names and addresses in Chinese text: piiflow's trained model (:mod:`transforms.ner`) and its rules together.

The model proposes; piiflow's rules propose too (the Chinese-name rule of
:mod:`~transforms.recognizers.person_recognizer`, the address patterns of
:mod:`~transforms.recognizers.cn_address_recognizer`) and its lexicons veto what they know is no name or no address:
a "name" that jieba's dictionary knows as an ordinary word (马上, 黄金), a place name that only qualifies an
organisation (湖北银监局, 上海音乐学院). A rule's proposal is weighed with the model's reading of the same characters:
its score is ``RULE_WEIGHT`` x the rule's score + the rest x the model's probability, so the model confirms or
overrules it. The model's own spans score their probability (the mean of their characters' marginals), and a span
outside its best labelling whose characters are at least ``FLOOR`` likely counts too, at that probability: scores
are probabilities throughout, so one threshold means the same for names as for addresses, and the recall-first
threshold of releases reaches what the best labelling leaves out.

A place standing alone (中国, 香港, 美国, 北京市), or places written together and nothing finer (日本东京, 四川南充市), is a
``LOCATION``: reported by scans, not redacted, since a country or a city says little about a person and redacting
every one would empty texts of their meaning. Anything more precise (a district, a road, a house number, a
building, a named place) is a ``CN_ADDRESS``, redacted whole.
"""

from __future__ import annotations

import functools
import re

from presidio_analyzer import EntityRecognizer, RecognizerResult

from transforms.recognizers.base import jieba_tables, jieba_words, register, result_of

#: How much a rule's own score counts against the model's probability for the same characters.
RULE_WEIGHT = 0.7
#: Characters the model gives at least this probability of an entity form a candidate outside its best labelling.
FLOOR = 0.2
#: A name the model proposes is Chinese characters (with a transliteration's dot) or Latin letters, not a mix
#: with digits (川A·8K is the start of a plate).
_NAME_SHAPE = re.compile(r"[\u4e00-\u9fff·•]{2,12}|[A-Za-z][A-Za-z' .\-]{1,30}")
_HAN = re.compile(r"[\u4e00-\u9fff]")
#: Dictionary words this common and not tagged as names are ordinary words, whatever the model says.
COMMON_WORD = 200
#: ...unless the model is this sure of a name (jieba's dictionary tags 周恩来 as a time word and 奥巴马 as a place).
SURE_NAME = 0.9
#: Organisations whose name says where they are: the model's ORG spans ending so are places too.
VENUES = ("医院", "酒店", "饭店", "宾馆", "商场", "广场", "大厦", "公园", "机场", "车站", "码头", "市场", "超市", "影院",
          "剧院", "体育馆", "博物馆", "美术馆", "图书馆", "中心")
#: A name found with at least this score is carried to the text's other occurrences of the same string.
SURE_ELSEWHERE = 0.8


@functools.lru_cache(maxsize=2)
def _model(recall: bool = False):
    """The shipped model (reads LAC's tags), or the release engine's second one (does not)."""
    from transforms.ner import RECALL_MODEL_PATH, NerModel

    return NerModel(RECALL_MODEL_PATH, lac=False) if recall else NerModel()


def is_bare_place(span: str) -> bool:
    """A province, city, country or region written alone (北京, 北京市, 香港, 美国, 华东), or such places written
    together and nothing finer (日本东京, 中国上海, 四川南充市): a location, not an address."""
    if _one_place(span):
        return True
    n = len(span)
    if n < 4 or n > 12:
        return False
    ends = {0}  # where a run of whole places can end
    for i in range(2, n + 1):
        if any(j in ends and _one_place(span[j:i]) for j in range(max(0, i - 6), i - 1)):
            ends.add(i)
    return n in ends


@functools.lru_cache(maxsize=8192)
def _one_place(span: str) -> bool:
    from transforms.recognizers.cn_address_recognizer import world_places

    tags, _ = jieba_tables()
    return span.rstrip("省市县") in world_places() or (tags.get(span) == "ns" and len(span) <= 3
                                                     and span[-1] not in "路街道巷弄村镇乡区号")


def _named(text: str, start: int, end: int) -> bool:
    """Whether LAC reads a name in ``text[start:end]`` (an organisation, a place, a person, a proper noun): 江陵医院
    is a venue, 客服中心 (common nouns only) is a department."""
    from transforms import lac

    return any(s < end and start < e and tag in ("ORG", "LOC", "PER", "nz", "nw", "ns", "nt")
               for s, e, tag in lac.words(text))


def _inside_an_organisation(text: str, start: int, end: int) -> bool:
    """A place that is part of a longer word LAC reads as an organisation (中国 in 中国电信, 湖北 in 湖北银监局): the
    organisation's name, not where anyone is."""
    from transforms import lac

    return any(s <= start and end <= e and (s, e) != (start, end) and tag == "ORG" for s, e, tag in lac.words(text))


def _without_plates(text: str, start: int, end: int, score: float) -> tuple[int, int, float] | None:
    """A place span less a licence plate in it (京A·12345在路口 is a plate, then a place): the model has seen no
    plates and reads the province character, or the whole phrase around a plate (大巴粤B12345F进站), as a place.
    What is left counts only if it still looks like a place: a part before the plate ending in a place-kind
    character or a known place (成都市武侯区 in 成都市武侯区川A12345), or a part after it of at least two characters
    (川A·8K123在人民路 keeps 在人民路 for the other checks)."""
    from transforms.ner import _PLACE_END
    from transforms.recognizers.cn_address_recognizer import PLACE_SET
    from transforms.recognizers.cn_license_plate_recognizer import PLATE_SHAPE

    m = PLATE_SHAPE.search(text, start, end)
    if m is None:
        return start, end, score
    before, after = text[start:m.start()], text[m.end():end]
    if before and (before[-1] in _PLACE_END or before.rstrip("省市县") in PLACE_SET):
        return start, m.start(), score
    if m.start() == start and len(after) >= 2:
        return m.end(), end, score
    return None


def _everywhere(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """A name found at ``SURE_ELSEWHERE`` or more is a name wherever the same string occurs again in the text, at
    that score: a document that names 金庸 four times names the same person each time, though the model may be
    sure of it only once. (Addresses are not carried: 北京 as part of an address says nothing of 北京 alone.)"""
    best: dict[tuple[str, str], RecognizerResult] = {}
    for r in results:
        key = (r.entity_type, text[r.start:r.end])
        if (r.entity_type == "PERSON" and len(key[1]) >= 2 and r.score >= SURE_ELSEWHERE
                and r.score > getattr(best.get(key), "score", -1.0)):
            best[key] = r
    out = list(results)
    for (_, value), r in best.items():
        k = text.find(value)
        while k >= 0:
            if k != r.start and not _inside_token(text, k, k + len(value)):
                out.append(_copy(r, k, k + len(value)))
            k = text.find(value, k + len(value))
    return out


def _inside_token(text: str, start: int, end: int) -> bool:
    """Whether Latin ``text[start:end]`` is part of a longer token: a word, a URL, an e-mail address
    (vivian.live.love in vivian.live.love@163.com is part of the address, not a name). Digits may touch a name
    (Anita13912345678 is a name and a phone number written together)."""
    return bool(_LATIN.match(text, start)) and bool(
        start and text[start - 1] in _TOKEN_CHARS or end < len(text) and text[end] in _TOKEN_CHARS)


_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz@._-/:")
_LATIN = re.compile(r"[A-Za-z]")


def _copy(r: RecognizerResult, start: int, end: int) -> RecognizerResult:
    return RecognizerResult(r.entity_type, start, end, r.score, recognition_metadata=dict(r.recognition_metadata or {}))


@register
class ChineseNerRecognizer(EntityRecognizer):
    """See the module's docstring."""

    NLP_FREE = True
    PREFILTER = r"[\u4e00-\u9fff]"
    CONTEXT = ["地址", "住址", "收货", "寄到", "住在", "位于", "家住", "坐落", "联系人", "姓名", "我叫", "收件人"]

    ENTITY_ROLES = {"PERSON": "direct", "CN_ADDRESS": "direct", "LOCATION": "reported"}

    def __init__(self, supported_language: str = "zh"):
        super().__init__(supported_entities=["PERSON", "CN_ADDRESS", "LOCATION"], name=type(self).__name__,
                         supported_language=supported_language, context=list(self.CONTEXT))

    #: Which model reads: the shipped one; :class:`ChineseNerRecallRecognizer` the second.
    RECALL = False

    def load(self) -> None:
        _model(self.RECALL)

    def analyze(self, text, entities, nlp_artifacts=None):
        from transforms.ner import simplified
        from transforms.recognizers.person_recognizer import chinese_name_candidates

        if not _HAN.search(text):
            return []
        text = simplified(text)  # offsets unchanged: traditional characters read as simplified ones
        tagging = _model(self.RECALL).tag(text, jieba_words(text))
        out = self._persons(text, tagging, chinese_name_candidates(text))
        return _everywhere(text, out + self._places(text, tagging))

    def _persons(self, text, tagging, rule_findings) -> list[RecognizerResult]:
        tags, freq = jieba_tables()
        out = []
        for span in tagging.spans + tagging.candidates("PER", FLOOR):
            value = text[span.start:span.end]
            if span.label != "PER" or not _NAME_SHAPE.fullmatch(value) or _inside_token(text, span.start, span.end) \
                    or (not tags.get(value, "nr").startswith("nr") and freq.get(value, 0) > COMMON_WORD
                        and span.probability < SURE_NAME):
                continue
            out.append(self._result("PERSON", span.start, span.end, span.probability))
        for r in rule_findings:
            q = tagging.probability("PER", r.start, r.end)
            out.append(self._result("PERSON", r.start, r.end, RULE_WEIGHT * r.score + (1 - RULE_WEIGHT) * q))
        return out

    def _places(self, text, tagging) -> list[RecognizerResult]:
        from transforms.recognizers.cn_address_recognizer import _qualifies_something, address_candidates

        found = [(s.start, s.end, s.probability) for label in ("ADR", "LOC")
                 for s in tagging.spans + tagging.candidates(label, FLOOR) if s.label == label]
        # a venue the model reads as an organisation (江陵医院, 古南都饭店) is also where someone is
        found += [(s.start, s.end, s.probability) for s in tagging.spans
                  if s.label == "ORG" and text[s.start:s.end].endswith(VENUES) and _named(text, s.start, s.end)]
        # a rule's proposal weighed with the model's reading; a value that is nothing but a place the hand-written
        # list knows (a city column's 成都市) is that place, at the rule's own score at least
        found += [(r.start, r.end, max(r.score if text[r.start:r.end] == text.strip() else 0.0,
                                       RULE_WEIGHT * r.score + (1 - RULE_WEIGHT) * max(
                                           tagging.probability("ADR", r.start, r.end),
                                           tagging.probability("LOC", r.start, r.end))))
                  for r in address_candidates(text)]
        found = [f for f in (_without_plates(text, *f) for f in found)
                 if f and len(_HAN.findall(text, f[0], f[1])) >= 2 and not _qualifies_something(text, *f[:2])
                 and not _inside_an_organisation(text, *f[:2])]
        addresses = [f for f in found if not is_bare_place(text[f[0]:f[1]])]
        out = [self._result("CN_ADDRESS", *f) for f in addresses]
        # a place inside or beside an address is part of it, not a location of its own
        out += [self._result("LOCATION", *f) for f in found
                if is_bare_place(text[f[0]:f[1]]) and not any(s < f[1] and f[0] < e for s, e, _ in addresses)]
        return out

    def _result(self, entity: str, start: int, end: int, score: float) -> RecognizerResult:
        r = result_of(self, start, end, round(min(1.0, score), 3))
        r.entity_type = entity
        return r


@register
class ChineseNerRecallRecognizer(ChineseNerRecognizer):
    """The release engine's second model (:data:`transforms.ner.RECALL_MODEL_PATH`, trained without LAC's tags),
    read with the same rules and vetoes: a name or an address either model finds is redacted. Only the recall-first
    engine takes it (releases, the gate's re-scan, ``piiflow detect --release``): at the balanced point the first
    model alone measured better."""

    RECALL = True
    RECALL_FIRST_ONLY = 0.35
