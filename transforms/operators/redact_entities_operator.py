"""``redact_entities``: free text with every finding of the detection engine replaced by ``<TYPE>`` or
``<TYPE_n>``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from transforms.operators.base import implements, map_distinct

if TYPE_CHECKING:  # the engine is imported by whoever builds it: operators load without spaCy and Presidio
    from presidio_analyzer import AnalyzerEngine


def redact_text(analyzer: AnalyzerEngine, text: str, *, style: str = "type", entities: frozenset[str] | None = None
                ) -> str:
    """Every finding but a bare place (``LOCATION``: a country or city alone) replaced. ``style="type"`` gives
    ``<CN_MOBILE>``; ``"numbered"`` a tag per distinct value within the text (``<PERSON_1>`` ... ``<PERSON_1>`` for
    the same name twice).

    Redaction repeats until the detector finds nothing more (at most 4 passes): when two findings overlap only one
    is replaced, and what is left of the other may still be an identifier (the re-scan of the gate would see it).
    """
    for _ in range(4):
        redacted = _redact_once(analyzer, text, style, entities)
        if redacted == text:
            return text
        text = redacted
    return text


def _redact_once(analyzer: AnalyzerEngine, text: str, style: str, entities: frozenset[str] | None) -> str:
    from transforms.detection import NOT_REDACTED, detect

    findings = [f for f in detect(analyzer, text)
                if f.type not in NOT_REDACTED and (entities is None or f.type in entities)]
    if not findings:
        return text
    out, pos, numbering = [], 0, {}
    for f in findings:
        out.append(text[pos:f.start])
        if style == "numbered":
            key = (f.type, text[f.start:f.end])
            if key not in numbering:
                numbering[key] = sum(1 for t, _ in numbering if t == f.type) + 1
            out.append(f"<{f.type}_{numbering[key]}>")
        else:
            out.append(f"<{f.type}>")
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


@implements("redact_entities", needs=("analyzer",))
def redact_entities(values: pa.Array, *, analyzer: AnalyzerEngine, style: str = "type") -> pa.Array:
    """Redact every distinct text once; nulls pass through."""
    if analyzer is None:
        raise ValueError("redact_entities needs a detection engine")
    return map_distinct(values, lambda v: redact_text(analyzer, v, style=style))
