from transforms.recognizers.base import PiiflowRecognizer, register


@register
class UrlRecognizer(PiiflowRecognizer):
    """http(s) URLs, stopping at whitespace and Chinese punctuation."""

    SUPPORTED_ENTITY = "URL"

    ENTITY_ROLES = {"URL": "redacted"}
    PREFILTER = "://"
    PATTERNS = [("url", r"(?<![A-Za-z0-9])https?://[^\s<>\"'，。、；：！？）)】」\u4e00-\u9fff]+", 0.6)]
    CONTEXT = ["网址", "链接", "url", "link"]
