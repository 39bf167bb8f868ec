from transforms.recognizers.base import PiiflowRecognizer, register

#: What a handle is written with on Weibo, WeChat and the company's IM: Chinese characters, Latin letters, digits,
#: ``_``, ``-`` and the decorative 丶 and ·; a link glued after it (@淘宝网http://t.cn/...) is not part of it.
_HANDLE = r"(?:(?!https?:)[\u4e00-\u9fffA-Za-z0-9_\-·丶])"


@register
class NicknameRecognizer(PiiflowRecognizer):
    """A user's handle mentioned in chat and social text: ``@王冉``, the repost chain ``//@大象院长：转发微博``,
    ``@Chicken_翼``, full-width ``＠陳依佳小妹``. A nickname identifies its holder (the privacy policy lists nicknames
    beside names), whether or not it is a real name, so the handle is redacted whole; a real name inside it is also
    a PERSON (any finding inside a handle keeps its part, the rest of the handle stays a NICKNAME: see
    :func:`transforms.detection._resolve_overlaps`). Not the ``@`` of an e-mail address or a URL path (a letter,
    digit, dot or one slash before it; the two of ``//@`` start a repost), not a lone character (the eyes of
    ``@o@``), not a decorator called (``@app.route(``). The ``@`` stays. A handle glued to the words after it is
    taken up to 30 characters: in a release an extra word redacted costs less than half a nickname kept."""

    SUPPORTED_ENTITY = "NICKNAME"

    ENTITY_ROLES = {"NICKNAME": "direct"}
    PREFILTER = "[@＠]"
    PATTERNS = [("mention", rf"(?<=(?<![A-Za-z0-9._%+\-:=])(?<![^/]/)[@＠]){_HANDLE}{{2,30}}+(?![.(][A-Za-z_])", 0.6)]
