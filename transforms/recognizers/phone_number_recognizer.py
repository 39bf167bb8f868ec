import re

from phonenumbers import Leniency, PhoneNumberMatcher
from presidio_analyzer import EntityRecognizer, RecognizerResult

from transforms.recognizers.base import REFERENCE_CUES, in_hex_run, negated, register, result_of

_ENOUGH_DIGITS = re.compile(r"(?:\d\D{0,2}){7}")
# libphonenumber is slow: only texts with something a non-mainland number starts with are handed to it (a plus,
# a bracket, 00, a Hong Kong / Macau / Taiwan country code, a trunk 0, or any digit run in English text).
_WORTH_TRYING = re.compile(r"[+＋(（]|(?<!\d)(?:00|852|853|886|0\d)")
_INTERNATIONAL = re.compile(r"^[（(]?(?:\+|00|852|853|886|[（(]\+?\d{1,3}[)）])")
_TRUNK = re.compile(r"^0\d")
# A bare mainland mobile number is CN_MOBILE's (scored higher, so it wins any overlap): blanked out before
# libphonenumber sees the text, which then often has no digits left worth its time.
_BARE_MOBILE = re.compile(r"(?<![\d+])1[3-9]\d{9}(?![\d\-])")
# Dotted digits are an IP address or a version string, except the North American 415.555.0100 form.
_DOTTED = re.compile(r"\d\.\d+\.\d")
_DOTTED_PHONE = re.compile(r"^\(?\d{2,4}\)?\.\d{3,4}\.\d{4}(?:\s*x\d+)?$")
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
# A run of digits joined by phone punctuation only (not ':' of times, ',' of lists, '_' of identifiers).
_RUN = re.compile(r"\d(?:[\s\-.()/]{0,2}\d)+")
_BLOCKS = re.compile(r"\d+")
# Same-length normalisation for libphonenumber: letters glued to a number ("+852-37411033WowMusic") become spaces,
# full-width and small dashes and brackets become ASCII. Offsets stay valid.
_NORMALISE = str.maketrans({**{c: " " for c in "ABCDEFGHIJKLMNOPQRSTUVWYZabcdefghijklmnopqrstuvwyz"},
                            "\ufe63": "-", "\uff0d": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
                            "（": "(", "）": ")", "＋": "+", "／": " "})


# Hong Kong, Macau and Taiwan numbers are often written with their country code but no plus: 886-2369-9886.
_BARE_CC = re.compile(r"(?<=[^\dA-Za-z+(（])(?:852|853|886)(?=[\s\-]?\d)")


# English text: phone-shaped digit groups libphonenumber does not accept (unassigned area codes, short numbers):
# a weak finding that needs a context word (call, fax, phone...) unless it starts with a plus.
_SHAPED = re.compile(r"(?<![0-9A-Za-z.+])(?:\+\d{1,3}[\s.\-]?|00\d{1,3}[\s.\-])?(?:\(\d{2,4}\)\s?)?\d{2,4}"
                     r"(?:[\s.\-]\d{2,4}){1,4}(?:\s?x\d{1,6})?(?![0-9A-Za-z.])")
# Dates (2019-10-21, 21.10.2019) and log time stamps (081110 230202: yymmdd hhmmss) are not phone numbers.
_DATE_SHAPED = re.compile(r"^(?:\d{4}[\s.\-]\d{1,2}[\s.\-]\d{1,2}|\d{1,2}[\s.\-]\d{1,2}[\s.\-]\d{4}|"
                          r"\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s(?:[01]\d|2[0-3])[0-5]\d[0-5]\d)(?!\d)")
