"""Parquet datasets: ``<location>/dt=YYYY-MM-DD/part-*.parquet``; a flat folder of Parquet files is one undated
partition."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from configs.errors import StorageError
from flows.storage.base import Partition, Storage
from flows.storage.fs import LakeFS, dt_of, is_hidden


def read_parquet_columns(fs: LakeFS, path: Path, wanted: list[str],
                         dictionary: list[str] = ()) -> tuple[pa.Table, list[str]]:
    """The ``wanted`` columns of a Parquet file (the ``dictionary`` ones dictionary-encoded) and all its column
    names; the other columns are never decoded."""
    source = fs.open_input(path)
    names = pq.read_schema(source).names
    keep, encoded = set(wanted), set(dictionary)
    cols = [c for c in names if c in keep]
    if hasattr(source, "seek"):
        source.seek(0)
    return pq.read_table(source, columns=cols, read_dictionary=[c for c in cols if c in encoded]), names


class ParquetStorage(Storage):
    def list_partitions(self, start=None, end=None):
        parts, flat = [], []
        if self.location_refused():
            return []
        for child in self.fs.scan_dir(self._checked(self.path), self.problems):
            if is_hidden(child.name):
                continue
            dt = dt_of(child.name)
            if child.is_dir and dt is not None:
                files = tuple(f.path for f in self.fs.scan_dir(child.path, self.problems)
                              if f.is_file and f.name.endswith(".parquet") and not is_hidden(f.name))
                if files and self._in_range(dt, start, end):
                    parts.append(Partition(self.name, dt, files))
            elif child.is_file and child.name.endswith(".parquet"):
                flat.append(child.path)
            else:
                self._unknown(child.path, "a folder whose name is no dt=YYYY-MM-DD date" if child.is_dir
                              else "a file that is not Parquet")
        if flat:
            parts.append(Partition(self.name, None, tuple(flat)))
        return parts

    def read_file(self, path, columns=None):
        try:
            return self.fs.read_parquet(self._checked(path), columns=columns)
        except (OSError, pa.ArrowException) as e:
            raise StorageError(f"{self.fs.rel(path)}: cannot read Parquet ({type(e).__name__})") from e

    def read_columns(self, path, wanted, dictionary=()):
        try:
            return read_parquet_columns(self.fs, self._checked(path), wanted, dictionary)
        except (OSError, pa.ArrowException) as e:
            raise StorageError(f"{self.fs.rel(path)}: cannot read Parquet ({type(e).__name__})") from e

    def replace_file(self, path, table):
        self._check_write()
        self.fs.write_parquet(self._checked(path), table)

    def write_chunks(self, dt, tables, *, encoding="utf-8"):
        """One Parquet file per chunk (``part-00000.parquet``, ``part-00001.parquet``, ...)."""
        n = 0
        for i, table in enumerate(tables):
            self.write_partition(dt, table, file_name=f"part-{i:05d}.parquet")
            n += 1
        return n

    def write_partition(self, dt, table, *, file_name: str = "part-00000.parquet"):
        self._check_write()
        folder = self.path / f"dt={dt.isoformat()}" if dt else self.path
        target = self._checked(folder / file_name)
        self.fs.write_parquet(target, table)
        return Partition(self.name, dt, (target,))
