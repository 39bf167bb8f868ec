from transforms.recognizers.base import L, PiiflowRecognizer, R, register


@register
class CnHkMacauPermitRecognizer(PiiflowRecognizer):
    """Permits between the mainland and Hong Kong or Macau: the Exit-Entry Permit of mainland residents
    (往来港澳通行证: C and eight digits, C, a letter and seven digits, or the older W and eight digits) and the
    Home Return Permit of Hong Kong and Macau residents (回乡证: H or M, eight digits, optionally two more for the
    issue). A letter and digits is a common shape, so a number needs a cue nearby (通行证, 回乡证) to be reported."""

    SUPPORTED_ENTITY = "CN_HK_MACAU_PERMIT"

    ENTITY_ROLES = {"CN_HK_MACAU_PERMIT": "direct"}
    PREFILTER = r"[CWHM][A-Z0-9]\d{7}"
    PATTERNS = [("cn_hk_macau_permit", L + r"(?:[CW]\d{8}|C[A-HJ-NP-Z]\d{7}|[HM]\d{8}(?:\d{2})?)" + R, 0.3)]
    CONTEXT = ["通行证", "通行證", "回乡证", "回鄉證", "港澳", "permit", "往来", "來往", "来往"]
