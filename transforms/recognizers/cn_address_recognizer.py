import functools
import re

from presidio_analyzer import RecognizerResult

from transforms.recognizers.base import PiiflowRecognizer, jieba_tables, jieba_words, result_of

_HAN = r"[\u4e00-\u9fff]"
_NUM = r"[0-9０-９一二三四五六七八九十百零〇]"
_PROVINCE = rf"(?:{_HAN}{{2,7}}(?:省|自治区|特别行政区)|北京市?|上海市?|天津市?|重庆市?)"
_CITY = rf"(?:{_HAN}{{1,6}}(?:市|自治州|地区|盟))"
_COUNTY = rf"(?:{_HAN}{{1,6}}(?:区|县|旗|新区|开发区))"
_TOWN = rf"(?:{_HAN}{{1,8}}(?:镇|乡|街道|村|社区|小区|花园|大厦|广场|园区))"
_ROAD = rf"(?:{_HAN}{{1,10}}(?:路|街|大街|大道|巷|弄|胡同|道))(?:{_NUM}+(?:段|巷|弄))?"
_NUMBER = rf"(?:{_NUM}+(?:号院|号楼|号|栋|幢|座|单元|层|楼|室|户)|[A-Za-z]座)"


#: Place names written alone (provinces, large cities, common countries and world cities): a hand-written list.
PLACES = ("北京 上海 天津 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 四川 贵州 "
          "云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门 台北 高雄 台中 深圳 广州 杭州 南京 苏州 成都 武汉 西安 "
          "长沙 郑州 沈阳 大连 青岛 济南 厦门 福州 宁波 无锡 合肥 昆明 大理 丽江 贵阳 南宁 桂林 三亚 海口 哈尔滨 长春 石家庄 "
          "太原 呼和浩特 兰州 西宁 银川 乌鲁木齐 拉萨 南昌 东莞 佛山 珠海 汕头 温州 绍兴 烟台 洛阳 扬州 徐州 常州 "
          "日本 韩国 美国 英国 法国 德国 意大利 西班牙 俄罗斯 加拿大 澳大利亚 新西兰 新加坡 马来西亚 泰国 越南 印度 "
          "巴西 阿根廷 墨西哥 埃及 南非 荷兰 瑞典 瑞士 挪威 丹麦 芬兰 希腊 土耳其 伊朗 以色列 菲律宾 印尼 朝鲜 蒙古 "
          "东京 大阪 首尔 纽约 洛杉矶 旧金山 芝加哥 华盛顿 伦敦 巴黎 柏林 罗马 莫斯科 悉尼 墨尔本 温哥华 多伦多 曼谷 "
          "迪拜 夏威夷 欧洲 亚洲 非洲 美洲 北美 南美 东南亚 中东 大陆 内地 华东 华南 华北 西南 东北").split()


#: The same, as a set: what other recognizers check a word against (a known place is no person), and one of the
#: model's features (so it changes only with a retrained model).
PLACE_SET = frozenset(PLACES)


@functools.lru_cache(maxsize=1)
def world_places() -> frozenset[str]:
    """Places that, written alone, are a location and not an address: :data:`PLACE_SET` with every country and
    territory, province and the large cities by their Chinese names (Faker's ``zh_CN`` address lists: 哥伦比亚,
    毛里求斯, 广西壮族自治区, 齐齐哈尔)."""
    from faker.providers.address.zh_CN import Provider

    return PLACE_SET | frozenset(Provider.countries) | frozenset(Provider.provinces) | frozenset(Provider.cities)


_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2}")
_HAN_WORD = re.compile(r"[\u4e00-\u9fff]+")
#: Every address pattern ends a part with one of these characters, or is a known place name: the (costly)
#: patterns run only on texts that have one.
_PATTERN_GATE = re.compile("[省区市州盟县旗镇乡道村园厦场路街巷弄同]|" + "|".join(sorted(PLACES, key=len, reverse=True)))
#: Words that make a place name before them part of an organisation's or a group's name, not a location.
_QUALIFIED = re.compile(r"(?:银行|政府|大学|学院|中学|小学|[局厅委署院]|协会|公司|集团|电视台|卫视|日报|晚报|队|国脚|演员|歌手|"
                        r"影帝|影后|艺人|明星|电影|音乐|人民|警察|军|国防|官方|视觉|人气|创作|知名|著名|华语|籍|站|分行|支行)")


