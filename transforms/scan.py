"""Column classification for the PII inventory: which entities a column holds, how often, how surely."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from presidio_analyzer import AnalyzerEngine

from configs.catalog import Dataset
from transforms.detection import detect, mask_value
from transforms.tables import as_text


@dataclass
class ColumnFinding:
    """What a sample of one column holds. ``evidence`` is masked; no raw value is kept."""

    column: str
    rows: int
    non_null: int
    hits: int = 0
    entities: dict[str, int] = field(default_factory=dict)
    hit_rate: float = 0.0
    confidence: float = 0.0
    structured: bool = False
    evidence: str = ""
    declared_kind: str | None = None
    declared_op: str | None = None
    drift: bool = False

    @property
    def main_entity(self) -> str | None:
        return max(self.entities, key=self.entities.get) if self.entities else None

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["main_entity"] = self.main_entity
        return d


def scan_column(values: pa.Array, analyzer: AnalyzerEngine, name: str, *, min_hit_rate: float = 0.02
                ) -> ColumnFinding:
    """Classify a column from a sample: every distinct value is analysed once and weighted by its frequency."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
        arr = pa.nulls(len(arr), pa.string())  # times are no identifiers; their text would only look like numbers
    else:
        arr = as_text(arr)
    rows = len(arr)
    counts = pc.value_counts(arr.drop_null())
    out = ColumnFinding(column=name, rows=rows, non_null=rows - arr.null_count)
    ent_rows: Counter = Counter()
    hit_rows = 0
    scores, covered = [], []
    for item in counts.to_pylist():
        value, n = item["values"], item["counts"]
        found = detect(analyzer, value)
        if not found:
            continue
        hit_rows += n
        for f in found:
            ent_rows[f.type] += n
            scores.append(f.score)
        covered.append(sum(f.end - f.start for f in found) / max(1, len(value)))
        if not out.evidence:
            out.evidence = f"{found[0].type}: {mask_value(value[found[0].start:found[0].end])}"
    out.hits = hit_rows
    if out.non_null:
        out.hit_rate = round(hit_rows / out.non_null, 4)
    if out.hit_rate >= min_hit_rate:
        out.entities = dict(ent_rows.most_common())
        out.confidence = round(sum(scores) / len(scores), 3)
        out.structured = sum(covered) / len(covered) >= 0.8
    else:
        out.evidence = ""
    return out


def _declare(f: ColumnFinding, dataset: Dataset | None) -> ColumnFinding:
    """Set what the policy declares for ``f``'s column and whether the finding is drift: PII in a column the policy
    keeps or does not declare."""
    pol = dataset.columns.get(f.column) if dataset is not None else None
    f.declared_kind = pol.kind if pol else None
    f.declared_op = pol.op.op if pol else None
    f.drift = bool(f.entities) and (pol is None or pol.op.op == "keep")
    return f


def scan_table(table: pa.Table, analyzer: AnalyzerEngine, dataset: Dataset | None) -> list[ColumnFinding]:
    """Classify every column and flag policy drift."""
    return [_declare(scan_column(table.column(name), analyzer, name), dataset) for name in table.column_names]


def merge_findings(earlier: list[dict], new: list[ColumnFinding], dataset: Dataset | None, *,
                   min_hit_rate: float = 0.02) -> list[ColumnFinding]:
    """One inventory from an earlier scan's findings (``as_dict`` form) and a scan of what arrived since: counts
    add up (rows, hits, rows per entity), the hit rate and mean confidence are recomputed over both samples, and a
    column either sample has is listed. Entity counts an earlier scan left out for a hit rate under
    ``min_hit_rate`` stay out."""
    merged = {d["column"]: ColumnFinding(**{k: v for k, v in d.items() if k in ColumnFinding.__dataclass_fields__})
              for d in earlier}
    for f in new:
        old = merged.get(f.column)
        if old is None:
            merged[f.column] = f
            continue
        entities = Counter(old.entities) + Counter(f.entities)
        hits = (old.hits or round(old.hit_rate * old.non_null)) + f.hits
        old_weight, new_weight = sum(old.entities.values()), sum(f.entities.values())
        c = ColumnFinding(column=f.column, rows=old.rows + f.rows, non_null=old.non_null + f.non_null, hits=hits,
                          evidence=f.evidence or old.evidence, structured=f.structured if f.entities else old.structured)
        c.hit_rate = round(hits / c.non_null, 4) if c.non_null else 0.0
        if c.hit_rate >= min_hit_rate and entities:
            c.entities = dict(entities.most_common())
            c.confidence = round((old.confidence * old_weight + f.confidence * new_weight)
                                 / max(1, old_weight + new_weight), 3)
        else:
            c.evidence = ""
        merged[f.column] = c
    return [_declare(f, dataset) for f in merged.values()]
