import re

from transforms.recognizers.base import L, PiiflowRecognizer, R, register

#: Province (and embassy, consulate) characters that begin a mainland plate.
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领"
_A = "[A-HJ-NP-Z]"  # plate letters: no I or O
_AN = "[A-HJ-NP-Z0-9]"


@register
class CnLicensePlateRecognizer(PiiflowRecognizer):
    """Mainland vehicle plates: a province character, the issuing office's letter, then five characters (at most
    two of them letters; a trailer, learner, police, Hong Kong or Macau character may end it: 粤B1234学), or the
    six of a new-energy plate (D or F first for small cars, last for large ones: 京AD12345, 粤B12345F). A dot or
    space may follow the letter (京A·12345)."""

    SUPPORTED_ENTITY = "CN_LICENSE_PLATE"
    PREFILTER = f"[{PROVINCES}][A-Z]"
    PATTERNS = [
        ("plate_new_energy", L + rf"[{PROVINCES}]{_A}[·•. ]?(?:[DF]{_AN}\d{{4}}|\d{{5}}[DF])" + R, 0.6),
        ("plate", L + rf"[{PROVINCES}]{_A}[·•. ]?{_AN}{{4}}(?:{_AN}|[挂学警港澳])" + R, 0.5),
    ]
    CONTEXT = ["车", "牌照", "号牌", "plate", "license", "vehicle"]

    def validate_result(self, pattern_text: str):
        tail = re.sub(r"[·•. ]", "", pattern_text)[2:]
        if len(tail) == 6:
            return None  # a new-energy plate: the pattern fixed where its letters go
        letters = sum(c.isalpha() and c.isascii() for c in tail)
        return None if letters <= 2 and sum(c.isdigit() for c in tail) >= 3 else False
