from transforms.recognizers.base import L, PiiflowRecognizer, R, register


@register
class CnPassportRecognizer(PiiflowRecognizer):
    """People's Republic of China passport numbers: ordinary passports (E and eight digits, or E, a letter and
    seven digits; the older G and eight digits) and official ones (D, S or P, optionally E, then seven digits).
    A letter and digits is a common shape (order and ticket numbers), so a number needs a cue nearby (护照,
    passport) to be reported."""

    SUPPORTED_ENTITY = "CN_PASSPORT"

    ENTITY_ROLES = {"CN_PASSPORT": "direct"}
    PREFILTER = r"[DEGPS][A-Z0-9]\d{7}"
    PATTERNS = [("cn_passport", L + r"(?:[EG]\d{8}|E[A-HJ-NP-Z]\d{7}|[DSP]E?\d{7})" + R, 0.3)]
    CONTEXT = ["护照", "護照", "passport", "证件号", "證件號", "出入境"]
