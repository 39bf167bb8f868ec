"""Objection, withdrawal of consent and minors (privacy policy 8.2, 8.3, 7): who a release of a given purpose
leaves out, and why.

Pure: ledger entries, tables and keys in; keyed hashes, masks and counts out. ``flows.consent`` records requests
and reads the lake; ``flows.deidentify`` applies :class:`Exclusions` to every partition it builds.

- An **objection** (8.2) names purposes: releases of those purposes leave the subjects out.
- A **withdrawal** of consent (8.3) reaches every purpose except those the law still allows without consent
  (:data:`configs.catalog.LAWFUL_AFTER_WITHDRAWAL`).
- **Minors** (7): releases of :data:`configs.catalog.MINOR_RESTRICTED` purposes leave out the rows of subjects who were under 18 on
  the partition's date, unless a guardian consented (the dataset's ``guardian_consent`` column says true). A
  subject's birth date comes from any column the catalog marks ``age_from`` (a birth date, a resident ID's birth
  date, or an age at the row's event time); where sources disagree the latest birth date counts (the younger age).

Subjects are matched by keyed hashes (:func:`transforms.keys.subject_hash` under the state key), each distinct
value hashed once; no raw id is kept.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from configs.catalog import LAWFUL_AFTER_WITHDRAWAL, PURPOSES, Dataset
from transforms.erasure import as_text
from transforms.keys import subject_hash
from transforms.tables import count_true
from transforms.times import to_timestamp

#: Under this age a subject is a minor; under :data:`CHILD` a child whose data PIPL (art. 28) treats as sensitive.
ADULT, CHILD = 18, 14
#: Why a release leaves a row out (counts per reason in the manifest). ``other_day``: rows of a dated raw partition
#: whose event time falls on another day (``flows.deidentify``): a release partition holds only rows of its own day,
#: the documented ``ts::DATE = dt``.
LEFT_OUT_REASONS = ("objection", "withdrawal", "minors", "other_day")


def purposes_reached(kind: str, purposes: Iterable[str] = ()) -> tuple[str, ...]:
    """The purposes a request reaches: an objection's own; a withdrawal's every purpose but the lawful ones."""
    if kind == "withdrawal":
        return tuple(p for p in PURPOSES if p not in LAWFUL_AFTER_WITHDRAWAL)
    return tuple(p for p in PURPOSES if p in set(purposes))


def request_id(kind: str, purposes: Iterable[str], subject_hashes: Iterable[str]) -> str:
    """The same kind, purposes and subjects always give the same id: re-running a request records nothing new."""
    return hashlib.sha256(json.dumps([kind, sorted(set(purposes)), sorted(subject_hashes)]).encode()).hexdigest()[:16]


def consent_exclusions(entries: Iterable[dict], purpose: str) -> dict[str, str]:
    """{subject hash: "objection" | "withdrawal"} of the ledger's ``entries`` that reach ``purpose`` (a withdrawal
    counts before an objection: it is the wider request)."""
    out: dict[str, str] = {}
    for e in entries:
        if purpose in purposes_reached(e["kind"], e.get("purposes", ())):
            for h in e["subject_hashes"]:
                if out.get(h) != "withdrawal":
                    out[h] = e["kind"]
    return out


# --------------------------------------------------------------------------------------------------------------
# Ages
# --------------------------------------------------------------------------------------------------------------


def _dates(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A birth-date column as dates: dates and timestamps as they are, text as ``YYYY-MM-DD``; else null."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_date(arr.type):
        return arr.cast(pa.date32())
    if pa.types.is_timestamp(arr.type):
        return pc.cast(arr, pa.date32())
    text = pc.utf8_slice_codeunits(arr.cast(pa.string()), 0, 10)
    return pc.cast(pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())


def _resident_id_births(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The birth date a resident ID carries (characters 7-14, YYYYMMDD, of an 18-character ID); else null."""
    text = pc.utf8_trim_whitespace(as_text(col))
    ok = pc.fill_null(pc.match_substring_regex(text, r"^\d{17}[\dXx]$"), False)
    digits = pc.if_else(ok, pc.utf8_slice_codeunits(text, 6, 14), pa.scalar(None, pa.string()))
    return pc.cast(pc.strptime(digits, format="%Y%m%d", unit="s", error_is_null=True), pa.date32())


