from transforms.recognizers.base import L, PiiflowRecognizer, register


@register
class CellIdRecognizer(PiiflowRecognizer):
    """Base-station identities written MCC-MNC-LAC-CI (China's MCC is 460)."""

    SUPPORTED_ENTITY = "CELL_ID"

    ENTITY_ROLES = {"CELL_ID": "direct"}
    PREFILTER = r"4\d\d-\d"
    PATTERNS = [("cgi", L + r"4[0-9]{2}-\d{2,3}-\d{1,5}-\d{1,10}(?!\d)", 0.7)]
    CONTEXT = ["基站", "cell", "lac", "cid", "小区"]
