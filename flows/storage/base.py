"""The storage adapter's contract, shared by every format.

One small interface per dataset: ``list_partitions``, ``read``/``read_file``/``read_columns``, ``write_partition``,
and the rewrites ``delete_rows`` and ``update_rows`` (the unit of every rewrite is one file, replaced atomically: a
crash leaves old or new, never both; rows that are kept come out exactly as they went in), ``delete_file`` and
``quarantine_file``. Every path goes through the lake's :class:`~flows.storage.fs.LakeFS`, confined to the dataset's
location. What a listing refuses (links) or does not understand (a folder that is no partition, a date that is not
real) is reported in ``problems``, never silently skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from configs.catalog import Dataset, region_allowed
from configs.errors import StorageError
from flows.storage.fs import LakeFS, Problem, dt_of
from transforms.tables import concat


@dataclass(frozen=True)
class Partition:
    """A unit of storage: one ``dt=`` folder, or one file of a text dataset (``dt`` None if the name has none)."""

    dataset: str
    dt: date | None
    paths: tuple[Path, ...]

    @property
    def label(self) -> str:
        if self.dt is not None:
            return f"dt={self.dt.isoformat()}"
        return self.paths[0].name if self.paths else "(empty)"


def check_region(region: str, allowed: tuple[str, ...], what: str) -> None:
    """Raise StorageError if ``region`` is outside ``allowed`` (clause 5.1: data stays in-country)."""
    if not region_allowed(region, allowed):
        raise StorageError(f"refusing to write {what} in region {region!r}: allowed regions are {list(allowed)}")


class Storage:
    """Base adapter for one dataset; see the module docstring for the contract."""

    def __init__(self, name: str, dataset: Dataset, path: Path, region: str, allowed: tuple[str, ...], fs: LakeFS):
        self.name, self.dataset, self.path, self.region, self.allowed, self.fs = name, dataset, path, region, allowed, fs
        #: What listings refused or did not understand, since this adapter was made.
        self.problems: list[Problem] = []

    # -- listing and reading -------------------------------------------------------------------------------------

    def list_partitions(self, start: date | None = None, end: date | None = None) -> list[Partition]:
        raise NotImplementedError

    def read(self, part: Partition, columns: list[str] | None = None) -> pa.Table:
        tables = [self.read_file(p, columns) for p in part.paths]
        return concat(tables) if len(tables) > 1 else tables[0]

    def read_file(self, path: Path, columns: list[str] | None = None) -> pa.Table:
        raise NotImplementedError

    def read_columns(self, path: Path, wanted: list[str], dictionary: list[str] = ()) -> tuple[pa.Table, list[str]]:
        """The ``wanted`` columns a file has, and the names of all its columns. Columnar formats read only those
        columns, the ``dictionary`` ones dictionary-encoded; text formats parse the whole file and select."""
        t = self.read_file(path)
        keep = set(wanted)
        return t.select([c for c in t.column_names if c in keep]), t.column_names

    def date_of(self, path: Path) -> date | None:
        """The partition date a file belongs to (from a ``dt=`` folder above it), or None."""
        for part in path.relative_to(self.path).parts[:-1]:
            d = dt_of(part)
            if d is not None:
                return d
        return None

    def location_refused(self) -> bool:
        """Whether this dataset's location is refused (a symbolic link, or inside one): then it is reported once in
        :attr:`problems` and the dataset is left alone, while the run goes on with the others."""
        try:
            self.fs.safe(self.path)
            return False
        except StorageError as e:
            problem = Problem(self.fs.rel(self.path), f"{str(e).split(': ', 1)[-1]}: the dataset is left alone")
            if problem not in self.problems:
                self.problems.append(problem)
            return True

    def _checked(self, path: Path) -> Path:
        """``path`` confined to this dataset's location (no link, nothing outside): see LakeFS.safe."""
        return self.fs.safe(path, self.path)

    def _unknown(self, path: Path, what: str) -> None:
        self.problems.append(Problem(self.fs.rel(path), f"{what}: not a partition of {self.name}, left alone"))

    # -- writing -------------------------------------------------------------------------------------------------

    def write_partition(self, dt: date | None, table: pa.Table) -> Partition:
        raise NotImplementedError

    def write_chunks(self, dt: date | None, tables: Iterable[pa.Table], *, encoding: str = "utf-8") -> int:
        """Write one partition from ``tables`` (chunks of rows, consumed one at a time, so a partition larger than
        memory can be written) in this format's way; returns how many files it wrote. ``encoding`` is for text."""
        raise NotImplementedError

    def replace_file(self, path: Path, table: pa.Table) -> None:
        """Atomically replace one file's rows with ``table`` (the whole file written anew)."""
        raise NotImplementedError

    def delete_rows(self, path: Path, mask: pa.Array) -> None:
        """Remove the rows under ``mask`` (one flag per row of the file, in order); the others stay exactly as they
        were. Columnar formats rewrite the file from the kept rows."""
        table = self.read_file(path)
        self.replace_file(path, table.filter(pc.invert(pc.fill_null(mask, False))))

    def update_rows(self, path: Path, changes: dict[str, tuple[pa.Array, pa.Array]]) -> None:
        """Change cells: ``changes`` is {column: (rows, new values)}, both one entry per row of the file; every other
        value of the file stays exactly as it was."""
        table = self.read_file(path)
        for col, (mask, values) in changes.items():
            if col in table.column_names:
                i = table.column_names.index(col)
                old = table.column(i).combine_chunks()
                table = table.set_column(i, col, pc.if_else(pc.fill_null(mask, False), values.cast(old.type), old))
        self.replace_file(path, table)

    def delete_file(self, path: Path) -> None:
        """Remove one file of the dataset, and its ``dt=`` folder when that is left empty."""
        self._checked(path)
        self.fs.delete_file(path, self.path)
        if path.parent != self.path:
            self.fs.remove_empty_dir(path.parent)
        self.fs.sync_dir(path.parent)

    def bad_files(self) -> list[tuple[Path, date | None]]:
        """Files set aside by :meth:`quarantine_file`, with the date each belonged to (None when undated)."""
        if self.location_refused():
            return []
        out = []
        folders = [self.path] + [e.path for e in self.fs.scan_dir(self._checked(self.path))
                                 if e.is_dir and dt_of(e.name) is not None]
        for folder in folders:
            for e in self.fs.scan_dir(folder):
                if e.is_file and e.name.startswith(".bad-"):
                    original = e.path.with_name(e.name[len(".bad-"):])
                    out.append((e.path, self.date_of(original)))
        return out

    def quarantine_file(self, path: Path) -> Path:
        """Set a file that cannot be read aside (``.bad-<name>`` beside it: hidden from every reader, still under the
        dataset's retention by its folder's date). Returns the new path."""
        self._checked(path)
        target = path.parent / f".bad-{path.name}"
        self._checked(target)
        self.fs.rename(path, target)
        return target

    def _check_write(self) -> None:
        check_region(self.region, self.allowed, f"dataset {self.name!r}")

    @staticmethod
    def _in_range(dt: date | None, start: date | None, end: date | None) -> bool:
        if dt is None:
            return True
        return (start is None or dt >= start) and (end is None or dt <= end)
