"""Shared pieces of piiflow's recognizers: CJK-safe boundaries, the declarative base class, the registry."""

from __future__ import annotations

import functools
import logging
import re
from typing import ClassVar

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS

from configs.registry import Registry

#: ``\b`` does not separate a Chinese character from a digit (both are word characters), so boundaries are
#: spelled out: no ASCII letter, digit or underscore may touch the match on either side, nor ``_-`` before it
#: (``blk_-4980916519894289629`` is a block id, not a card number).
L = r"(?<![0-9A-Za-z_])(?<!_-)"
R = r"(?![0-9A-Za-z_])"
#: Languages every recognizer is built for.
LANGUAGES = ("zh", "en")

RECOGNIZERS: Registry[type["PiiflowRecognizer"]] = Registry("recognizer")


#: What a recognizer's entity is to a release, declared by every recognizer (``ENTITY_ROLES``): ``direct``, it
#: identifies a person (redacted from free text, and a value of it left in any released column blocks the release);
#: ``redacted``, redacted from free text without blocking (a URL); ``reported``, scans report it and releases keep it
#: (a country or city named alone).
ENTITY_ROLES = ("direct", "redacted", "reported")


def register(cls: type["PiiflowRecognizer"]) -> type["PiiflowRecognizer"]:
    """Class decorator adding a recognizer to the registry; a class name that is taken, or a class that does not say
    what each of its entities is to a release (``ENTITY_ROLES``), raises at import time."""
    roles = getattr(cls, "ENTITY_ROLES", None)
    entity = getattr(cls, "SUPPORTED_ENTITY", None)
    if not isinstance(roles, dict) or not roles or (entity is not None and entity not in roles) or any(
            r not in ENTITY_ROLES for r in roles.values()):
        raise ValueError(f"recognizer {cls.__name__} ({cls.__module__}): expected ENTITY_ROLES saying for each entity "
                         f"it finds one of {', '.join(ENTITY_ROLES)}, found {roles!r}")
    return RECOGNIZERS.add(cls.__name__, cls, cls.__module__)


def entity_roles() -> dict[str, str]:
    """{entity: role} over every registered recognizer; an entity two recognizers give different roles raises."""
    out: dict[str, str] = {}
    for cls in RECOGNIZERS.values():
        for entity, role in cls.ENTITY_ROLES.items():
            if out.setdefault(entity, role) != role:
                raise ValueError(f"entity {entity}: recognizers declare both {out[entity]!r} and {role!r}")
    return out


class PiiflowRecognizer(PatternRecognizer):
    """A Presidio pattern recognizer declared by class constants.

    ``PATTERNS`` is a list of ``(name, regex, score)``; ``CONTEXT`` the words (Chinese or English) that raise the
    score when found near a match (see :class:`transforms.detection.WindowContextEnhancer`); ``validate_result``
    returns True (certain), False (reject) or None (keep the pattern's score); ``score_cap`` may hold a valid but
    ambiguous match below the pattern's score (it then needs a context word to count).

    ``PREFILTER`` is a cheap regex every match implies (a digit run, ``@``, a cue word): the engine's fast path runs
    the recognizer only on texts it is found in. ``NLP_FREE`` says the recognizer reads characters, not spaCy tokens.
    """

    SUPPORTED_ENTITY: ClassVar[str]
    PATTERNS: ClassVar[list[tuple[str, str, float]]]
    CONTEXT: ClassVar[list[str]] = []
    PREFILTER: ClassVar[str | None] = None
    NLP_FREE: ClassVar[bool] = True

    #: Words that, written just before a match (within ``NEGATIVE_WINDOW`` characters, with none of ``CONTEXT``
    #: after them), say it is something else: 版本号 before 9.3.6.15, 订单号 before a card-shaped number.
    NEGATIVE_CONTEXT: ClassVar[tuple[str, ...]] = ()
    NEGATIVE_WINDOW: ClassVar[int] = 12

    #: Digits-only identifiers may be glued to letters in real text ("Tel13701233057", "13801281432Email"), but not
    #: sit inside a long hexadecimal run (hashes, trace ids, tokens): such matches are dropped.
    REJECT_IN_HEX_RUN: ClassVar[bool] = False

    def __init__(self, supported_language: str = "zh"):
        super().__init__(
            supported_entity=self.SUPPORTED_ENTITY,
            name=f"{type(self).__name__}",
            patterns=[Pattern(n, rx, s) for n, rx, s in self.PATTERNS],
            context=list(self.CONTEXT),
            supported_language=supported_language,
        )

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        """Presidio's pattern analysis (the same regex engine, flags, timeout, validation, invalidation, scores and
        de-duplication) without its per-call bookkeeping: two clock reads and a debug log per pattern and an
        explanation object per match, which the engine drops again (a third of a pattern recognizer's time)."""
        flags = regex_flags or self.global_regex_flags
        results = []
        for pattern in self.patterns:
            if not pattern.compiled_regex or pattern.compiled_with_flags != flags:
                pattern.compiled_with_flags = flags
                pattern.compiled_regex = regex.compile(pattern.regex, flags=flags)
            try:
                for match in pattern.compiled_regex.finditer(text, timeout=REGEX_TIMEOUT_SECONDS):
                    start, end = match.span()
                    if start == end:
                        continue
                    value = text[start:end]
                    score = pattern.score
                    valid = self.validate_result(value)
                    if valid is not None:
                        score = self.MAX_SCORE if valid else self.MIN_SCORE
                    if self.invalidate_result(value):
                        score = self.MIN_SCORE
                    if score > self.MIN_SCORE:
                        cap = self.score_cap(value)
                        results.append(result_of(self, start, end, score if cap is None else min(score, cap)))
            except TimeoutError:
                logging.getLogger(__name__).warning("%s: pattern %r timed out after %s s, skipped", self.name,
                                                    pattern.name, REGEX_TIMEOUT_SECONDS)
        results = EntityRecognizer.remove_duplicates(results)
        if self.NEGATIVE_CONTEXT and results:
            results = [r for r in results if not self.negated(text, r.start)]
        if self.REJECT_IN_HEX_RUN and results:
            results = [r for r in results if not in_hex_run(text, r.start, r.end)]
        return results

    def score_cap(self, pattern_text: str) -> float | None:
        """The most a valid match may score before context (None: no limit)."""
        return None

    def negated(self, text: str, start: int) -> bool:
        return negated(text, start, self.NEGATIVE_CONTEXT, self.CONTEXT, self.NEGATIVE_WINDOW)


