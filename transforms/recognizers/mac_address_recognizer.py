from transforms.recognizers.base import PiiflowRecognizer, register


@register
class MacAddressRecognizer(PiiflowRecognizer):
    """MAC addresses (Wi-Fi BSSID, Bluetooth): six hex pairs with ``:`` or ``-``, or three dotted quads."""

    SUPPORTED_ENTITY = "MAC_ADDRESS"

    ENTITY_ROLES = {"MAC_ADDRESS": "direct"}
    PREFILTER = r"[0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}|[0-9A-Fa-f]{4}\."
    PATTERNS = [
        ("mac", r"(?<![0-9A-Fa-f:\-])[0-9A-Fa-f]{2}([:\-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:\-])", 0.7),
        ("mac_cisco", r"(?<![0-9A-Fa-f.])[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?![0-9A-Fa-f.])", 0.4),
    ]
    CONTEXT = ["mac", "bssid", "蓝牙", "bluetooth", "wifi", "wi-fi", "无线"]
