from transforms.checksums import luhn_ok
from transforms.recognizers.base import L, PiiflowRecognizer, digits_only, register


@register
class BankCardRecognizer(PiiflowRecognizer):
    """Bank and credit cards (UnionPay 62, Visa, Mastercard, Amex, JCB), 15-19 digits, Luhn-valid."""

    SUPPORTED_ENTITY = "BANK_CARD"
    PREFILTER = r"\d{4}[- ]?\d{4}"
    REJECT_IN_HEX_RUN = True
    PATTERNS = [
        ("bank_card", L + r"(?:62|4\d|5[1-5]|3[457])\d{2}(?:[- ]?\d{4}){2}(?:[- ]?\d{3,4})(?:[- ]?\d{1,3})?(?!\d)", 0.5),
    ]
    CONTEXT = ["卡号", "银行卡", "账号", "账户", "信用卡", "card", "account", "打款", "转账"]

    def validate_result(self, pattern_text: str):
        d = digits_only(pattern_text)
        if not 15 <= len(d) <= 19 or not luhn_ok(d):
            return False
        return None
