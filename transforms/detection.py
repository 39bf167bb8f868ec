"""The detection engine: a Presidio ``AnalyzerEngine`` built offline from piiflow's recognizer registry.

:func:`build_analyzer` is the only place an engine is made. It uses a blank spaCy pipeline per language (no model
download), piiflow's CJK-aware recognizers, and a context enhancer that looks at the characters around a match,
which works for Chinese where Presidio's lemma-based enhancer needs tokens a blank pipeline cannot give.
An optional spaCy NER model per language named in settings adds PERSON/LOCATION when it is installed.

The engine is a :class:`PiiflowAnalyzer`: Presidio's ``analyze`` works unchanged, and :meth:`PiiflowAnalyzer.findings`
is piiflow's fast path to the same results. It runs only the recognizers whose cheap pre-filter (a recognizer's
``PREFILTER`` regex) matches the text, skips spaCy tokenisation when no recognizer reads tokens (all of piiflow's
recognizers work on characters), and remembers the findings of recent distinct texts, since logs, chat and column
values repeat.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from transforms.recognizers import LANGUAGES, RECOGNIZERS, entity_roles

_CJK = re.compile(r"[\u3400-\u9fff]")

#: Entities whose presence in a released column means a direct identifier leaked: what the registered recognizers
#: declare ``direct`` (``ENTITY_ROLES``, see :mod:`transforms.recognizers.base`), never a hand-kept list.
DIRECT_ENTITIES = frozenset(e for e, role in entity_roles().items() if role == "direct")

#: Entities scans report but releases do not redact: a country or city named alone says little about a person.
NOT_REDACTED = frozenset(e for e, role in entity_roles().items() if role == "reported")


def guess_language(text: str) -> str:
    """``zh`` if the text has any CJK ideograph, else ``en``."""
    return "zh" if _CJK.search(text) else "en"


def parse_ner_models(spec: str | None) -> dict[str, str]:
    """Settings' ``ner_model`` as {language: spaCy package name or path}.

    ``en_core_web_sm`` names an English model; ``zh=zh_core_web_sm,en=/models/en`` names one per language.
    """
    models: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        lang, sep, name = part.partition("=")
        if not sep:
            lang, name = "en", part
        if lang.strip() not in LANGUAGES or not name.strip():
            raise ValueError(f"ner_model: expected NAME or LANG=NAME with LANG in {', '.join(LANGUAGES)}, "
                             f"found {part!r}")
        models[lang.strip()] = name.strip()
    return models


class BlankSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine on blank pipelines (tokenizer only): nothing is downloaded.

    ``ner_models`` ({language: spaCy package name or path}) replace a language's pipeline when they can be loaded;
    one that cannot is logged and skipped (the engine still works, on rules alone). ``ner_languages`` says which
    languages got one.
    """

    def __init__(self, languages: Sequence[str] = LANGUAGES, ner_models: dict[str, str] | None = None):
        super().__init__(models=[{"lang_code": lang, "model_name": f"blank:{lang}"} for lang in languages])
        self.languages = tuple(languages)
        self.ner_models = dict(ner_models or {})
        self.ner_languages: tuple[str, ...] = ()

    def load(self) -> None:
        self.nlp = {lang: spacy.blank(lang) for lang in self.languages}
        loaded = []
        for lang, name in self.ner_models.items():
            try:
                self.nlp[lang] = spacy.load(name)
                loaded.append(lang)
            except (OSError, ImportError) as e:
                logging.getLogger("piiflow.detection").warning(
                    "NER model %r for %s not loaded (%s); detecting %s with rules only", name, lang,
                    type(e).__name__, lang)
        self.ner_languages = tuple(loaded)


class WindowContextEnhancer(ContextAwareEnhancer):
    """Raise a match's score when one of its recognizer's context words occurs within ``window`` characters
    before it (or ``window // 2`` after it). Character windows work for Chinese and English alike."""

    def __init__(self, window: int = 20, boost: float = 0.35, floor: float = 0.4):
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


@dataclass(frozen=True)
class Finding:
    type: str
    start: int
    end: int
    score: float


