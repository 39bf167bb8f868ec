import ipaddress

from transforms.recognizers.base import PiiflowRecognizer, register

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"


@register
class IpRecognizer(PiiflowRecognizer):
    """IPv4 and IPv6 addresses; not version strings (``1.2.3.4.5``) nor times (``12:30:45``)."""

    SUPPORTED_ENTITY = "IP_ADDRESS"

    ENTITY_ROLES = {"IP_ADDRESS": "direct"}
    PREFILTER = r"\d\.\d|:[0-9A-Fa-f]*:"
    PATTERNS = [
        ("ipv4", rf"(?<![\d.vV])(?:{_OCTET}\.){{3}}{_OCTET}(?!\.?[0-9A-Za-z])", 0.6),
        ("ipv6", r"(?<![0-9A-Za-z_:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:)?(?:%\w+)?(?![0-9A-Za-z_:])", 0.6),
    ]
    #: Version, build and firmware numbers are written like IPv4 addresses.
    NEGATIVE_CONTEXT = ("版本", "version", "ver", "build", "固件", "firmware", "release", "升级到", "更新到", "内核",
                        "kernel", "sdk", "patch", "补丁")
    CONTEXT = ["ip", "地址", "登录", "来源", "host", "client", "remote"]

    def validate_result(self, pattern_text: str):
        try:
            addr = ipaddress.ip_address(pattern_text.split("%")[0])
        except ValueError:
            return False
        if addr.version == 6 and pattern_text.count(":") < 2:
            return False
        return None
