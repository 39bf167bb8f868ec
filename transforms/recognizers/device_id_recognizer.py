from transforms.recognizers.base import L, PiiflowRecognizer, R, register


@register
class DeviceIdRecognizer(PiiflowRecognizer):
    """Advertising and device identifiers: IDFA (upper-case UUID), OAID (UUID or 64 hex), Android ID (16 hex,
    needs context: 16 hex characters are also hashes and trace ids)."""

    SUPPORTED_ENTITY = "DEVICE_ID"

    ENTITY_ROLES = {"DEVICE_ID": "direct"}
    PREFILTER = r"[0-9A-Fa-f]{8}"
    PATTERNS = [
        ("uuid", L + r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}" + R, 0.5),
        ("android_id", L + r"[0-9a-f]{16}" + R, 0.2),
    ]
    CONTEXT = ["idfa", "oaid", "android_id", "androidid", "android id", "设备", "device", "udid", "guid", "imei"]

    def validate_result(self, pattern_text: str):
        if len(pattern_text) == 16 and (pattern_text.isdigit() or pattern_text.isalpha()):
            return False
        return None
