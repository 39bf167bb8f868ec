from transforms.checksums import luhn_ok, resident_id_shaped
from transforms.recognizers.base import REFERENCE_CUES, L, PiiflowRecognizer, digits_only, register


def card_network(d: str) -> str | None:
    """The card network whose issuer prefixes and lengths ``d`` (digits only) fits, or None."""
    n, p2, p3, p4 = len(d), int(d[:2]), int(d[:3]), int(d[:4])
    if d[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if p2 == 62 and 16 <= n <= 19:
        return "unionpay"
    if (p4 == 6011 or p2 == 65 or 644 <= p3 <= 649) and 16 <= n <= 19:
        return "discover"
    if (p2 == 35 and 16 <= n <= 19) or (p4 in (2131, 1800) and n == 15):
        return "jcb"
    if (300 <= p3 <= 305 or p2 in (36, 38, 39)) and 14 <= n <= 19:
        return "diners"
    if (p2 in (50, 56, 57, 58) or 60 <= p2 <= 69) and 12 <= n <= 19:
        return "maestro"
    return None


@register
class BankCardRecognizer(PiiflowRecognizer):
    """Bank and credit cards of every major network (UnionPay, Visa, Mastercard with its 2-series, Amex, Discover,
    JCB, Diners, Maestro): 12-19 digits, whole or in groups split by spaces or dashes (4111 1111 1111 1111,
    1800-9350-4925-899), on the network's issuer prefix and length, Luhn-valid. A mistyped resident ID that passes
    Luhn by chance needs a card cue to count at the balanced point; a number that an order, tracking, invoice or
    ticket word introduces is no card."""

    SUPPORTED_ENTITY = "BANK_CARD"

    ENTITY_ROLES = {"BANK_CARD": "direct"}
    PREFILTER = r"\d{4}[- ]?\d{4}"
    REJECT_IN_HEX_RUN = True
    PATTERNS = [
        ("bank_card", L + r"[1-6]\d{3}(?:[- ]?\d{4}){1,3}(?:[- ]?\d{1,4})?(?![\d\-])", 0.5),
    ]
    NEGATIVE_CONTEXT = REFERENCE_CUES
    CONTEXT = ["卡号", "银行卡", "账号", "账户", "信用卡", "card", "account", "打款", "转账", "visa", "mastercard",
               "charge", "payment"]

    def validate_result(self, pattern_text: str):
        d = digits_only(pattern_text)
        if not 12 <= len(d) <= 19 or not luhn_ok(d) or card_network(d) is None:
            return False
        return None

    #: A Luhn-valid number laid out as a resident ID (a province code, a real birth date) whose check digit fails
    #: is more likely a mistyped ID than a card: below the balanced point (scans leave it), above the recall-first
    #: one (releases still redact it), unless a card cue raises it.
    ID_SHAPED = 0.35

    def score_cap(self, pattern_text: str) -> float | None:
        d = digits_only(pattern_text)
        return self.ID_SHAPED if len(d) == 18 and resident_id_shaped(d) else None
