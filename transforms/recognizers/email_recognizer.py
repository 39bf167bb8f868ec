from transforms.recognizers.base import PiiflowRecognizer, register


@register
class EmailRecognizer(PiiflowRecognizer):
    """E-mail addresses, spanning exactly the address even when glued to Chinese text (no tldextract). An address
    may start right after a dash that follows Chinese text (``羅小姐-jessica@yahoo.com.hk``), not inside a longer
    local part."""

    SUPPORTED_ENTITY = "EMAIL_ADDRESS"

    ENTITY_ROLES = {"EMAIL_ADDRESS": "direct"}
    PREFILTER = "@"
    PATTERNS = [
        ("email", r"(?<![A-Za-z_%+])(?<![A-Za-z0-9_%+.]-)[A-Za-z0-9_](?:[A-Za-z0-9._%+\-]{0,63})@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}"
                  r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z])",
         0.9),
    ]
    CONTEXT = ["邮箱", "email", "e-mail", "mail", "邮件"]