def _event_dates(table: pa.Table, ds: Dataset, tz: str, today: date) -> pa.Array:
    if ds.event_time and ds.event_time in table.column_names:
        ts = to_timestamp(table.column(ds.event_time), tz)
        d = pc.cast(pc.local_timestamp(ts), pa.date32()) if len(ts) else pa.array([], pa.date32())
        return pc.fill_null(d, pa.scalar(today, pa.date32()))
    return pa.array([today] * table.num_rows, pa.date32())


def age_columns(ds: Dataset) -> dict[str, str]:
    """{column: how it tells the age (birth_date | resident_id | age)} of the columns that declare ``age_from``."""
    return {c: pol.age_from for c, pol in ds.columns.items() if pol.age_from}


def columns_for_ages(ds: Dataset) -> list[str]:
    """The columns :func:`birth_dates` reads."""
    return list(dict.fromkeys(c for c in (ds.subject_key, ds.event_time, ds.guardian_consent, *age_columns(ds))
                              if c))


def birth_dates(table: pa.Table, ds: Dataset, tz: str, today: date) -> pa.Array:
    """Each row's latest birth date by the ``age_from`` columns (null where none tells). An age at the event time
    gives the latest birth date that age allows (the event date, that many years back)."""
    best = pa.nulls(table.num_rows, pa.date32())
    for col, how in age_columns(ds).items():
        if col not in table.column_names:
            continue
        if how == "birth_date":
            b = _dates(table.column(col))
        elif how == "resident_id":
            b = _resident_id_births(table.column(col))
        else:  # age in whole years at the event time
            ages = pc.cast(table.column(col), pa.int64(), safe=False) if not pa.types.is_string(
                table.column(col).type) else pc.cast(pc.if_else(pc.fill_null(pc.match_substring_regex(
                    table.column(col), r"^\s*\d{1,3}\s*$"), False), pc.utf8_trim_whitespace(table.column(col)),
                    pa.scalar(None, pa.string())), pa.int64())
            events = _event_dates(table, ds, tz, today).to_pylist()
            b = pa.array([None if a is None or e is None else _years_before(e, a) for a, e in
                          zip(ages.to_pylist(), events)], pa.date32())
        best = pc.if_else(pc.is_null(best), b, pc.if_else(pc.is_null(b), best, pc.max_element_wise(best, b)))
    return best


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def ages_on(births: pa.Array, on: pa.Array) -> pa.Array:
    """Whole years between each birth date and the date beside it (null where either is null)."""
    years = pc.subtract(pc.year(on), pc.year(births))
    before_birthday = pc.less(pc.add(pc.multiply(pc.month(on), 100), pc.day(on)),
                              pc.add(pc.multiply(pc.month(births), 100), pc.day(births)))
    return pc.subtract(years, pc.cast(before_birthday, pa.int64()))


def minor_counts(table: pa.Table, ds: Dataset, tz: str, today: date) -> dict[str, int]:
    """How many rows belong to minors (under 18, under 14) at the row's event time (``today`` where it has none),
    and how many of the minors' rows have a guardian's consent. Empty when the dataset tells no age."""
    if not age_columns(ds):
        return {}
    ages = ages_on(birth_dates(table, ds, tz, today), _event_dates(table, ds, tz, today))
    minors = pc.less(ages, ADULT)
    out = {"rows": table.num_rows, "with_age": count_true(pc.is_valid(ages)), "under_18": count_true(minors),
           "under_14": count_true(pc.less(ages, CHILD))}
    if ds.guardian_consent and ds.guardian_consent in table.column_names:
        out["guardian_consent"] = count_true(pc.and_(minors, _truthy(table.column(ds.guardian_consent))))
    return out


