from transforms.recognizers.base import PiiflowRecognizer, register


@register
class GpsRecognizer(PiiflowRecognizer):
    """Latitude, longitude pairs with at least 3 decimals (GPS or BeiDou fixes)."""

    SUPPORTED_ENTITY = "GPS_COORDINATE"

    ENTITY_ROLES = {"GPS_COORDINATE": "direct"}
    PREFILTER = r"\d\.\d{3}"
    PATTERNS = [("lat_lon", r"(?<![\d.\-])-?\d{1,2}\.\d{3,8}\s*[,，]\s*-?\d{1,3}\.\d{3,8}(?![\d.])", 0.6)]
    CONTEXT = ["gps", "位置", "定位", "坐标", "经纬度", "lat", "lon", "location", "北斗"]

    def validate_result(self, pattern_text: str):
        lat, lon = (float(x) for x in pattern_text.replace("，", ",").split(","))
        return None if abs(lat) <= 90 and abs(lon) <= 180 else False
