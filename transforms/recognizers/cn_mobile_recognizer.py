import re

from transforms.recognizers.base import PiiflowRecognizer, digits_only, register

_SEP = r"[-\s\u2010-\u2015\ufe63\uff0d]"


def _grouped_like_a_phone(pattern_text: str) -> bool:
    """Separated digits are grouped as people write phone numbers (138 1234 5678, 1380-2841-004, 138-12345678),
    not as a log time stamp and a process id (130315 11823)."""
    groups = [len(g) for g in re.findall(r"\d+", pattern_text)]
    if groups and groups[0] in (2, 4) and len(groups) > 1 and pattern_text.lstrip("+（(0")[:2] == "86":
        groups = groups[1:]  # the country code
    return len(groups) == 1 or groups == [3, 8] or all(3 <= g <= 5 for g in groups)


@register
class CnMobileRecognizer(PiiflowRecognizer):
    """Mainland mobile numbers: 11 digits starting 13-19, with optional +86 / 0086 / 86 / (86), and spaces or
    dashes anywhere between digits. Letters may touch it (``Tel13701233057``); other digits may not, except a second
    mobile number written straight after the first (``1861060699713940087450``: one finding over both)."""

    SUPPORTED_ENTITY = "CN_MOBILE"

    ENTITY_ROLES = {"CN_MOBILE": "direct"}
    PREFILTER = r"1[3-9]\d"
    REJECT_IN_HEX_RUN = True
    PATTERNS = [
        ("cn_mobile", r"(?<![\d+])(?:(?:\+|00)?86" + _SEP + r"?|[（(]\+?86[)）]\s?)?1[3-9]\d(?:" + _SEP + r"?\d){8}(?!\d)",
         0.7),
        ("cn_mobile_pair", r"(?<![\d+])1[3-9]\d{9}1[3-9]\d{9}(?!\d)", 0.6),
    ]
    CONTEXT = ["手机", "电话", "電話", "联系", "聯繫", "聯絡", "致电", "号码", "tel", "mobile", "phone", "call", "热线",
               "洽", "经纪", "經紀"]

    def validate_result(self, pattern_text: str):
        d = digits_only(pattern_text)
        if len(d) == 15 and d.startswith("0086"):
            d = d[4:]
        elif len(d) == 13 and d.startswith("86"):
            d = d[2:]
        if len(d) not in (11, 22):
            return False
        return None if _grouped_like_a_phone(pattern_text) else False
