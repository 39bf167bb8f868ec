from transforms.checksums import resident_id_ok
from transforms.recognizers.base import L, PiiflowRecognizer, R, register

_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"


@register
class CnResidentIdRecognizer(PiiflowRecognizer):
    """Mainland resident identity card numbers: 18 characters with the ISO 7064 MOD 11-2 check character and a
    real birth date, or the first-generation 15-digit form (weaker: needs context)."""

    SUPPORTED_ENTITY = "CN_RESIDENT_ID"

    ENTITY_ROLES = {"CN_RESIDENT_ID": "direct"}
    PREFILTER = r"\d{14}"
    REJECT_IN_HEX_RUN = True
    PATTERNS = [
        ("cn_resident_id_18", L + rf"[1-9]\d{{5}}(?:18|19|20)\d{{2}}{_DATE}\d{{3}}[\dXx]" + R, 0.5),
        ("cn_resident_id_15", L + rf"[1-9]\d{{7}}{_DATE}\d{{3}}" + R, 0.3),
    ]
    CONTEXT = ["身份证", "证件", "身份", "id card", "resident id", "idcard", "公民身份"]

    def validate_result(self, pattern_text: str):
        if not resident_id_ok(pattern_text):
            return False
        return True if len(pattern_text) == 18 else None
