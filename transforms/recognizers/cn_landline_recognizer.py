from transforms.recognizers.base import PiiflowRecognizer, register

_AREA = r"0(?:10|2\d|[3-9]\d{2})"
_SEP = r"[-\s\u2010-\u2015\ufe63\uff0d]"


@register
class CnLandlineRecognizer(PiiflowRecognizer):
    """Fixed-line numbers with an area code: ``028-86048320``, ``(010)62345678``, ``0755 2345 6789``, extensions."""

    SUPPORTED_ENTITY = "CN_LANDLINE"

    ENTITY_ROLES = {"CN_LANDLINE": "direct"}
    PREFILTER = r"(?:(?<!\d)|(?<=86))0\d{1,3}\D{0,2}\d{3}"
    REJECT_IN_HEX_RUN = True
    PATTERNS = [
        ("cn_landline_sep", r"(?<![\d+])(?:\+?86" + _SEP + r"?)?" + _AREA + _SEP + r"\d{3,4}" + _SEP
         + r"?\d{4}(?:(?:-|转|#)\d{1,5})?(?!\d)", 0.6),
        ("cn_landline_paren", r"[（(]" + _AREA + r"[）)]\s?\d{3,4}" + _SEP + r"?\d{4}(?!\d)", 0.6),
        ("cn_landline_plain", r"(?<![\d+])" + _AREA + r"\d{7,8}(?!\d)", 0.3),
    ]
    CONTEXT = ["电话", "電話", "座机", "固话", "联系", "聯繫", "聯絡", "传真", "tel", "phone", "fax", "热线", "代表號",
               "洽"]
