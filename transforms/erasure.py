"""Erasure (clauses 2.1, 8.3): which rows a request reaches, and what becomes of them.

Pure: tables and keys in, masks, tables and records out; ``flows.erase`` lists, reads and rewrites the files.
A request is identified by keyed hashes only (``transforms.keys.subject_hash`` under the state key); the raw ids it
names are held in memory for the run and never written, logged or returned.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from configs.catalog import Dataset
from configs.errors import PolicyError
from configs.operators import OperatorSpec
from transforms.keys import subject_hash
from transforms.operators import pseudonymize


@dataclass
class ErasureTarget:
    target: str  # dataset, or release/dataset
    path: str
    rows: int
    matched: int
    mode: str  # delete | anonymise


@dataclass
class ErasurePlan:
    request_id: str
    subject_hashes: list[str]
    org_hash: str | None
    members_added: int
    targets: list[ErasureTarget] = field(default_factory=list)
    already_processed: bool = False
    #: The raw subject ids (requested and found through the organisation) and organisation id: held in memory for
    #: execution only, never written, logged or returned.
    subjects: list[str] = field(default_factory=list, repr=False)
    org: str | None = field(default=None, repr=False)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.targets:
            out[t.target] = out.get(t.target, 0) + t.matched
        return out


def request_id(subject_hashes: list[str], org_hash: str | None) -> str:
    """A request's id: the same subjects and organisation always give the same id (re-running it is a no-op)."""
    return hashlib.sha256(json.dumps([sorted(subject_hashes), org_hash]).encode()).hexdigest()[:16]


def erased_hashes(entries: Iterable[dict]) -> tuple[frozenset[str], frozenset[str]]:
    """(subject hashes, organisation hashes) of every request in the erasure ledger's ``entries``."""
    subs, orgs = set(), set()
    for entry in entries:
        subs.update(entry["subject_hashes"])
        if entry.get("org_hash"):
            orgs.add(entry["org_hash"])
    return frozenset(subs), frozenset(orgs)


def as_text(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A key column as text (ids may be stored as numbers)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.cast(pa.string())


def matching_rows(table: pa.Table, wanted: dict[str | None, pa.Array | None]) -> pa.Array:
    """True on the rows where any of the ``wanted`` columns holds one of its values (compared as text); a column
    that is None, has no values, or is not in ``table`` matches nothing. Never null."""
    mask = pa.array([False] * table.num_rows, pa.bool_())
    for column, values in wanted.items():
        if column is None or values is None or column not in table.column_names:
            continue
        mask = pc.or_(mask, pc.fill_null(pc.is_in(as_text(table.column(column)), values), False))
    return mask


def raw_keys(ds: Dataset, subjects: list[str], org: str | None) -> dict[str | None, pa.Array | None]:
    """What a request looks for in a raw dataset: its subjects in the subject key, its organisation in the org key."""
    return {ds.subject_key: pa.array(subjects, pa.string()),
            ds.org_key: pa.array([org], pa.string()) if org is not None else None}


def release_tokens(op: OperatorSpec, values: list[str], key: bytes) -> pa.Array | None:
    """A release's pseudonyms of ``values`` in a column released with ``op`` (None when ``op`` does not
    pseudonymise: the values cannot be found there)."""
    if op.op != "pseudonymize":
        return None
    return pseudonymize(pa.array(values, pa.string()), key=key, length=op.length, prefix=op.prefix)


def release_keys(ds: Dataset, subjects: list[str], org: str | None, key: bytes) -> dict[str | None, pa.Array | None]:
    """What a request looks for in a release of ``ds`` under the recipient's ``key``: the pseudonyms of its
    subjects and organisation."""
    def tokens(column: str | None, values: list[str]) -> pa.Array | None:
        return release_tokens(ds.columns[column].op, values, key) if column else None

    return {ds.subject_key: tokens(ds.subject_key, subjects),
            ds.org_key: tokens(ds.org_key, [org]) if org is not None else None}


def _erased_token() -> str:
    return f"erased-{secrets.token_hex(8)}"


def anonymize_rows(table: pa.Table, ds: Dataset, mask: pa.Array,
                   token: Callable[[], str] = _erased_token) -> pa.Table:
    """Rows under ``mask`` get an irreversible random ``token()`` as subject key and nulls in every other direct
    column; other rows are unchanged."""
    cols = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        pol = ds.columns.get(name)
        if name == ds.subject_key:
            tokens = pa.array([token() for _ in range(len(col))], pa.string())
            col = pc.if_else(mask, tokens, col.cast(pa.string()))
        elif pol is not None and pol.kind == "direct":
            col = pc.if_else(mask, pa.nulls(len(col), col.type), col)
        cols[name] = col
    return pa.table(cols)


def exclude_erased(table: pa.Table, ds: Dataset, subject_hashes: frozenset[str], org_hashes: frozenset[str],
                   state_key: bytes) -> pa.Table:
    """``table`` without the rows of erased subjects or organisations (their keyed hashes under ``state_key``);
    each distinct key value is hashed once."""
    if not subject_hashes and not org_hashes:
        return table
    keep = pa.array([True] * table.num_rows, pa.bool_())
    for col, hashes in ((ds.subject_key, subject_hashes), (ds.org_key, org_hashes)):
        if not col or not hashes or col not in table.column_names:
            continue
        enc = pc.dictionary_encode(as_text(table.column(col)))
        hit = pa.array([v is not None and subject_hash(state_key, v) in hashes for v in enc.dictionary.to_pylist()])
        keep = pc.and_(keep, pc.invert(pc.fill_null(hit.take(enc.indices), False)))
    return table.filter(keep)


def parse_subject_ids(text: str, source: str) -> list[str]:
    """Subject ids, one a line (a ``subject_id``, ``user_id`` or ``id`` header line is skipped; a CSV line gives
    its first field). Raises PolicyError naming ``source`` and the line of a malformed id."""
    ids = [ln.strip().split(",")[0].strip() for ln in text.splitlines() if ln.strip()]
    if ids and ids[0].lower() in ("subject_id", "user_id", "id"):
        ids = ids[1:]
    bad = [i for i, v in enumerate(ids, 1) if not v.isprintable() or " " in v or len(v) > 128]
    if bad:
        raise PolicyError(f"{source}: line {bad[0]}: expected one subject id per line (no spaces, at most 128 "
                          f"characters)")
    return ids