class PiiflowAnalyzer(AnalyzerEngine):
    """Presidio's ``AnalyzerEngine`` with a fast path, :meth:`findings`, giving what ``analyze`` followed by
    overlap resolution gives (a test holds the two equal), at a fraction of the cost.

    Recognizers with a ``PREFILTER`` regex run only on texts it matches (``re.search``, case-insensitive like
    Presidio's patterns); recognizers without one always run. Recognizers marked ``NLP_FREE`` (all of piiflow's)
    need no spaCy tokens; a text is tokenised only when some other recognizer (the optional NER plug-in) is
    registered. Up to ``cache_size`` recent distinct (text, language) pairs keep their findings.
    """

    def __init__(self, *args, cache_size: int = 100_000, **kwargs):
        super().__init__(*args, **kwargs)
        self._plans: dict[str, _Plan] = {}
        self._registry_size = -1
        self._cached = functools.lru_cache(maxsize=cache_size)(self._findings)

    def findings(self, text: str, language: str | None = None) -> tuple[Finding, ...]:
        """Findings in one text, overlaps resolved, sorted by position. ``language`` None means guess it."""
        if not text:
            return ()
        if len(self.registry.recognizers) != self._registry_size:  # recognizers were added: start afresh
            self._plans.clear()
            self._cached.cache_clear()
            self._registry_size = len(self.registry.recognizers)
        return self._cached(text, language if language in self.supported_languages else guess_language(text))

    def forget_texts(self) -> None:
        """Drop the remembered findings of texts already seen."""
        self._cached.cache_clear()

    def _plan(self, language: str) -> "_Plan":
        plan = self._plans.get(language)
        if plan is None:
            plan = self._plans[language] = _Plan(self, language)
        return plan

    def _findings(self, text: str, language: str) -> tuple[Finding, ...]:
        plan = self._plan(language)
        artifacts = plan.empty_artifacts if plan.nlp_free else self.nlp_engine.process_text(text, language)
        results: list[RecognizerResult] = []
        for prefilter, rec in plan.steps:
            if prefilter is not None and prefilter(text) is None:
                continue
            found = rec.analyze(text=text, entities=plan.entities, nlp_artifacts=artifacts)
            if found:
                for r in found:
                    if not r.recognition_metadata:
                        r.recognition_metadata = {}
                    r.recognition_metadata.setdefault(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY, rec.id)
                    r.recognition_metadata.setdefault(RecognizerResult.RECOGNIZER_NAME_KEY, rec.name)
                results.extend(found)
        if not results:
            return ()
        if not plan.nlp_free:
            results = self._enhance_using_context(text, results, artifacts, plan.recognizers, None)
        else:
            results = self.context_aware_enhancer.enhance_using_context(text, results, artifacts, plan.recognizers)
        kept = [r for r in results if r.score >= plan.threshold(r)]
        return tuple(_resolve_overlaps(kept, text)) if kept else ()


