from transforms.checksums import luhn_ok
from transforms.recognizers.base import REFERENCE_CUES, L, PiiflowRecognizer, register

#: Reporting-body prefixes of type allocation codes seen on phones sold in China.
_RBI = ("01", "35", "86", "99", "49", "44", "45", "33")


@register
class ImeiRecognizer(PiiflowRecognizer):
    """IMEI: 15 digits, Luhn-valid, with a known reporting-body prefix (or context to confirm)."""

    SUPPORTED_ENTITY = "IMEI"

    ENTITY_ROLES = {"IMEI": "direct"}
    PREFILTER = r"\d{6}"
    REJECT_IN_HEX_RUN = True
    PATTERNS = [("imei", L + r"\d{2}-?\d{6}-?\d{6}-?\d(?!\d)", 0.5)]
    NEGATIVE_CONTEXT = REFERENCE_CUES
    CONTEXT = ["imei", "设备号", "串号", "meid", "device"]

    def validate_result(self, pattern_text: str):
        d = pattern_text.replace("-", "")
        if not luhn_ok(d):
            return False
        return None if d[:2] in _RBI else False
