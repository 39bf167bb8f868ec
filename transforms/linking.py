"""Linking across releases: how many rows of one release can be matched one-to-one with another release of the same
dataset on the columns both publish.

Each recipient's pseudonyms are keyed apart, so two recipients cannot join their copies on a user. They can still
join on row content: a row whose combination of shared values (event type, client, an exact duration...) occurs
once in a day's partition of each copy links the two rows, and through them the two pseudonyms, and so every other
row of that user. The gate measures it for every other release that draws on the same dataset, on the same raw rows
(the partition being built), and blocks past the release's ``max_linked_share``, unless one of the two holds
nothing the other lacks (:func:`adds_nothing`: a release of that one dataset whose every column the other writes
alike or finer), where a link tells neither holder anything new.

The columns compared are those both releases write with an operator whose output does not depend on the recipient
(pseudonyms, keyed per recipient, are not compared; dropped columns are not there). Where the two write a column
differently (one keeps ``duration_ms`` exact, the other buckets it), the recipient holding the finer one can coarsen
it to the other's: the column is compared at the coarser of the two (the one with fewer distinct values on these
rows). The other release's quasi-identifiers are taken at their declared (finest) level: it may publish them
coarser on this day, so the measure is an upper bound there. Rows the other release leaves out (its own
objections, minors) are counted as present: an upper bound too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from configs.catalog import Dataset
from configs.operators import OperatorSpec
from transforms import lattice
from transforms.operators import apply_operator

#: Operators whose output depends on the recipient's key: never equal across releases, so not a linking column.
KEYED = frozenset({"pseudonymize"})


@dataclass
class Linking:
    """The share of rows matched one-to-one with ``other`` on ``columns``, and that share with each column left out
    (which column carries the linking)."""

    other: str
    columns: list[str]
    rows: int
    linked: int
    without: dict[str, float] = field(default_factory=dict)
    #: One of the two releases holds nothing the other lacks (:func:`adds_nothing`): a link joins two pseudonyms
    #: but tells neither holder anything new, so it does not block.
    contained: bool = False

    def blocks(self, bound: float) -> bool:
        return self.share > bound and not self.contained

    @property
    def share(self) -> float:
        return self.linked / self.rows if self.rows else 0.0

    def as_dict(self) -> dict:
        return {"other": self.other, "columns": self.columns, "rows": self.rows, "linked": self.linked,
                "linked_share": round(self.share, 6), "without": self.without, "contained": self.contained}

    def reason(self, dataset: str, bound: float) -> str:
        """The gate's one line when the share is past ``bound``: the columns, and the one whose coarsening helps
        most."""
        best = min(self.without, key=self.without.get) if self.without else None
        hint = (f"; coarsen {best} in one of them (releases.<name>.columns: a bucket, a coarser level, drop), which "
                f"alone would leave {self.without[best]:.1%}" if best else "")
        return (f"{dataset}: {self.share:.1%} of rows ({self.linked} of {self.rows}) can be matched one-to-one with "
                f"release {self.other!r} on {', '.join(self.columns)}, past max_linked_share {bound:.0%}{hint}")


def _codes(values) -> np.ndarray:
    """Integer codes of a column's values, a null its own value."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    enc = pc.dictionary_encode(arr)
    return enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False).astype(np.int64)


def shared_columns(mine: Dataset, other: Dataset, available: list[str]) -> list[str]:
    """The columns both write (neither drops them) with an operator that is not keyed per recipient."""
    return [c for c, p in mine.columns.items()
            if c in available and c in other.columns and p.op.op != "drop" and other.columns[c].op.op != "drop"
            and p.op.op not in KEYED and other.columns[c].op.op not in KEYED]