def _truthy(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A consent column as booleans: true, 1, yes, y, t (any case) say yes; anything else, null included, no."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_boolean(arr.type):
        return pc.fill_null(arr, False)
    text = pc.utf8_lower(pc.utf8_trim_whitespace(arr.cast(pa.string())))
    return pc.fill_null(pc.is_in(text, pa.array(["true", "1", "yes", "y", "t"])), False)


def minor_births(table: pa.Table, ds: Dataset, key: bytes, tz: str, today: date, since: date
                 ) -> tuple[dict[str, date], set[str]]:
    """({subject hash: latest birth date} of the subjects who were minors on some date from ``since`` on, {subject
    hashes whose guardian consented}) in one table of a dataset that tells ages."""
    if not ds.subject_key or ds.subject_key not in table.column_names:
        return {}, set()
    births = birth_dates(table, ds, tz, today)
    cutoff = pa.scalar(_years_before(since, ADULT), pa.date32())
    young = pc.fill_null(pc.greater(births, cutoff), False)
    subjects = as_text(table.column(ds.subject_key))
    latest = pa.table({"s": subjects, "b": births}).filter(young).group_by("s").aggregate([("b", "max")])
    out = {subject_hash(key, s): b for s, b in zip(latest.column("s").to_pylist(), latest.column("b_max").to_pylist())
           if s is not None}  # each distinct subject hashed once
    consented = set()
    if ds.guardian_consent and ds.guardian_consent in table.column_names:
        yes = pc.and_(young, _truthy(table.column(ds.guardian_consent)))
        consented = {subject_hash(key, s) for s in set(subjects.filter(yes).to_pylist()) if s is not None}
    return out, consented


# --------------------------------------------------------------------------------------------------------------
# What a release leaves out
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exclusions:
    """Who a release of one purpose leaves out, as keyed hashes under ``key``: ``consent`` {hash: objection |
    withdrawal}, ``minors`` {hash: birth date} of minors without a guardian's consent (empty unless the purpose is
    in :data:`configs.catalog.MINOR_RESTRICTED`)."""

    key: bytes = b""
    consent: dict[str, str] = field(default_factory=dict)
    minors: dict[str, date] = field(default_factory=dict)
    #: The state keys of a rotated lake's earlier master keys: consent lines recorded before the rotation.
    earlier_keys: tuple[bytes, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.consent or self.minors)

    def fingerprint(self) -> str:
        """A hash of whom these exclusions reach and why (keyed hashes only): equal fingerprints, equal answers."""
        h = hashlib.sha256(hashlib.sha256(self.key).digest())
        for k in self.earlier_keys:
            h.update(hashlib.sha256(k).digest())
        for s, r in sorted(self.consent.items()):
            h.update(f"c{s}:{r}\n".encode())
        for s, d in sorted(self.minors.items()):
            h.update(f"m{s}:{d.isoformat()}\n".encode())
        return h.hexdigest()

    def _reached(self, distinct: list[str | None], dt: date) -> list[tuple[str | None, str | None]]:
        """(keyed hash, why it is left out on ``dt`` or None) of each of the ``distinct`` subject ids."""
        adult_from = _years_before(dt, ADULT)
        out = []
        for v in distinct:
            h = subject_hash(self.key, v) if v is not None else None
            reason = self.consent.get(h)
            for k in self.earlier_keys if reason is None and v is not None else ():
                if (reason := self.consent.get(subject_hash(k, v))) is not None:
                    break
            if reason is None and h in self.minors and self.minors[h] > adult_from:
                reason = "minors"
            out.append((h, reason))
        return out

    def reasons(self, subjects: pa.Array | pa.ChunkedArray, dt: date) -> pa.Array:
        """Per row, why it is left out (one of :data:`LEFT_OUT_REASONS`) or null: each distinct subject hashed once."""
        enc = pc.dictionary_encode(as_text(subjects))
        why = [r for _, r in self._reached(enc.dictionary.to_pylist(), dt)]
        return pa.array(why, pa.string()).take(enc.indices)

    def digest(self, subjects: pa.Array | pa.ChunkedArray, dt: date) -> str:
        """What of this partition's subjects the exclusions reach, as one hash ("" when they reach none): a change
        redoes the partition, and nothing else does."""
        distinct = pc.unique(as_text(subjects)).to_pylist()
        hit = sorted(f"{h}:{r}" for h, r in self._reached(distinct, dt) if r)
        return hashlib.sha256("\n".join(hit).encode()).hexdigest() if hit else ""


def leave_out(table: pa.Table, ds: Dataset, excl: Exclusions, dt: date) -> tuple[pa.Table, dict[str, int]]:
    """``table`` without the rows ``excl`` reaches on ``dt``, and how many rows went, by reason (counts only)."""
    if not excl or not ds.subject_key or ds.subject_key not in table.column_names or not table.num_rows:
        return table, {}
    why = excl.reasons(table.column(ds.subject_key), dt)
    counts = {r: n for r in LEFT_OUT_REASONS if (n := count_true(pc.equal(why, r)))}
    return (table.filter(pc.is_null(why)) if counts else table), counts

