"""The detection engine: a Presidio ``AnalyzerEngine`` built offline from piiflow's recognizer registry.

:func:`build_analyzer` is the only place an engine is made. It uses a blank spaCy pipeline per language (no model
download), piiflow's CJK-aware recognizers, and a context enhancer that looks at the characters around a match,
which works for Chinese where Presidio's lemma-based enhancer needs tokens a blank pipeline cannot give.
An optional spaCy NER model named in settings adds PERSON/LOCATION when it is installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from transforms.recognizers import LANGUAGES, RECOGNIZERS

_CJK = re.compile(r"[\u3400-\u9fff]")

#: Entities whose presence in a released column means a direct identifier leaked.
DIRECT_ENTITIES = frozenset({
    "PERSON", "CN_MOBILE", "CN_LANDLINE", "PHONE_NUMBER", "EMAIL_ADDRESS", "CN_RESIDENT_ID", "CN_PASSPORT",
    "CN_HK_MACAU_PERMIT", "BANK_CARD", "CN_USCC", "CN_LICENSE_PLATE", "QQ_NUMBER", "WECHAT_ID", "IP_ADDRESS",
    "MAC_ADDRESS", "IMEI", "DEVICE_ID", "GPS_COORDINATE", "CELL_ID", "CN_ADDRESS",
})


def guess_language(text: str) -> str:
    """``zh`` if the text has any CJK ideograph, else ``en``."""
    return "zh" if _CJK.search(text) else "en"


class BlankSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine on blank pipelines (tokenizer only): nothing is downloaded.

    ``ner_model`` (a spaCy package name or path) replaces the English pipeline when it can be loaded.
    """

    def __init__(self, languages: Sequence[str] = LANGUAGES, ner_model: str | None = None):
        super().__init__(models=[{"lang_code": lang, "model_name": f"blank:{lang}"} for lang in languages])
        self.languages = tuple(languages)
        self.ner_model = ner_model
        self.ner_loaded = False

    def load(self) -> None:
        self.nlp = {lang: spacy.blank(lang) for lang in self.languages}
        if self.ner_model:
            try:
                self.nlp["en"] = spacy.load(self.ner_model)
                self.ner_loaded = True
            except (OSError, ImportError):
                self.ner_loaded = False


class WindowContextEnhancer(ContextAwareEnhancer):
    """Raise a match's score when one of its recognizer's context words occurs within ``window`` characters
    before it (or ``window // 2`` after it). Character windows work for Chinese and English alike."""

    def __init__(self, window: int = 12, boost: float = 0.35, floor: float = 0.4):
        super().__init__(context_similarity_factor=boost, min_score_with_context_similarity=floor,
                         context_prefix_count=window, context_suffix_count=window // 2)
        self.window = window

    def enhance_using_context(self, text: str, raw_results: list[RecognizerResult], nlp_artifacts: NlpArtifacts,
                              recognizers: list[EntityRecognizer], context: list[str] | None = None):
        by_id = {r.id: r for r in recognizers}
        lowered = text.lower()
        extra = [c.lower() for c in context or []]
        for res in raw_results:
            meta = res.recognition_metadata or {}
            rec = by_id.get(meta.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
            words = [w.lower() for w in (rec.context if rec is not None and rec.context else [])] + extra
            if not words:
                continue
            before = lowered[max(0, res.start - self.context_prefix_count):res.start]
            after = lowered[res.end:res.end + self.context_suffix_count]
            if any(w in before or w in after for w in words):
                res.score = min(self.MAX_SCORE, max(res.score + self.context_similarity_factor,
                                                    self.min_score_with_context_similarity))
                meta[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
        return raw_results


def build_analyzer(settings=None) -> AnalyzerEngine:
    """The one place a detection engine is made. ``settings`` may carry ``ner_model`` and ``score_threshold``."""
    ner_model = getattr(settings, "ner_model", None)
    threshold = getattr(settings, "score_threshold", 0.5)
    nlp = BlankSpacyNlpEngine(LANGUAGES, ner_model=ner_model)
    nlp.load()
    registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
    for cls in RECOGNIZERS.values():
        for lang in LANGUAGES:
            registry.add_recognizer(cls(supported_language=lang))
    if nlp.ner_loaded:
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        registry.add_recognizer(SpacyRecognizer(supported_language="en", supported_entities=["PERSON", "LOCATION"]))
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=list(LANGUAGES),
                          default_score_threshold=threshold, context_aware_enhancer=WindowContextEnhancer())


@dataclass(frozen=True)
class Finding:
    type: str
    start: int
    end: int
    score: float


def _merge_same_type(results: Iterable[RecognizerResult]) -> list[RecognizerResult]:
    """Overlapping findings of one entity type become one finding over their union, with the best score
    (a city and the full address that contains it are one address)."""
    merged: list[RecognizerResult] = []
    for r in sorted(results, key=lambda r: (r.entity_type, r.start, -r.end)):
        last = merged[-1] if merged else None
        if last is not None and last.entity_type == r.entity_type and r.start < last.end:
            last.end = max(last.end, r.end)
            last.score = max(last.score, r.score)
        else:
            merged.append(RecognizerResult(r.entity_type, r.start, r.end, r.score))
    return merged


def _resolve_overlaps(results: Iterable[RecognizerResult]) -> list[Finding]:
    """Merge overlapping findings of the same type, then keep the best of overlapping findings of different types:
    higher score, then longer span."""
    ordered = sorted(_merge_same_type(results), key=lambda r: (-r.score, -(r.end - r.start), r.start))
    kept: list[Finding] = []
    for r in ordered:
        if all(r.end <= k.start or r.start >= k.end for k in kept):
            kept.append(Finding(r.entity_type, r.start, r.end, round(float(r.score), 3)))
    return sorted(kept, key=lambda f: f.start)


def detect(analyzer: AnalyzerEngine, text: str, language: str | None = None) -> list[Finding]:
    """Findings in one text, overlaps resolved, sorted by position. ``language`` None means guess it."""
    if not text:
        return []
    lang = language if language in LANGUAGES else guess_language(text)
    return _resolve_overlaps(analyzer.analyze(text=text, language=lang))


def mask_value(value: str, keep: int = 2) -> str:
    """Masked evidence for reports: the first and last ``keep`` characters at most, the rest ``*``.

    Short values keep nothing: ``13812345678`` -> ``13*******78``, ``张三`` -> ``**``.
    """
    n = len(value)
    if n <= 2 * keep + 2:
        return "*" * n
    return value[:keep] + "*" * (n - 2 * keep) + value[-keep:]