#: Words before a number that make it an order, tracking, invoice, ticket or other reference number: not a card,
#: an IMEI or a phone number, however it is shaped.
REFERENCE_CUES = ("订单", "单号", "运单", "快递", "物流", "发票", "工单", "票号", "流水号", "交易号", "编号", "序列号", "批次",
                  "商品编码", "order", "tracking", "invoice", "ticket", "ref:", "ref ", "ref#", "ref.", "serial",
                  "waybill", "shipment", "parcel", "txn", "transaction", "trace", "item", "sku")


def negated(text: str, start: int, negative_cues, positive_cues, window: int = 12) -> bool:
    """True when the last cue within ``window`` characters before ``start`` is one of ``negative_cues`` (no
    positive cue after it): 版本号 before 9.3.6.15, 订单号 before a card-shaped number. English cues count as whole
    words (``ver`` is not in ``server``)."""
    before = text[max(0, start - window):start].lower()
    negative = _last_cue(tuple(negative_cues), before)
    return negative >= 0 and negative >= _last_cue(tuple(positive_cues), before)


@functools.lru_cache(maxsize=64)
def _cue_regex(cues: tuple[str, ...]):
    parts = [(r"(?<![a-z])" + re.escape(c.lower())) if c[:1].isascii() and c[:1].isalpha() else re.escape(c.lower())
             for c in sorted(cues, key=len, reverse=True)]
    return re.compile("|".join(parts)) if parts else None


def _last_cue(cues: tuple[str, ...], before: str) -> int:
    rx = _cue_regex(cues)
    last = -1
    if rx is not None:
        for m in rx.finditer(before):
            last = m.start()
    return last


@functools.lru_cache(maxsize=1)
def jieba_tables() -> tuple[dict[str, str], dict[str, int]]:
    """jieba's dictionary, loaded quietly once per process: (word -> part-of-speech tag, word -> frequency)."""
    import logging

    import jieba
    import jieba.posseg as pseg

    jieba.setLogLevel(logging.WARNING)
    jieba.dt.check_initialized()
    return pseg.dt.word_tag_tab, jieba.dt.FREQ


@functools.lru_cache(maxsize=4096)
def jieba_words(text: str) -> tuple[tuple[int, int, str], ...]:
    """(start, end, word) of jieba's dictionary segmentation (no HMM: unknown words fall apart into characters),
    remembered for recent texts so the recognizers that use it segment each text once."""
    import jieba

    jieba_tables()
    out, pos = [], 0
    for w in jieba.dt.cut(text, HMM=False):
        out.append((pos, pos + len(w), w))
        pos += len(w)
    return tuple(out)


def result_of(recognizer: EntityRecognizer, start: int, end: int, score: float) -> RecognizerResult:
    """A finding of ``recognizer``'s (single) entity, carrying its name and id as Presidio's own results do (the
    context enhancer finds the recognizer's context words by that id)."""
    return RecognizerResult(recognizer.supported_entities[0], start, end, score, recognition_metadata={
        RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id})


def digits_only(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = frozenset("0123456789abcdefABCDEF")


def in_hex_run(text: str, start: int, end: int, min_len: int = 16) -> bool:
    """True when ``text[start:end]`` lies in a run of ASCII letters and digits that is all hexadecimal and at least
    ``min_len`` long, with a letter in it: a hash or a token, not a number written in prose."""
    i, j = start, end
    while i > 0 and text[i - 1] in _ALNUM:
        i -= 1
    while j < len(text) and text[j] in _ALNUM:
        j += 1
    run = text[i:j]
    return len(run) >= min_len and all(c in _HEX for c in run) and not run.isdigit()
