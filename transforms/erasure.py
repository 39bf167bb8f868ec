"""Erasure (clauses 2.1, 8.3): which rows a request reaches, and what becomes of them.

Pure: tables and keys in, masks, tables and records out; ``flows.erase`` lists, reads and rewrites the files.
A request is identified by keyed hashes only (``transforms.keys.subject_hash`` under the state key); the raw ids it
names are held in memory for the run and never written, logged or returned.
"""

from __future__ import annotations

import csv
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from configs.catalog import Dataset
from configs.errors import PolicyError
from transforms.keys import subject_hash
from transforms.operators import pseudonymize
from transforms.tables import count_true


@dataclass
class ErasureTarget:
    target: str  # dataset, or release/dataset
    path: str  # relative to the lake's root
    rows: int
    matched: int  # the request's own rows
    mode: str  # delete | anonymise
    #: {column: cells changed in rows that stay}: the identifier cells of other rows, and with ``anonymise`` the
    #: subject's own rows' key and direct columns.
    columns: dict[str, int] = field(default_factory=dict)

    @property
    def cells(self) -> int:
        """Cells changed in rows that stay, over every column."""
        return sum(self.columns.values())


@dataclass
class ErasurePlan:
    request_id: str
    subject_hashes: list[str]
    org_hash: str | None
    members_added: int
    targets: list[ErasureTarget] = field(default_factory=list)
    already_processed: bool = False
    #: The raw subject ids (requested and found through the organisation) and organisation id, and everything the
    #: erasure looks for: held in memory for execution only, never written, logged or returned.
    subjects: list[str] = field(default_factory=list, repr=False)
    org: str | None = field(default=None, repr=False)
    erased: "Erased" = field(default=None, repr=False)
    #: Requested subjects that appear in no dataset.
    not_found: int = 0
    #: What the plan refused or could not read (``flows.storage.Problem``).
    problems: list = field(default_factory=list)

    def cell_counts(self) -> dict[str, dict[str, int]]:
        """{dataset (or release/dataset): {column: cells changed}}, over every target."""
        out: dict[str, dict[str, int]] = {}
        for t in self.targets:
            add_cells(out, t.target, t.columns)
        return out

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.targets:
            out[t.target] = out.get(t.target, 0) + t.matched
        return out


