from transforms.recognizers.base import L, PiiflowRecognizer, register


@register
class CnLandlineRecognizer(PiiflowRecognizer):
    """Fixed-line numbers with an area code: ``028-86048320``, ``(010)62345678``, ``0755 2345 6789``."""

    SUPPORTED_ENTITY = "CN_LANDLINE"
    PATTERNS = [
        ("cn_landline_sep", L + r"(?:\+86[- ]?)?0(?:10|2\d|[3-9]\d{2})[- ]\d{3,4}[- ]?\d{4}(?:-\d{1,5})?(?!\d)", 0.6),
        ("cn_landline_paren", r"[（(]0(?:10|2\d|[3-9]\d{2})[）)]\s?\d{7,8}(?!\d)", 0.6),
        ("cn_landline_plain", L + r"0(?:10|2\d|[3-9]\d{2})\d{7,8}(?!\d)", 0.3),
    ]
    CONTEXT = ["电话", "座机", "固话", "联系", "传真", "tel", "phone", "fax", "热线"]