class _Plan:
    """The recognizers of one language in registry order, each with its compiled pre-filter, and their score
    thresholds resolved as Presidio resolves them."""

    def __init__(self, engine: PiiflowAnalyzer, language: str):
        self.recognizers = engine.registry.get_recognizers(language=language, all_fields=True)
        self.entities = engine.get_supported_entities(language=language)
        for rec in self.recognizers:
            if not rec.is_loaded:
                rec.load()
                rec.is_loaded = True
        self.steps = [(re.compile(rec.PREFILTER, re.IGNORECASE | re.DOTALL).search
                       if getattr(rec, "PREFILTER", None) else None, rec) for rec in self.recognizers]
        self.nlp_free = all(getattr(rec, "NLP_FREE", False) for rec in self.recognizers)
        self.empty_artifacts = engine.nlp_engine.process_text("", language)
        self._default = engine.default_score_threshold
        self._thresholds = {rec.id: rec.score_thresholds for rec in self.recognizers}

    def threshold(self, r: RecognizerResult) -> float:
        own = self._thresholds.get((r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
        if not own:
            return self._default
        return own.get(r.entity_type, own.get("default", self._default))


def build_analyzer(settings=None, *, threshold: float | None = None) -> PiiflowAnalyzer:
    """The one place a detection engine is made. ``settings`` may carry ``ner_model`` (see
    :func:`parse_ner_models`) and ``score_threshold``; ``threshold`` overrides the latter (the release engine is
    built with ``release_score_threshold``)."""
    if threshold is None:
        threshold = getattr(settings, "score_threshold", 0.5)
    nlp = BlankSpacyNlpEngine(LANGUAGES, ner_models=parse_ner_models(getattr(settings, "ner_model", None)))
    nlp.load()
    registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
    for cls in RECOGNIZERS.values():
        if getattr(cls, "RECALL_FIRST_ONLY", 1.0) < threshold:
            continue  # a reader only the recall-first engine takes (releases, the gate's re-scan: LAC, the 2nd CRF)
        for lang in LANGUAGES:
            registry.add_recognizer(cls(supported_language=lang))
    if nlp.ner_languages:
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        for lang in nlp.ner_languages:
            registry.add_recognizer(SpacyRecognizer(supported_language=lang, supported_entities=["PERSON", "LOCATION"]))
    return PiiflowAnalyzer(registry=registry, nlp_engine=nlp, supported_languages=list(LANGUAGES),
                          default_score_threshold=threshold, context_aware_enhancer=WindowContextEnhancer())


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


def _resolve_overlaps(results: Iterable[RecognizerResult], text: str = "") -> list[Finding]:
    """Merge overlapping findings of the same type, then keep the best of overlapping findings of different types:
    one that is redacted over one that is not (a plate over the place its first character names), then the higher
    score, then the longer span. An e-mail address that a better finding overlaps only at its start (a phone
    number glued to it: ``1380-2841-004bill@uih.com.hk``) keeps the part after that finding when the part is
    still an address (has its ``@``). A nickname (an ``@`` handle) comes after every other redacted finding and
    keeps every part they leave: in ``@博洛尼蔡明`` the name 蔡明 is a PERSON and 博洛尼 is still redacted."""
    ordered = sorted(_merge_same_type(results),
                     key=lambda r: (r.entity_type in NOT_REDACTED, r.entity_type == "NICKNAME", -r.score,
                                    -(r.end - r.start), r.start))
    kept: list[Finding] = []
    for r in ordered:
        start = r.start
        if r.entity_type == "EMAIL_ADDRESS" and text:
            heads = [k.end for k in kept if k.start <= r.start < k.end < r.end]
            if heads and "@" in text[max(heads) + 1:r.end]:
                start = max(heads)
        if r.entity_type == "NICKNAME":
            kept += [Finding(r.entity_type, a, b, round(float(r.score), 3)) for a, b in _uncovered(r.start, r.end, kept)]
        elif all(r.end <= k.start or start >= k.end for k in kept):
            kept.append(Finding(r.entity_type, start, r.end, round(float(r.score), 3)))
    return sorted(kept, key=lambda f: f.start)


def _uncovered(start: int, end: int, kept: Iterable[Finding]) -> list[tuple[int, int]]:
    """The pieces of ``[start, end)`` that no finding in ``kept`` overlaps."""
    pieces = [(start, end)]
    for k in sorted(kept, key=lambda k: k.start):
        pieces = [p for a, b in pieces for p in ((a, min(b, k.start)), (max(a, k.end), b)) if p[0] < p[1]]
    return pieces


def detect(analyzer: AnalyzerEngine, text: str, language: str | None = None) -> list[Finding]:
    """Findings in one text, overlaps resolved, sorted by position. ``language`` None means guess it.

    Uses the fast path of a :class:`PiiflowAnalyzer`; any other Presidio engine goes through ``analyze``.
    """
    if not text:
        return []
    if isinstance(analyzer, PiiflowAnalyzer):
        return list(analyzer.findings(text, language))
    lang = language if language in LANGUAGES else guess_language(text)
    return _resolve_overlaps(analyzer.analyze(text=text, language=lang), text)


def mask_value(value: str, keep: int = 2) -> str:
    """Masked evidence for reports: the first and last ``keep`` characters at most, the rest ``*``.

    Short values keep nothing: ``13812345678`` -> ``13*******78``, ``张三`` -> ``**``.
    """
    n = len(value)
    if n <= 2 * keep + 2:
        return "*" * n
    return value[:keep] + "*" * (n - 2 * keep) + value[-keep:]