def request_id(subject_hashes: list[str], org_hash: str | None) -> str:
    """A request's id: the same subjects and organisation always give the same id (re-running it is a no-op)."""
    return hashlib.sha256(json.dumps([sorted(subject_hashes), org_hash]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Erased:
    """Who and what an erasure reaches: subject ids, organisation ids and the subjects' own identifiers (by the
    ``identifier`` label their columns declare, e.g. ``phone``).

    Held either as the raw values (``key`` None: a request being carried out, in memory only) or as keyed hashes
    under ``key`` (the ledger: every processed request, matched against data by hashing each distinct value)."""

    subjects: frozenset[str] = frozenset()
    orgs: frozenset[str] = frozenset()
    identifiers: dict[str, frozenset[str]] = field(default_factory=dict)
    key: bytes | None = None
    #: The same request's identifiers as keyed hashes, recorded before an earlier run of it changed anything: after
    #: that run was interrupted, the rows that showed them may be gone, yet other rows may still hold them.
    earlier: "Erased | None" = None
    #: Further keys the hashed sets may be under: the state keys of a rotated lake's earlier master keys (its
    #: ledger lines recorded before the rotation), matched as well as ``key``.
    earlier_keys: tuple[bytes, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.subjects or self.orgs or any(self.identifiers.values()) or self.earlier)

    def hashed(self, key: bytes) -> "Erased":
        """The same erasure as keyed hashes (what the ledger records), identifiers recorded earlier included."""
        if self.key is not None:
            return self
        h = lambda values: frozenset(subject_hash(key, v) for v in values)  # noqa: E731
        idents = {k: h(v) for k, v in self.identifiers.items()}
        for k, v in (self.earlier.identifiers if self.earlier is not None else {}).items():
            idents[k] = idents.get(k, frozenset()) | v
        return Erased(h(self.subjects), h(self.orgs), idents, key)

    def isin(self, col: pa.Array | pa.ChunkedArray, wanted: frozenset[str]) -> pa.Array:
        """True where ``col`` (as text) is one of ``wanted``; never null. Hashed sets hash each distinct value once."""
        if not wanted:
            return pa.array([False] * len(col), pa.bool_())
        values = as_text(col)
        if self.key is None:
            return pc.fill_null(pc.is_in(values, pa.array(sorted(wanted), pa.string())), False)
        enc = pc.dictionary_encode(values)
        keys = (self.key, *self.earlier_keys)
        hit = pa.array([v is not None and any(subject_hash(k, v) in wanted for k in keys)
                        for v in enc.dictionary.to_pylist()], pa.bool_())
        return pc.fill_null(hit.take(enc.indices), False)


def ledger_erased(entries: Iterable[dict], state_key: bytes, earlier_keys: tuple[bytes, ...] = ()) -> Erased:
    """Everything the ledger's ``entries`` erased, as keyed hashes under ``state_key`` (or, for lines recorded
    before a key rotation, under one of ``earlier_keys``)."""
    subs, orgs, idents = set(), set(), {}
    for entry in entries:
        subs.update(entry["subject_hashes"])
        if entry.get("org_hash"):
            orgs.add(entry["org_hash"])
        for label, hashes in (entry.get("identifier_hashes") or {}).items():
            idents.setdefault(label, set()).update(hashes)
    return Erased(frozenset(subs), frozenset(orgs), {k: frozenset(v) for k, v in idents.items()}, state_key,
                  earlier_keys=earlier_keys)


def identifier_columns(ds: Dataset, owner: str | None = None) -> dict[str, str]:
    """{column: identifier label} of the columns that hold an identifier of a declared kind: the subject's own
    (``owner="subject"``), somebody else's (``owner="other"``), or either (None)."""
    return {c: pol.identifier for c, pol in ds.columns.items() if pol.identifier and owner in (None, pol.owner)}


def own_rows(table: pa.Table, ds: Dataset, erased: Erased) -> pa.Array:
    """The rows of the erased subjects or organisations (by ``ds``'s subject and org keys)."""
    mask = pa.array([False] * table.num_rows, pa.bool_())
    for col, wanted in ((ds.subject_key, erased.subjects), (ds.org_key, erased.orgs)):
        if col and col in table.column_names and wanted:
            mask = pc.or_(mask, erased.isin(table.column(col), wanted))
    return mask


def identifier_cells(table: pa.Table, ds: Dataset, erased: Erased) -> dict[str, pa.Array]:
    """{column: rows} where a column holding somebody else's identifier (``owner: other``) holds one of the erased
    subjects' own identifiers (their phone number in another user's call record): those cells are erased even where
    the row is somebody else's. A column of a subject's own identifiers (``owner: subject``) is never matched here:
    another user's own phone number is theirs, whatever the erased subject called."""
    out = {}
    for col, label in identifier_columns(ds, "other").items():
        if col not in table.column_names:
            continue
        hit = erased.isin(table.column(col), erased.identifiers.get(label, frozenset()))
        if erased.earlier is not None:
            hit = pc.or_(hit, erased.earlier.isin(table.column(col), erased.earlier.identifiers.get(label, frozenset())))
        if pc.any(hit).as_py():
            out[col] = hit
    return out


def collect_identifiers(table: pa.Table, ds: Dataset, rows: pa.Array) -> dict[str, set[str]]:
    """The identifiers (by label) the ``rows`` of ``table`` hold in ``ds``'s columns of the subject's own
    identifiers (``owner: subject``): what the erased subjects' own records say their phone numbers, e-mail
    addresses... are. Columns of somebody else's identifiers (the numbers a subject called) never count."""
    out: dict[str, set[str]] = {}
    for col, label in identifier_columns(ds, "subject").items():
        if col in table.column_names:
            values = as_text(table.column(col)).filter(rows).drop_null().to_pylist()
            out.setdefault(label, set()).update(v for v in values if v)
    return out


def as_text(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A key column as text (ids may be stored as numbers)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.cast(pa.string())


def release_erased(ds: Dataset, erased: Erased, key: bytes) -> Erased:
    """What a raw erasure looks like in a release of ``ds`` under the recipient's ``key``: the pseudonyms of its
    subjects, organisations and identifiers in the columns that pseudonymise them (the values themselves where a
    column keeps them; nothing where it drops them)."""
    def released(column: str | None, values: frozenset[str]) -> frozenset[str]:
        if not column or not values:
            return frozenset()
        op = ds.columns[column].op
        if op.op == "keep":
            return values
        if op.op != "pseudonymize":
            return frozenset()
        return frozenset(pseudonymize(pa.array(sorted(values), pa.string()), key=key, length=op.length,
                                      prefix=op.prefix).to_pylist())

    idents: dict[str, set[str]] = {}
    for col, label in identifier_columns(ds, "other").items():
        idents.setdefault(label, set()).update(released(col, erased.identifiers.get(label, frozenset())))
    return Erased(released(ds.subject_key, erased.subjects), released(ds.org_key, erased.orgs),
                  {k: frozenset(v) for k, v in idents.items()})


def _erased_token() -> str:
    return f"erased-{secrets.token_hex(8)}"


def anonymizing_changes(table: pa.Table, ds: Dataset, own: pa.Array, cells: dict[str, pa.Array], *,
                        anonymise: bool, token: Callable[[], str] = _erased_token) -> dict[str, tuple[pa.Array, pa.Array]]:
    """{column: (rows to change, new values)} that erase what must go from rows that stay: with ``anonymise``
    (``on_erase: anonymise``), the ``own`` rows get an irreversible random ``token()`` as subject key and nulls in
    every other direct column; in every row, the identifier ``cells`` are nulled. Only those cells change."""
    changes: dict[str, tuple[pa.Array, pa.Array]] = {}
    n = table.num_rows
    for name in table.column_names:
        pol = ds.columns.get(name)
        mask = cells.get(name, pa.array([False] * n, pa.bool_()))
        if anonymise and name == ds.subject_key:
            changes[name] = (own, pa.array([token() for _ in range(n)], pa.string()))
            continue
        if anonymise and pol is not None and pol.kind == "direct":
            mask = pc.or_(mask, own)
        if pc.any(mask).as_py():
            changes[name] = (mask, pa.nulls(n, pa.string()))
    return changes


def add_cells(into: dict[str, dict[str, int]], target: str, columns: dict[str, int]) -> None:
    """Add one file's {column: cells changed} to ``into``'s counts for ``target`` (a dataset or release/dataset)."""
    for col, n in columns.items():
        into.setdefault(target, {})[col] = into.get(target, {}).get(col, 0) + n


def changed_cells(changes: dict[str, tuple[pa.Array, pa.Array]], deleted: pa.Array | None) -> dict[str, int]:
    """{column: cells changed in rows that stay} by ``changes`` (:func:`anonymizing_changes`), the ``deleted`` rows
    (if any) left out: what a receipt counts besides the rows."""
    out = {}
    for col, (mask, _) in changes.items():
        n = count_true(mask if deleted is None else pc.and_(mask, pc.invert(deleted)))
        if n:
            out[col] = n
    return out


def exclude_erased(table: pa.Table, ds: Dataset, erased: Erased) -> pa.Table:
    """``table`` without the rows of erased subjects or organisations, and with the erased subjects' own
    identifiers nulled wherever else they appear (each distinct value hashed once)."""
    if not erased or not table.num_rows:
        return table
    cells = identifier_cells(table, ds, erased)
    for col, hit in cells.items():
        i = table.column_names.index(col)
        old = table.column(i).combine_chunks()
        table = table.set_column(i, col, pc.if_else(hit, pa.nulls(len(old), old.type), old))
    return table.filter(pc.invert(own_rows(table, ds, erased)))


def parse_subject_ids(text: str, source: str) -> list[str]:
    """Subject ids, one a line, or the first field of a CSV (quoted or not); a header line (``subject_id``,
    ``user_id``, ``id``) is skipped. Raises PolicyError naming ``source`` and the line of a malformed id."""
    ids = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            first = next(csv.reader([line]), [""])[0].strip()
        except csv.Error:
            raise PolicyError(f"{source}: line {n}: not a subject id or a CSV line") from None
        ids.append((n, first))
    if ids and ids[0][1].lower() in ("subject_id", "user_id", "id"):
        ids = ids[1:]
    for n, v in ids:
        if not v or not v.isprintable() or " " in v or len(v) > 128:
            raise PolicyError(f"{source}: line {n}: expected one subject id per line (no spaces, at most 128 "
                              f"characters)")
    return list(dict.fromkeys(v for _, v in ids))
