"""Correction (privacy policy 8.1: "you may ask us to correct inaccurate personal information"): which cells of a
raw table a correction changes. Pure: tables and the request in, ``{column: (rows, new values)}`` out.

A request line names a subject, what is wrong (an identifier kind the catalog declares, such as ``phone``, or a
direct column such as ``name``) and the right value. Ownership follows the erasure's rules: a column of the
subject's own identifiers (``owner: subject``), or the named column, changes in the subject's rows; a column of
somebody else's identifiers (``owner: other``: a number called) changes only where it holds one of the subject's
old values, in anybody's rows. Old values are matched by keyed hash, so that a re-run after a kill (when the
subject's own rows may already hold the new value) still finds them from what the plan recorded.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from configs.catalog import Dataset
from configs.errors import PolicyError
from transforms.erasure import as_text, identifier_columns
from transforms.keys import subject_hash


@dataclass(frozen=True)
class Correction:
    subject: str
    what: str
    new: str


def parse_corrections(text: str, source: str, labels: set[str], columns: set[str]) -> list[Correction]:
    """The request file: CSV with the header ``subject_id,what,new_value``; ``what`` is one of ``labels`` (identifier
    kinds) or ``columns`` (direct columns). A bad line is refused by its number, never by its values."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip() for c in rows[0]] != ["subject_id", "what", "new_value"]:
        raise PolicyError(f"correct: {source}: expected the header 'subject_id,what,new_value'")
    out, seen = [], set()
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != 3 or not all(c.strip() for c in row):
            raise PolicyError(f"correct: {source}: line {n}: expected a subject id, what to correct and the new "
                              f"value, found {len(row)} field(s) or an empty one")
        subject, what, new = (c.strip() for c in row)
        if what not in labels and what not in columns:
            raise PolicyError(f"correct: {source}: line {n}: expected what to correct to be one of "
                              f"{', '.join(sorted(labels | columns))}, found {what!r}")
        if (subject, what) in seen:
            raise PolicyError(f"correct: {source}: line {n}: a second correction of the same subject and field")
        seen.add((subject, what))
        out.append(Correction(subject, what, new))
    if not out:
        raise PolicyError(f"correct: {source}: names no correction")
    return out


def correctable(ds: Dataset) -> tuple[set[str], set[str]]:
    """(identifier kinds, direct columns) a correction may name in ``ds``."""
    labels = {label for label in identifier_columns(ds).values()}
    columns = {c for c, p in ds.columns.items() if p.kind == "direct" and not p.identifier and c != ds.subject_key
               and c != ds.org_key}
    return labels, columns


def own_columns(ds: Dataset, what: str) -> list[str]:
    """Columns that change in the subject's own rows: their own identifiers of kind ``what``, or column ``what``."""
    cols = [c for c, label in identifier_columns(ds, "subject").items() if label == what]
    return cols + ([what] if what in correctable(ds)[1] else [])


def other_columns(ds: Dataset, what: str) -> list[str]:
    return [c for c, label in identifier_columns(ds, "other").items() if label == what]


def old_values(table: pa.Table, ds: Dataset, corrections: list[Correction]) -> dict[tuple[str, str], set[str]]:
    """{(subject, what): values} the subjects' own identifier columns hold now (what a correction replaces)."""
    out: dict[tuple[str, str], set[str]] = {}
    if ds.subject_key not in table.column_names:
        return out
    who = as_text(table.column(ds.subject_key))
    for c in corrections:
        rows = pc.fill_null(pc.equal(who, c.subject), False)
        for col in [x for x, label in identifier_columns(ds, "subject").items() if label == c.what]:
            if col in table.column_names:
                vals = as_text(table.column(col)).filter(rows).drop_null().to_pylist()
                out.setdefault((c.subject, c.what), set()).update(v for v in vals if v and v != c.new)
    return out


def cell_changes(table: pa.Table, ds: Dataset, corrections: list[Correction],
                 old_hashes: dict[tuple[str, str], frozenset[str]], key: bytes) -> dict[str, tuple[pa.Array, pa.Array]]:
    """{column: (rows to change, new values)} of one raw table: each correction in its subject's rows (own
    columns), and wherever a column of somebody else's identifiers holds one of the subject's old values (matched
    by ``key``-ed hash against ``old_hashes``). A cell that already holds the new value is not a change."""
    n = table.num_rows
    changes: dict[str, tuple[pa.Array, pa.Array]] = {}

    def put(col: str, rows: pa.Array, new: str) -> None:
        current = as_text(table.column(col))
        rows = pc.and_(pc.fill_null(rows, False), pc.fill_null(pc.not_equal(current, new), True))
        if not pc.any(rows).as_py():
            return
        mask, values = changes.get(col, (pa.array([False] * n), pa.nulls(n, pa.string())))
        changes[col] = (pc.or_(mask, rows), pc.if_else(rows, pa.scalar(new, pa.string()), values))

    who = as_text(table.column(ds.subject_key)) if ds.subject_key in table.column_names else None
    for c in corrections:
        if who is not None:
            mine = pc.fill_null(pc.equal(who, c.subject), False)
            for col in own_columns(ds, c.what):
                if col in table.column_names:
                    put(col, mine, c.new)
        wanted = old_hashes.get((c.subject, c.what), frozenset())
        for col in other_columns(ds, c.what):
            if col in table.column_names and wanted:
                enc = pc.dictionary_encode(as_text(table.column(col)))
                hit = pa.array([v is not None and subject_hash(key, v) in wanted for v in enc.dictionary.to_pylist()],
                               pa.bool_())
                put(col, pc.fill_null(pc.take(hit, enc.indices), False), c.new)
    return changes
