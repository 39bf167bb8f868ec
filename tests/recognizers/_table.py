"""Shared check for the per-recognizer tables: the findings of one entity type, as (type, matched text)."""

from transforms.detection import detect


def found(analyzer, text: str, entity: str) -> list[str]:
    return [text[f.start:f.end] for f in detect(analyzer, text) if f.type == entity]
