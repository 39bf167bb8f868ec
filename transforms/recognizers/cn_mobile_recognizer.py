from transforms.recognizers.base import L, R, PiiflowRecognizer, digits_only, register


@register
class CnMobileRecognizer(PiiflowRecognizer):
    """Mainland mobile numbers: 11 digits starting 13-19, with optional +86/0086 and space or dash groups."""

    SUPPORTED_ENTITY = "CN_MOBILE"
    PATTERNS = [
        ("cn_mobile", L + r"(?:(?:\+|00)86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}" + R, 0.7),
    ]
    CONTEXT = ["手机", "电话", "联系", "致电", "号码", "tel", "mobile", "phone", "call", "手机号", "热线"]

    def validate_result(self, pattern_text: str):
        d = digits_only(pattern_text)
        if d.startswith("0086"):
            d = d[4:]
        elif d.startswith("86") and len(d) == 13:
            d = d[2:]
        return None if len(d) == 11 else False
