import re

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher
from presidio_analyzer import EntityRecognizer, RecognizerResult

from transforms.recognizers.base import in_hex_run, register

_ENOUGH_DIGITS = re.compile(r"(?:\d\D{0,2}){7}")
# libphonenumber is slow: only texts with something a non-mainland number starts with are handed to it (a plus,
# a bracket, 00, a Hong Kong / Macau / Taiwan country code, a trunk 0, or any digit run in English text).
_WORTH_TRYING = re.compile(r"[+＋(（]|(?<!\d)(?:00|852|853|886|0\d)")
_INTERNATIONAL = re.compile(r"^[（(]?(?:\+|00|852|853|886|[（(]\+?\d)")
_TRUNK = re.compile(r"^0\d")
_DOTTED = re.compile(r"\d\.\d+\.\d")
# Same-length normalisation for libphonenumber: letters glued to a number ("+852-37411033WowMusic") become spaces,
# full-width and small dashes and brackets become ASCII. Offsets stay valid.
_NORMALISE = str.maketrans({**{c: " " for c in "ABCDEFGHIJKLMNOPQRSTUVWYZabcdefghijklmnopqrstuvwyz"},
                            "\ufe63": "-", "\uff0d": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
                            "（": "(", "）": ")", "＋": "+"})


@register
class PhoneNumberRecognizer(EntityRecognizer):
    """Phone numbers outside the mainland formats (Hong Kong, Macau, Taiwan, international), validated by Google's
    libphonenumber. A number written with its country code scores 0.6; one without needs a context word."""

    SUPPORTED_ENTITY = "PHONE_NUMBER"
    #: Regions whose national formats are tried, by language of the text.
    REGIONS = {"zh": ("HK", "TW", "MO", "CN"), "en": ("US", "GB", "CA", "AU", "IN", "DE", "FR", "IT", "ES", "NL")}
    CONTEXT = ["电话", "電話", "联系", "聯繫", "聯絡", "tel", "phone", "洽", "经纪", "經紀", "代表號", "手机", "手機"]

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
        spans: dict[tuple[int, int], RecognizerResult] = {}
        norm = text.translate(_NORMALISE)
        english = self.supported_language == "en"
        for region in self.REGIONS.get(self.supported_language, self.REGIONS["zh"]):
            for m in PhoneNumberMatcher(norm, region, leniency=Leniency.VALID):
                if m.number.country_code == 86 and region == "CN" and not _INTERNATIONAL.match(m.raw_string):
                    continue  # mainland national forms are CN_MOBILE / CN_LANDLINE's
                if in_hex_run(text, m.start, m.end) or _DOTTED.search(m.raw_string):
                    continue  # a hash, or an IP address / version string that libphonenumber reads as digits
                if _INTERNATIONAL.match(m.raw_string):
                    score = 0.6
                elif english or (_TRUNK.match(m.raw_string) and region in ("TW", "HK", "MO")):
                    score = 0.5  # formatted national numbers: Taiwan's with its trunk 0, or in English text
                else:
                    score = 0.4  # a bare run of digits that happens to be valid somewhere: needs context
                key = (m.start, m.end)
                if key not in spans or spans[key].score < score:
                    spans[key] = RecognizerResult(self.SUPPORTED_ENTITY, m.start, m.end, score,
                                                  recognition_metadata={
                                                      RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                                      RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})
        return list(spans.values())
