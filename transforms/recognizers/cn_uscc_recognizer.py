from transforms.checksums import resident_id_shaped, uscc_ok
from transforms.recognizers.base import L, PiiflowRecognizer, R, register

#: GB 32100 characters: digits and capitals without I, O, S, V, Z.
_C = "[0-9A-HJ-NP-RTUWXY]"


@register
class CnUsccRecognizer(PiiflowRecognizer):
    """Unified Social Credit Codes of companies and organisations (GB 32100-2015): registration authority, entity
    type, six-digit division code, nine-character organisation code and the MOD 31 check character. Only codes
    whose check character is right are reported; an all-digit run laid out as a resident ID (a province, a real
    birth date) is one, right or mistyped, and left to that recognizer."""

    SUPPORTED_ENTITY = "CN_USCC"

    ENTITY_ROLES = {"CN_USCC": "direct"}
    PREFILTER = r"\d{6}[0-9A-Z]{9}"
    REJECT_IN_HEX_RUN = True
    PATTERNS = [("cn_uscc", L + rf"[1-9ANY]{_C}\d{{6}}{_C}{{9}}{_C}" + R, 0.4)]
    CONTEXT = ["统一社会信用代码", "信用代码", "社会信用", "税号", "纳税人识别号", "营业执照", "uscc", "credit code"]

    def validate_result(self, pattern_text: str):
        if not uscc_ok(pattern_text) or (pattern_text.isdigit() and resident_id_shaped(pattern_text)):
            return False
        return True