# Digits in a host name (61-92-85-98.dsl.example.net) or a decimal number (1122475266.4294965305) are not phone
# numbers; nor is a time (hhmmss) right after a date (yymmdd) in a log line.
_HOST_AFTER = re.compile(r"^\.[A-Za-z0-9]")
_LOG_TIME = re.compile(r"^(?:[01]\d|2[0-3])[0-5]\d[0-5]\d(?!\d)")
_LOG_DATE_BEFORE = re.compile(r"(?<!\d)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s$")
_FORMATTED = re.compile(r"\d[\s\-.()/]+\d|^[(（]\d+[)）]")
# A log line's yymmdd hhmmss time stamp (081109 203615): never a phone number, and in most log lines the only
# digit run long enough for libphonenumber. Blanked before the windows are cut, so those lines cost nothing.
_LOG_STAMP = re.compile(r"(?<!\d)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s(?:[01]\d|2[0-3])[0-5]\d[0-5]\d(?!\d)")
#: Blanked before the windows are cut, with the time stamp: an ISO date or date-time (2026-10-01T00:30:27.655+08:00,
#: whose offset libphonenumber read as a country code), a coordinate or measure with five or more decimals
#: (31.290819,121.455497), a UUID (0d41b407-8185-19fc-...: its letters become spaces for libphonenumber, which then
#: found 0d41b407-8185-19 a valid number at 0.5).
_NEVER_PHONES = (_LOG_STAMP,
                 re.compile(r"(?<!\d)\d{4}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])(?:[T\s](?:[01]\d|2[0-3]):[0-5]\d"
                            r"(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+\-](?:[01]\d|2[0-3]):?[0-5]\d)?)?(?!\d)"),
                 re.compile(r"(?<![\d.])\d{1,3}\.\d{5,}(?![\d.])"),
                 re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])"))


def _plus_country_codes(norm: str) -> str:
    """Put a ``+`` in place of the character before a bare 852/853/886 (same length: offsets stay valid)."""
    starts = [m.start() for m in _BARE_CC.finditer(norm)]
    if not starts:
        return norm
    chars = list(norm)
    for s in starts:
        chars[s - 1] = "+"
    return "".join(chars)


def _in_host(text: str, m) -> bool:
    """The match is part of a host name or a longer number (a dotted label or decimals follow it, or a letter or
    digit and a dash or dot come before it), or the time of a log line's time stamp."""
    before = text[max(0, m.start - 2):m.start]
    return bool(_HOST_AFTER.match(text[m.end:m.end + 2])) or (
        len(before) == 2 and before[1] in "-." and before[0].isascii() and before[0].isalnum()) or bool(
        _LOG_TIME.match(m.raw_string) and _LOG_DATE_BEFORE.search(text[max(0, m.start - 8):m.start]))


def _glued(text: str, start: int) -> bool:
    """In English text, the number continues a path (``/items/373884945``) or a word (``md5 078c...``). (Chinese
    text glues numbers to names: 經理人kenneth+85294979172.)"""
    before = text[start - 1:start]
    return before == "/" or (before.isascii() and before.isalpha())


def _blank(m: re.Match) -> str:
    return " " * (m.end() - m.start())


def _plausible(run: str) -> bool:
    """Worth libphonenumber's time: 7 or more digits, none of its blocks longer than a phone number can be
    (an 18-digit identity card or a 19-digit block id is not a phone number)."""
    blocks = _BLOCKS.findall(run)
    return sum(map(len, blocks)) >= 7 and max(map(len, blocks)) <= 17


def _windows(text: str, norm: str, english: bool, before: int = 4, after: int = 12) -> list[tuple[int, int]]:
    """Stretches of the text around plausible digit runs, merged where they overlap: libphonenumber reads these,
    not the whole text (a log line has many digit runs, few of them phone-shaped). What is never a phone number is
    blanked first (IPv4 addresses, dates and times, log time stamps, coordinates, UUIDs), and runs that continue an
    identifier are skipped: after letters or digits and a dash or dot (dev-20261001-000-0000000, as
    :func:`_in_host` rejects), or in English text glued to letters (a UUID's 6a834902-4470, as :func:`_glued`)."""
    out: list[tuple[int, int]] = []
    chars = list(_IPV4.sub(_blank, norm))
    for rx in _NEVER_PHONES:
        for m in rx.finditer(text):
            chars[m.start():m.end()] = " " * (m.end() - m.start())
    for m in _RUN.finditer("".join(chars)):
        lead = text[max(0, m.start() - 2):m.start()]
        if len(lead) == 2 and lead[1] in "-._" and lead[0].isascii() and lead[0].isalnum():
            continue
        if english and m.start() and text[m.start() - 1].isascii() and text[m.start() - 1].isalpha():
            continue
        if _plausible(m.group()):
            a, b = max(0, m.start() - before), min(len(norm), m.end() + after)
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
    return out


class _Shifted:
    """A libphonenumber match found in a window, with offsets in the whole text."""

    __slots__ = ("start", "end", "raw_string", "number")

    def __init__(self, m, offset: int):
        self.start, self.end, self.raw_string, self.number = m.start + offset, m.end + offset, m.raw_string, m.number