_ORG_SUFFIX = frozenset("局厅委署会社台队部所校司行报厂馆院团")


def _qualifies_something(text: str, start: int, end: int) -> bool:
    """A bare place name followed by an organisation or group word, or inside a title (《上海滩》)."""
    span = text[start:end]
    if span.rstrip("省市县") not in PLACE_SET and len(span) > 4:
        return False  # a full address (divisions, road, number) stands whatever follows it
    if _QUALIFIED.match(text, end) or text[max(0, start - 1):start] == "《":
        return True
    following = next((w for s, _, w in jieba_words(text) if s == end), "")
    return len(following) >= 2 and following[-1] in _ORG_SUFFIX  # 银监局, 足协, 电视台


#: jieba tags many common nouns ``ns`` (城市, 入口, 蓝牙); only rarer ones are taken as place names.
RARE_PLACE = 1000


#: Words jieba's dictionary tags as places that are not (a hand-written list).
NOT_PLACES = frozenset("蓝牙 城市 入口 出口 上市 青春 嘉宾 海关 山水 英雄 王国 海洋 天堂 人间 江湖 世界 天下 全国 各地 当地 "
                       "本地 外地 异地 基地 园地 阵地 场地 地方 东方 西方 南方 北方 京东".split())


#: Place-kind words that end a named place (国展路, 子君村, 地王广场, 青龙桥街道) when jieba's dictionary does not
#: know the whole name, so the kind word stands alone in its segmentation.
PLACE_KINDS = frozenset("路 街 大街 大道 巷 胡同 村 镇 乡 街道 社区 小区 花园 广场 大厦 新村 家园 商务区 开发区 园区".split())
#: Characters that end a place's name going left: function words, verbs of movement, measure words.
_NAME_STOP = frozenset("的了在和与及到至从往向沿走过经是为叫有这那个条些我你他她们也都就于自由被把对给去来上下进出入近旁边号")
#: A dictionary word more common than this is ordinary text, not part of a place's name (经过, 城市, 高档).
COMMON_WORD = 500


def _named_places(text: str, tags: dict, freq: dict) -> list[tuple[int, int]]:
    """(start, end) of a name of two to five characters followed by a place-kind word (:data:`PLACE_KINDS`) that
    jieba segments on its own; the name is the run of rare words and characters before it."""
    words = jieba_words(text)
    found = []
    for k, (start, end, word) in enumerate(words):
        if word not in PLACE_KINDS or k == 0:
            continue
        first = start
        for s, _, w in reversed(words[:k]):
            if not _HAN_WORD.fullmatch(w) or any(c in _NAME_STOP for c in w) or \
                    (len(w) > 1 and freq.get(w, 0) > COMMON_WORD) or start - s > 5:
                break
            first = s
        if 2 <= start - first <= 5:
            found.append((first, end))
    return found


#: What a pattern's first part (any characters, then 省, 市 or 区) may swallow before the place: 我住在北京市 is
#: 北京市, 货寄到上海市 is 上海市. (Only cues no place name holds: 从化区, 都江堰市 and 于都县 keep their first character.)
_LEAD = re.compile(r"[我你他她它们在到]|住在|家住|居住在?|住址[:：]?|地址[:：]?|位于|坐落于|地处|寄到|送到|发到|来自|搬到|搬去")
_FIRST_DIVISION = re.compile(r"[省市区县州盟旗]")


def _without_lead(text: str, r: RecognizerResult) -> RecognizerResult:
    """``r`` less what precedes the last cue before its first division (住在, 位于, 寄到, a pronoun)."""
    first = _FIRST_DIVISION.search(text, r.start, r.end)
    cut = None
    for m in _LEAD.finditer(text, r.start, first.start() if first else r.start):
        cut = m.end()
    if cut is not None:
        r.start = cut
    return r


