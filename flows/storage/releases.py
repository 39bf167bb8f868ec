"""A release's published data: ``releases/<release>/<dataset>/dt=YYYY-MM-DD/`` folders of Parquet files, each with
its ``_manifest.json`` and ``_report.md``. Read, rewritten (erasure), removed (retention) and published only through
here, confined to the release's folder like any dataset."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from configs.errors import StorageError
from flows.storage.fs import LakeFS, Problem, dt_of, is_hidden


class ReleaseStore:
    """One dataset of one release."""

    def __init__(self, fs: LakeFS, release: str, dataset: str, path: Path):
        self.fs, self.release, self.dataset, self.path = fs, release, dataset, path
        self.problems: list[Problem] = []

    def target(self, dt: date) -> Path:
        """Where the partition of ``dt`` is published."""
        return self.fs.safe(self.path / f"dt={dt.isoformat()}", self.path)

    def partitions(self) -> list[tuple[date, Path]]:
        """The published ``dt=`` folders, in date order (links and unknown names are reported in ``problems``)."""
        out = []
        for e in self.fs.scan_dir(self.fs.safe(self.path), self.problems):
            if is_hidden(e.name):
                continue
            d = dt_of(e.name) if e.is_dir else None
            if d is None:
                self.problems.append(Problem(self.fs.rel(e.path), f"not a partition of release {self.release}, "
                                                                  f"left alone"))
                continue
            out.append((d, e.path))
        return out

    def files(self, folder: Path) -> list[Path]:
        """The data files of one published partition."""
        return [e.path for e in self.fs.scan_dir(self.fs.safe(folder, self.path), self.problems)
                if e.is_file and e.name.endswith(".parquet") and not is_hidden(e.name)]

    def all_files(self) -> list[Path]:
        return [f for _, folder in self.partitions() for f in self.files(folder)]

    def size(self, folder: Path) -> int:
        return sum(self.fs.size(f) for f in self.fs.walk_files(self.fs.safe(folder, self.path)))

    def manifest(self, folder: Path) -> dict | None:
        """The manifest of the partition published at ``folder`` (None when there is none, or it is unreadable)."""
        try:
            return json.loads(self.fs.read_bytes(self.fs.safe(folder / "_manifest.json", self.path)))
        except (OSError, ValueError, StorageError):
            return None

    def read_file(self, path: Path) -> pa.Table:
        try:
            return pq.read_table(self.fs.safe(path, self.path))
        except (OSError, pa.ArrowException) as e:
            raise StorageError(f"{self.fs.rel(path)}: cannot read Parquet ({type(e).__name__})") from e

    def replace_file(self, path: Path, table: pa.Table) -> None:
        """Rewrite one data file with ``table`` (atomically)."""
        with self.fs.atomic_file(self.fs.safe(path, self.path)) as tmp:
            pq.write_table(table, tmp, compression="zstd")

    def delete_rows(self, path: Path, mask: pa.Array) -> None:
        """Rewrite one data file without the rows under ``mask``."""
        self.replace_file(path, self.read_file(path).filter(pc.invert(pc.fill_null(mask, False))))

    def delete_partition(self, folder: Path) -> None:
        self.fs.delete_tree(folder, self.path)