def _matches(norm: str, a: int, b: int, region: str):
    return (_Shifted(m, a) for m in PhoneNumberMatcher(norm[a:b], region, leniency=Leniency.VALID))


@register
class PhoneNumberRecognizer(EntityRecognizer):
    """Phone numbers outside the mainland formats (Hong Kong, Macau, Taiwan, international), validated by Google's
    libphonenumber. A number written with its country code scores 0.6; one without needs a context word."""

    SUPPORTED_ENTITY = "PHONE_NUMBER"

    ENTITY_ROLES = {"PHONE_NUMBER": "direct"}
    PREFILTER = _ENOUGH_DIGITS.pattern
    NLP_FREE = True
    #: Regions whose national formats are tried, by language of the text.
    REGIONS = {"zh": ("HK", "TW", "MO", "CN"), "en": ("US", "GB", "CA", "AU", "IN", "DE", "FR", "IT", "ES", "NL")}
    CONTEXT = ["电话", "電話", "联系", "聯繫", "聯絡", "tel", "phone", "洽", "经纪", "經紀", "代表號", "手机", "手機",
               "call", "fax", "mobile", "cell", "contact", "reach me", "text me"]

    def __init__(self, supported_language: str = "zh"):
        super().__init__(supported_entities=[self.SUPPORTED_ENTITY], name="PhoneNumberRecognizer",
                         supported_language=supported_language, context=list(self.CONTEXT))

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        if not _ENOUGH_DIGITS.search(text):
            return []
        if self.supported_language != "en" and not _WORTH_TRYING.search(text) and not any(
                w in text.lower() for w in self.CONTEXT):
            return []
        norm = _plus_country_codes(_BARE_MOBILE.sub(_blank, text.translate(_NORMALISE)))
        windows = _windows(text, norm, self.supported_language == "en")
        if not windows:
            return []
        spans: dict[tuple[int, int], RecognizerResult] = {}
        english = self.supported_language == "en"
        for region in self.REGIONS.get(self.supported_language, self.REGIONS["zh"]):
            for m in (m for a, b in windows for m in _matches(norm, a, b, region)):
                if m.number.country_code == 86 and region == "CN" and not _INTERNATIONAL.match(m.raw_string):
                    continue  # mainland national forms are CN_MOBILE / CN_LANDLINE's
                if in_hex_run(text, m.start, m.end) or _DATE_SHAPED.match(m.raw_string) or _in_host(text, m) or (
                        _DOTTED.search(m.raw_string) and not _DOTTED_PHONE.match(m.raw_string)):
                    continue  # a hash, a date, a host name, an IP address or a version string
                if (english and _glued(text, m.start)) or negated(text, m.start, REFERENCE_CUES, self.CONTEXT):
                    continue  # a path segment (/items/373884945), digits of a word (md5), a reference number
                if _INTERNATIONAL.match(m.raw_string):
                    score = 0.6
                elif (english and _FORMATTED.search(m.raw_string)) or (
                        _TRUNK.match(m.raw_string) and region in ("TW", "HK", "MO")):
                    score = 0.5  # formatted national numbers in English text, Taiwan's with its trunk 0
                else:
                    score = 0.4  # a bare run of digits that happens to be valid somewhere: needs context
                start = m.start + 1 if text[m.start] not in "+＋" and m.raw_string.startswith("+") else m.start
                key = (start, m.end)
                if key not in spans or spans[key].score < score:
                    spans[key] = result_of(self, start, m.end, score)
        if english:
            self._shaped(text, spans)
        return list(spans.values())

    def _shaped(self, text: str, spans: dict[tuple[int, int], RecognizerResult]) -> None:
        """Add phone-shaped groups (8-15 digits in 3 or more groups, not a date or an IP address) that no
        libphonenumber match covers."""
        for m in _SHAPED.finditer(text):
            raw = m.group()
            number = raw.split("x")[0]
            digits = sum(c.isdigit() for c in number)
            groups = len(re.findall(r"\d+", number))
            if not 8 <= digits <= 15 or groups < 3 or _DATE_SHAPED.match(raw) or _IPV4.search(raw) or \
                    _HOST_AFTER.match(text[m.end():m.end() + 2]):
                continue
            if any(s < m.end() and m.start() < e for s, e in spans) or negated(text, m.start(), REFERENCE_CUES,
                                                                                 self.CONTEXT):
                continue
            spans[(m.start(), m.end())] = result_of(self, m.start(), m.end(), 0.5 if raw[0] == "+" else 0.35)