class CnAddressRecognizer(PiiflowRecognizer):
    """Mainland postal addresses: administrative divisions (province, city, county, town) then road and house
    numbers, and place names. Not registered on its own: :class:`~transforms.recognizers.cn_ner_recognizer.
    ChineseNerRecognizer` weighs its findings with the trained model's reading and tells addresses from bare
    places."""

    SUPPORTED_ENTITY = "CN_ADDRESS"

    ENTITY_ROLES = {"CN_ADDRESS": "direct"}
    #: Addresses and place names are written in Chinese characters.
    PREFILTER = r"[\u4e00-\u9fff]{2}"
    PATTERNS = [
        # divisions, then road or place, then numbers: 成都市武侯区人民南路四段12号3栋502室
        ("cn_address_full", rf"{_PROVINCE}?{_CITY}?{_COUNTY}?{_TOWN}?{_ROAD}{_NUMBER}*", 0.45),
        ("cn_address_divisions", rf"(?:{_PROVINCE}{_CITY}|{_PROVINCE}?{_CITY}{_COUNTY}|{_CITY}?{_COUNTY}{_TOWN})"
                                 rf"{_ROAD}?{_NUMBER}*", 0.5),
        # a known place name alone (not inside a longer run of the same script: 北京 in 北京大学 still counts)
        ("place", "(?:" + "|".join(sorted(PLACES, key=len, reverse=True)) + r")(?:省|市|县)?", 0.5),
    ]
    CONTEXT = ["地址", "住址", "收货", "寄到", "住在", "位于", "address", "家住", "坐落"]

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        """The patterns, less a place name that only qualifies an organisation or a title (湖北银监局, 上海音乐学院,
        《东京审判》), plus the place names jieba's dictionary knows (``ns``: 西单, 中关村, 孟买), and names it does not
        know that end in a place-kind word (国展路, 子君村, 地王广场)."""
        results = [r for r in (_without_lead(text, r) for r in super().analyze(text, entities, nlp_artifacts,
                                                                                    regex_flags))
                   if r.end - r.start >= 2 and not _qualifies_something(text, r.start, r.end)
                   ] if _PATTERN_GATE.search(text) else []
        if _CJK_RUN.search(text):
            tags, freq = jieba_tables()
            taken = [(r.start, r.end) for r in results]
            for start, end, word in jieba_words(text):
                if len(word) >= 2 and tags.get(word) == "ns" and freq.get(word, 0) <= RARE_PLACE and \
                        word not in NOT_PLACES and \
                        not _qualifies_something(text, start, end) and \
                        not any(s < end and start < e for s, e in taken):
                    results.append(result_of(self, start, end, 0.5))
                    taken.append((start, end))
            for start, end in _named_places(text, tags, freq):
                if not any(s < end and start < e for s, e in taken) and not _qualifies_something(text, start, end):
                    results.append(result_of(self, start, end, 0.5))
        return results

    def validate_result(self, pattern_text: str):
        if pattern_text.rstrip("省市县") in PLACE_SET:
            return None
        parts = sum(pattern_text.count(k) for k in ("省", "市", "区", "县", "镇", "乡", "村", "路", "街", "道", "巷", "号",
                                                    "栋", "室", "楼"))
        return None if parts >= 2 and len(pattern_text) >= 5 else False


@functools.lru_cache(maxsize=1)
def _rules() -> "CnAddressRecognizer":
    return CnAddressRecognizer()


@functools.lru_cache(maxsize=4096)
def address_candidates(text: str) -> tuple[RecognizerResult, ...]:
    """The address rules' findings in ``text``, remembered for recent texts: the NER model reads them as features
    and :class:`~transforms.recognizers.cn_ner_recognizer.ChineseNerRecognizer` weighs them, on the same text."""
    return tuple(_rules().analyze(text, None))
