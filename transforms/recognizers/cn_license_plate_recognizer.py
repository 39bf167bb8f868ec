import re

from transforms.recognizers.base import L, PiiflowRecognizer, R, register

#: Province (and embassy, consulate) characters that begin a mainland plate.
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领"
_A = "[A-HJ-NP-Z]"  # plate letters: no I or O
_AN = "[A-HJ-NP-Z0-9]"
#: The shape of any plate, for other recognizers to step over.
PLATE_SHAPE = re.compile(rf"[{PROVINCES}]{_A}[·•. ]?{_AN}{{4}}(?:{_AN}{{1,2}}|[挂学警港澳])")


@register
class CnLicensePlateRecognizer(PiiflowRecognizer):
    """Mainland vehicle plates: a province character, the issuing office's letter, then five characters (at most
    two of them letters; a trailer, learner, police, Hong Kong or Macau character may end it: 粤B1234学), or the
    six of a new-energy plate (D or F first for small cars, last for large ones: 京AD12345, 粤B12345F). A dot or
    space may follow the letter (京A·12345). A serial of three letters (粤B·AB1C2, issued in some cities) is
    ambiguous with product codes: it scores ``CUE_GATED`` and needs a cue (车, 牌照...) to count."""

    SUPPORTED_ENTITY = "CN_LICENSE_PLATE"

    ENTITY_ROLES = {"CN_LICENSE_PLATE": "direct"}
    PREFILTER = f"[{PROVINCES}][A-Z]"
    PATTERNS = [
        ("plate_new_energy", L + rf"[{PROVINCES}]{_A}[·•. ]?(?:[DF]{_AN}\d{{4}}|\d{{5}}[DF])" + R, 0.6),
        ("plate", L + rf"[{PROVINCES}]{_A}[·•. ]?{_AN}{{4}}(?:{_AN}|[挂学警港澳])" + R, 0.5),
    ]
    CONTEXT = ["车", "牌照", "号牌", "plate", "license", "vehicle"]
    CUE_GATED = 0.3

    def score_cap(self, pattern_text: str) -> float | None:
        return self.CUE_GATED if _letters(pattern_text) == 3 else None

    def validate_result(self, pattern_text: str):
        tail = _tail(pattern_text)
        if len(tail) == 6:
            return None  # a new-energy plate: the pattern fixed where its letters go
        return None if _letters(pattern_text) <= 3 and sum(c.isdigit() for c in tail) >= 2 else False


def _tail(plate: str) -> str:
    return re.sub(r"[·•. ]", "", plate)[2:]


def _letters(plate: str) -> int:
    tail = _tail(plate)
    return 0 if len(tail) == 6 else sum(c.isalpha() and c.isascii() for c in tail)
