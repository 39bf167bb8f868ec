"""A release's published data and its metadata, in a layout every reader handles with no flags:

```
releases/<release>/<dataset>/dt=YYYY-MM-DD/part-00000.parquet   data only: what pandas, DuckDB, Polars read
releases/<release>/_meta/<dataset>/dt=YYYY-MM-DD/manifest.json   each partition's evidence and report.md
releases/<release>/_meta/index.json, dictionary.md, report.html  the release's index, data dictionary, report
state/staging/<release>/                                         a run's work in progress, outside every release
```

A partition is staged in ``state/staging/<release>/``, outside the release's folder (a reader's glob over the whole
release, ``releases/<release>/**/*.parquet``, never meets a staged file), and swapped into place in one step (data
first, then its manifest, which is what the next run trusts): a reader sees the previous partition or the new one,
whole. (Releases published before staging moved there may still hold an empty ``_staging/``, which a run clears.)
Read,
rewritten (erasure), removed (retention) and published only through here, confined to the release's folder like
any dataset.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from configs.errors import StorageError
from flows.storage.fs import LakeFS, Problem, dt_of, is_hidden

META = "_meta"
#: Where a release's partitions are staged, relative to the lake's root (then ``<release>/``), and where they were
#: staged before (inside the release's folder), which recovery still clears.
STAGING, OLD_STAGING = ("state", "staging"), "_staging"


def staging_root(release_root: Path) -> Path:
    """The staging folder of the release at ``release_root`` (``releases/<release>``): ``state/staging/<release>``."""
    return release_root.parent.parent.joinpath(*STAGING, release_root.name)
#: On an object store, the marker a publish writes into its staging folder before its first copy: a staged
#: partition that carries it was approved and is rolled forward after a kill; one without it is discarded.
COMMITTING = "COMMITTING"


class ReleaseStore:
    """One dataset of one release (``path`` is its data folder, ``releases/<release>/<dataset>``)."""

    def __init__(self, fs: LakeFS, release: str, dataset: str, path: Path):
        self.fs, self.release, self.dataset, self.path = fs, release, dataset, path
        self.root = path.parent  # releases/<release>
        self.staging = staging_root(self.root)
        self.problems: list[Problem] = []

    # -- where ---------------------------------------------------------------------------------------------------

    def target(self, dt: date) -> Path:
        """Where the data of the partition of ``dt`` is published."""
        return self.fs.safe(self.path / f"dt={dt.isoformat()}", self.root)

    def meta(self, dt: date) -> Path:
        """Where the manifest and report of the partition of ``dt`` are published."""
        return self.fs.safe(self.root / META / self.dataset / f"dt={dt.isoformat()}", self.root)

    # -- reading -------------------------------------------------------------------------------------------------

    def partitions(self) -> list[tuple[date, Path]]:
        """The published ``dt=`` data folders, in date order (links and unknown names are reported in ``problems``)."""
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

    def manifest(self, dt: date) -> dict | None:
        """The manifest of the partition of ``dt`` (None when there is none, or it is unreadable)."""
        try:
            return json.loads(self.fs.read_bytes(self.meta(dt) / "manifest.json"))
        except (OSError, ValueError, StorageError):
            return None

    def read_file(self, path: Path) -> pa.Table:
        try:
            return self.fs.read_parquet(self.fs.safe(path, self.path))
        except (OSError, pa.ArrowException) as e:
            raise StorageError(f"{self.fs.rel(path)}: cannot read Parquet ({type(e).__name__})") from e

    # -- writing -------------------------------------------------------------------------------------------------

    def stage(self, dt: date) -> Path:
        """A fresh staging folder for the partition of ``dt``: write its data into ``<stage>/data/`` and its
        manifest and report into ``<stage>/meta/``, then :meth:`publish` it."""
        stage = self.fs.safe(self.staging / f"{self.dataset}-{dt.isoformat()}-{uuid.uuid4().hex[:8]}",
                             self.staging)
        self.fs.make_dirs(stage / "data")
        self.fs.make_dirs(stage / "meta")
        return stage

    def publish(self, stage: Path, dt: date, *, synced: bool = False) -> None:
        """Swap the staged partition into place: its data, then its manifest and report (the manifest is what
        the next run trusts, so it never describes data that is not there yet)."""
        if not synced:
            self.fs.sync_tree(stage)
        if self.fs.object_store:
            self.fs.write_bytes(stage / COMMITTING, b"")
        self.fs.swap_in(stage / "data", self.target(dt))
        self.fs.swap_in(stage / "meta", self.meta(dt))
        self.fs.delete_tree(stage, self.staging)

    def replace_file(self, path: Path, table: pa.Table) -> None:
        """Rewrite one data file with ``table`` (atomically)."""
        self.fs.write_parquet(self.fs.safe(path, self.path), table)

    def delete_rows(self, path: Path, mask: pa.Array) -> None:
        """Rewrite one data file without the rows under ``mask``."""
        self.replace_file(path, self.read_file(path).filter(pc.invert(pc.fill_null(mask, False))))

    def delete_partition(self, dt: date) -> None:
        """Remove a published partition: its data, then its manifest and report."""
        self.fs.delete_tree(self.target(dt), self.root)
        self.fs.delete_tree(self.meta(dt), self.root)


def recover_release(fs: LakeFS, release_root: Path) -> int:
    """Finish or undo what an interrupted release run left in ``release_root`` (call under the lake's lock): a swap
    a kill cut between its renames is undone, then the staging area is removed. Returns how many staged partitions
    were cleared."""
    n = 0
    for staging in (staging_root(release_root), release_root / OLD_STAGING):
        n += _recover_staging(fs, release_root, staging)
    fs.remove_empty_dir(release_root / OLD_STAGING)
    fs.recover(release_root)
    return n


def _recover_staging(fs: LakeFS, release_root: Path, staging: Path) -> int:
    n = 0
    for e in fs.scan_dir(staging):
        if not e.is_dir:
            fs.delete_file(e.path, staging)
            continue
        if e.name.endswith(".old"):
            continue
        dataset, _, rest = e.name.rpartition("-")[0].partition("-")
        dt = dt_of(f"dt={rest}")
        if dt is not None:
            store = ReleaseStore(fs, release_root.name, dataset, release_root / dataset)
            if not fs.object_store:
                fs.recover_swap(e.path / "data", store.target(dt))
                fs.recover_swap(e.path / "meta", store.meta(dt))
            elif fs.exists(e.path / COMMITTING):  # approved and begun: finish it (the copies are idempotent)
                fs.swap_in(e.path / "data", store.target(dt))
                fs.swap_in(e.path / "meta", store.meta(dt))
        fs.delete_tree(e.path, staging)
        n += 1
    return n