def linked_rows(raw: pa.Table, released: pa.Table, mine: dict[str, OperatorSpec], other: dict[str, OperatorSpec],
                other_name: str, *, key: bytes, tz: str, analyzer=None) -> Linking:
    """How many rows this release publishes (``released``, row for row with the raw rows ``raw`` they come from) are
    matched one-to-one with ``other_name`` on the shared columns: this release writes each as ``mine`` says (at the
    levels it chose), the other as ``other`` says (its declared operators). A column both write alike is compared
    on ``released``'s values; one written differently, at the coarser of the two writings of the raw values."""
    columns = list(mine)
    keys = []
    for c in columns:
        ours = _codes(released.column(c))
        if mine[c] != other[c]:  # compared at the coarser writing: the holder of the finer can bring it down
            theirs = _codes(apply_operator(other[c], raw.column(c), key=key, tz=tz, analyzer=analyzer))
            ours = ours if len(np.unique(ours)) <= len(np.unique(theirs)) else theirs
        keys.append(ours)
    n = released.num_rows
    if not columns or not n:
        return Linking(other_name, columns, n, 0)

    def unique_rows(cols: list[np.ndarray]) -> int:
        if not cols:
            return int(n == 1)
        ids = lattice.combine(cols)
        counts = np.bincount(ids)
        return int((counts[ids] == 1).sum())

    linked = unique_rows(keys)
    without = {c: round(unique_rows(keys[:i] + keys[i + 1:]) / n, 6) for i, c in enumerate(columns)} if linked else {}
    return Linking(other_name, columns, n, linked, without)


def adds_nothing(catalog, smaller: str, larger: str, dataset: str,
                 chosen: dict[str, dict[str, OperatorSpec]] | None = None) -> bool:
    """Whether release ``smaller`` holds nothing that ``larger`` lacks: ``dataset`` is its only dataset, and every
    column it writes of it (pseudonyms aside) ``larger`` writes alike or keeps as it is. Pooling the two copies and
    linking their rows then adds no value to any row; only the two pseudonyms of a person meet, and the smaller
    copy's pseudonym opens nothing else. ``chosen[release]`` are the levels a release chose for this partition (the
    one being built); the other's are taken as declared, its finest, so a day on which the other hides a column
    this one keeps is seen from the other's gate, not from this one's."""
    if catalog.releases[smaller].datasets != (dataset,):
        return False
    chosen = chosen or {}
    mine, theirs = catalog.release_dataset(smaller, dataset), catalog.release_dataset(larger, dataset)
    for c, p in mine.columns.items():
        ours = chosen.get(smaller, {}).get(c, p.op)
        if ours.op in ("drop", *KEYED):
            continue
        other = chosen.get(larger, {}).get(c, theirs.columns[c].op)
        if not (other == ours or other.op == "keep"):
            return False
    return True


def links_with_other_releases(catalog, release: str, dataset: str, raw: pa.Table, released: pa.Table,
                              chosen: dict[str, OperatorSpec], kept: pa.Array | None, *, key: bytes, tz: str,
                              analyzer=None) -> list[Linking]:
    """:func:`linked_rows` against every other release of ``catalog`` that draws on ``dataset``: ``raw`` is the
    partition's input rows, ``kept`` which of them ``released`` holds (None: all), ``chosen`` the operators this
    release chose for its quasi-identifiers."""
    from configs.catalog import RESERVED_RELEASES

    if release in RESERVED_RELEASES:  # a sunset's archive goes to no recipient: nobody holds two copies to join
        return []
    others = [name for name, r in catalog.releases.items()
              if name != release and name not in RESERVED_RELEASES and dataset in r.datasets]
    if not others:
        return []
    mine = catalog.release_dataset(release, dataset)
    raw = raw.filter(kept) if kept is not None else raw
    out = []
    for name in others:
        theirs = catalog.release_dataset(name, dataset)
        cols = shared_columns(mine, theirs, released.column_names)
        link = linked_rows(raw, released, {c: chosen.get(c, mine.columns[c].op) for c in cols},
                           {c: theirs.columns[c].op for c in cols}, name, key=key, tz=tz, analyzer=analyzer)
        link.contained = (adds_nothing(catalog, release, name, dataset, {release: chosen})
                          or adds_nothing(catalog, name, release, dataset, {release: chosen}))
        out.append(link)
    return out
