"""Storage adapters: the only code that reads or writes dataset files.

One small interface (``list_partitions``, ``read``, ``write_partition``, ``read_file``, ``replace_file``,
``delete_file``) with Parquet (Hive-partitioned ``dt=YYYY-MM-DD``), text (JSONL or CSV, plain or gzip, any
encoding) and Delta Lake implementations, chosen from the validated catalog in :func:`storage_for`.

Every write is atomic: data goes to a hidden temporary file in the target folder, is fsynced, then renamed into
place, and the folder is fsynced. Readers skip hidden (``.``) and private (``_``) names, so a reader never sees half
a file. Writes outside the lake's ``allowed_regions`` are refused.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from configs.catalog import Catalog, Dataset, region_allowed
from configs.errors import StorageError

_DT_DIR = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


# --------------------------------------------------------------------------------------------------------------
# Atomic primitives
# --------------------------------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_hidden(name: str) -> bool:
    """Names a reader must skip: temporary files and folders, manifests, reports."""
    return name.startswith((".", "_"))


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``path``; on success fsync it and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_stream(path: Path, *, gzip_level: int | None = None) -> Iterator[IO[bytes]]:
    """A binary stream whose content appears at ``path`` in one piece when the block ends without error."""
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as raw:
            if gzip_level is None:
                yield raw
            else:
                with gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=gzip_level,
                                   mtime=0) as gz:
                    yield gz


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_stream(path) as fh:
        fh.write(data)


def sync_tree(folder: Path) -> None:
    """fsync every file under ``folder`` and the folder itself: its content is on disk before it is renamed."""
    for f in folder.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def publish_dir(staged: Path, target: Path, *, synced: bool = False, sync_parent: bool = True) -> None:
    """Move a fully written folder into place. A previous ``target`` is swapped out and removed.

    ``staged`` is fsynced first unless ``synced`` says its writer did (:func:`sync_tree`, e.g. in a worker, in
    parallel). ``sync_parent=False`` leaves fsyncing ``target``'s parent to the caller (once per parent when it
    publishes many folders: :func:`sync_parents`). The swap is two renames; if a run dies between them,
    :func:`recover_dir` restores the previous folder.
    """
    if not synced:
        sync_tree(staged)
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.parent / f".old-{target.name}"
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    if sync_parent:
        _fsync_dir(target.parent)
    if old.exists():
        shutil.rmtree(old)


def sync_parents(targets: list[Path]) -> None:
    """fsync each distinct parent folder of ``targets`` once (the renames of :func:`publish_dir` with
    ``sync_parent=False`` are then durable)."""
    for parent in sorted({t.parent for t in targets}):
        _fsync_dir(parent)


def recover_dir(target: Path) -> None:
    """Undo a publish that died between its two renames: put the previous folder back."""
    old = target.parent / f".old-{target.name}"
    if old.exists() and not target.exists():
        os.replace(old, target)


def staging_dir(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    p = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
    p.mkdir()
    return p


def sweep_temporaries(folder: Path) -> int:
    """Remove temporaries a killed writer left under ``folder`` (they may hold rows that must not survive).
    Only call under :func:`exclusive_lock`, when no other writer can be running. Returns how many were removed."""
    if not folder.exists():
        return 0
    n = 0
    for p in sorted(folder.rglob(".tmp-*"), key=lambda x: -len(x.parts)):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        n += 1
    return n


@contextlib.contextmanager
def exclusive_lock(state_dir: Path, what: str) -> Iterator[None]:
    """One destructive run (purge, erase, release publish) at a time per lake; a second one fails at once."""
    import fcntl

    state_dir.mkdir(parents=True, exist_ok=True)
    fh = open(state_dir / ".lock", "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise StorageError(f"{what}: another piiflow run holds the lake's lock ({state_dir / '.lock'})") from e
        yield
    finally:
        fh.close()


def check_region(region: str, allowed: tuple[str, ...], what: str) -> None:
    """Raise StorageError if ``region`` is outside ``allowed`` (clause 5.1: data stays in-country)."""
    if not region_allowed(region, allowed):
        raise StorageError(f"refusing to write {what} in region {region!r}: allowed regions are {list(allowed)}")


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, streamed."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------------------
# Partitions and adapters
# --------------------------------------------------------------------------------------------------------------


def _read_parquet_columns(path: Path, wanted: list[str], dictionary: list[str] = ()) -> tuple[pa.Table, list[str]]:
    """The ``wanted`` columns of a Parquet file (the ``dictionary`` ones dictionary-encoded) and all its column
    names; the other columns are never decoded."""
    names = pq.read_schema(path).names
    keep, encoded = set(wanted), set(dictionary)
    cols = [c for c in names if c in keep]
    return pq.read_table(path, columns=cols, read_dictionary=[c for c in cols if c in encoded]), names


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


class Storage:
    """Base adapter for one dataset; see the module docstring for the contract."""

    def __init__(self, name: str, dataset: Dataset, path: Path, region: str, allowed: tuple[str, ...]):
        self.name, self.dataset, self.path, self.region, self.allowed = name, dataset, path, region, allowed

    def list_partitions(self, start: date | None = None, end: date | None = None) -> list[Partition]:
        raise NotImplementedError

    def read(self, part: Partition, columns: list[str] | None = None) -> pa.Table:
        raise NotImplementedError

    def write_partition(self, dt: date | None, table: pa.Table) -> Partition:
        raise NotImplementedError

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
            m = _DT_DIR.match(part)
            if m:
                return date.fromisoformat(m.group(1))
        return None

    def replace_file(self, path: Path, table: pa.Table) -> None:
        """Atomically replace one file's rows (the unit of every rewrite: a crash leaves old or new, never both)."""
        raise NotImplementedError

    def delete_file(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        parent = path.parent
        if parent != self.path and parent.exists() and not any(p for p in parent.iterdir()):
            parent.rmdir()
        if parent.exists():
            _fsync_dir(parent)

    def _check_write(self) -> None:
        check_region(self.region, self.allowed, f"dataset {self.name!r}")

    @staticmethod
    def _in_range(dt: date | None, start: date | None, end: date | None) -> bool:
        if dt is None:
            return True
        return (start is None or dt >= start) and (end is None or dt <= end)


class ParquetStorage(Storage):
    """``<location>/dt=YYYY-MM-DD/part-*.parquet``; a flat folder of Parquet files is one undated partition."""

    def list_partitions(self, start=None, end=None):
        if not self.path.exists():
            return []
        parts, flat = [], []
        for child in sorted(self.path.iterdir()):
            if is_hidden(child.name):
                continue
            m = _DT_DIR.match(child.name)
            if child.is_dir() and m:
                dt = date.fromisoformat(m.group(1))
                files = tuple(sorted(f for f in child.iterdir() if f.suffix == ".parquet" and not is_hidden(f.name)))
                if files and self._in_range(dt, start, end):
                    parts.append(Partition(self.name, dt, files))
            elif child.is_file() and child.suffix == ".parquet":
                flat.append(child)
        if flat:
            parts.append(Partition(self.name, None, tuple(flat)))
        return parts

    def read(self, part, columns=None):
        try:
            tables = [pq.read_table(p, columns=columns) for p in part.paths]
        except (OSError, pa.ArrowInvalid) as e:
            raise StorageError(f"{self.name} {part.label}: cannot read Parquet ({type(e).__name__})") from e
        return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]

    def read_file(self, path, columns=None):
        try:
            return pq.read_table(path, columns=columns)
        except (OSError, pa.ArrowInvalid) as e:
            raise StorageError(f"{self.name} {path.name}: cannot read Parquet ({type(e).__name__})") from e

    def read_columns(self, path, wanted, dictionary=()):
        try:
            return _read_parquet_columns(path, wanted, dictionary)
        except (OSError, pa.ArrowInvalid) as e:
            raise StorageError(f"{self.name} {path.name}: cannot read Parquet ({type(e).__name__})") from e

    def replace_file(self, path, table):
        self._check_write()
        with atomic_file(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")

    def write_partition(self, dt, table, *, file_name: str = "part-00000.parquet"):
        self._check_write()
        folder = self.path / f"dt={dt.isoformat()}" if dt else self.path
        target = folder / file_name
        with atomic_file(target) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        return Partition(self.name, dt, (target,))


class TextStorage(Storage):
    """JSONL or CSV files named by ``dataset.files`` (``{dt}`` marks the date), gzip if the name ends ``.gz``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        pattern = self.dataset.files or "*"
        self._pattern = re.compile("^" + re.escape(pattern).replace(re.escape("{dt}"), r"(\d{4}-\d{2}-\d{2})") + "$")
        self.gzip = pattern.endswith(".gz")

    def file_for(self, dt: date | None) -> Path:
        pattern = self.dataset.files or ""
        if "{dt}" in pattern:
            if dt is None:
                raise StorageError(f"{self.name}: files are named by date ({pattern}); a date is needed")
            return self.path / pattern.replace("{dt}", dt.isoformat())
        return self.path / pattern

    def list_partitions(self, start=None, end=None):
        if not self.path.exists():
            return []
        parts = []
        for f in sorted(self.path.iterdir()):
            if is_hidden(f.name) or not f.is_file():
                continue
            m = self._pattern.match(f.name)
            if not m:
                continue
            dt = date.fromisoformat(m.group(1)) if m.groups() else None
            if self._in_range(dt, start, end):
                parts.append(Partition(self.name, dt, (f,)))
        return parts

    def date_of(self, path: Path) -> date | None:
        m = self._pattern.match(path.name)
        return date.fromisoformat(m.group(1)) if m and m.groups() else None

    def decode(self, path: Path) -> str:
        """The file's text, trying the dataset's encodings in order."""
        return self._decode(path)[0]

    def detect_encoding(self, path: Path) -> str:
        """The first of the dataset's encodings that decodes the file (kept when the file is rewritten)."""
        return self._decode(path)[1]

    def _decode(self, path: Path) -> tuple[str, str]:
        raw = path.read_bytes()
        if self.gzip:
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as e:
                raise StorageError(f"{self.name} {path.name}: not a readable gzip file ({e})") from e
        for enc in self.dataset.encodings:
            try:
                return raw.decode(enc), enc
            except UnicodeDecodeError:
                continue
        raise StorageError(f"{self.name} {path.name}: cannot decode with any of {list(self.dataset.encodings)}")

    def read(self, part, columns=None):
        tables = [self._read_file(p) for p in part.paths]
        t = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
        return t.select(columns) if columns else t

    def _read_file(self, path: Path) -> pa.Table:
        data = self.decode(path).encode("utf-8")
        if not data.strip():
            return pa.table({c: pa.array([], pa.string()) for c in self.dataset.columns})
        try:
            if self.dataset.format == "jsonl":
                t = pajson.read_json(io.BytesIO(data))
                if any(pa.types.is_timestamp(f.type) for f in t.schema):
                    # Arrow converts ISO text with an offset to UTC timestamps, losing what was written: read
                    # those columns again as the text they are.
                    schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f
                                        for f in t.schema])
                    t = pajson.read_json(io.BytesIO(data), parse_options=pajson.ParseOptions(explicit_schema=schema))
            else:
                names = pacsv.open_csv(io.BytesIO(data)).schema.names
                t = pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, strings_can_be_null=True))
        except pa.ArrowInvalid as e:
            raise StorageError(f"{self.name} {path.name}: malformed {self.dataset.format} ({type(e).__name__})") from e
        # Text formats carry no types: keep every column as text (timestamps are parsed by transforms).
        return pa.table({n: (c if pa.types.is_string(c.type) else _to_text(c)) for n, c in zip(t.column_names,
                                                                                                 t.columns)})

    def encode(self, table: pa.Table, *, header: bool = True) -> bytes:
        """Serialise a table as this dataset's text format (UTF-8); ``header`` only matters for CSV."""
        if self.dataset.format == "jsonl":
            if table.num_rows == 0:
                return b""
            return table.to_pandas().to_json(orient="records", lines=True, force_ascii=False).encode("utf-8")
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=header))
        return buf.getvalue()

    def write_partition(self, dt, table, *, encoding: str = "utf-8"):
        return self.write_partition_at(self.file_for(dt), dt, table, encoding)

    def read_file(self, path, columns=None):
        t = self._read_file(path)
        return t.select(columns) if columns else t

    def replace_file(self, path, table):
        # Keep the file's original encoding: the tools that read it today must read it tomorrow.
        self.write_partition_at(path, None, table, self.detect_encoding(path))

    def write_partition_at(self, target: Path, dt: date | None, table: pa.Table, encoding: str) -> Partition:
        self._check_write()
        data = self.encode(table)
        if encoding.lower() not in ("utf-8", "utf8"):
            data = data.decode("utf-8").encode(encoding)
        with atomic_stream(target, gzip_level=6 if self.gzip else None) as fh:
            fh.write(data)
        return Partition(self.name, dt, (target,))


class DeltaStorage(Storage):
    """A Delta Lake table partitioned by a ``dt`` column (``YYYY-MM-DD`` text).

    Reads go file by file through pyarrow.parquet (the partition value is restored from the table's add actions),
    which also avoids a known abort at interpreter exit when a pyarrow dataset scanner is still alive. Every change
    is one Delta commit: a partition is replaced with ``write_deltalake(mode="overwrite", predicate="dt = '...'")``
    or removed with ``delete``, so the commit log only ever records partition values, never a row's content.
    :meth:`vacuum` then removes the files old versions still point at, and :meth:`history_holds` checks, by time
    travel, that no old version can still be read with rows a predicate selects.
    """

    PARTITION = "dt"

    def _table(self):
        from deltalake import DeltaTable

        return DeltaTable(str(self.path))

    def exists(self) -> bool:
        from deltalake import DeltaTable

        return self.path.exists() and DeltaTable.is_deltatable(str(self.path))

    def _files(self, table=None) -> list[tuple[Path, date | None]]:
        dt = table or self._table()
        actions = pa.table(dt.get_add_actions(flatten=True))
        col = f"partition.{self.PARTITION}"
        parts = actions.column(col).to_pylist() if col in actions.column_names else [None] * actions.num_rows
        return sorted((self.path / p, date.fromisoformat(d) if d else None)
                      for p, d in zip(actions.column("path").to_pylist(), parts))

    def list_partitions(self, start=None, end=None):
        if not self.exists():
            return []
        groups: dict[date | None, list[Path]] = {}
        for path, d in self._files():
            if self._in_range(d, start, end):
                groups.setdefault(d, []).append(path)
        return [Partition(self.name, d, tuple(ps)) for d, ps in sorted(groups.items(), key=lambda x: str(x[0]))]

    def read_file(self, path, columns=None):
        try:
            t = pq.read_table(path, columns=[c for c in columns if c != self.PARTITION] if columns else None)
        except (OSError, pa.ArrowInvalid) as e:
            raise StorageError(f"{self.name} {path.name}: cannot read Delta data file ({type(e).__name__})") from e
        t = self._with_partition(path, t, columns is None or self.PARTITION in columns)
        return t.select(columns) if columns else t

    def read_columns(self, path, wanted, dictionary=()):
        try:
            t, names = _read_parquet_columns(path, wanted, dictionary)
        except (OSError, pa.ArrowInvalid) as e:
            raise StorageError(f"{self.name} {path.name}: cannot read Delta data file ({type(e).__name__})") from e
        if self.PARTITION not in names:
            names = names + [self.PARTITION]
            t = self._with_partition(path, t, self.PARTITION in wanted)
        return t, names

    def _with_partition(self, path: Path, t: pa.Table, wanted: bool) -> pa.Table:
        """``t`` with the ``dt`` partition column from the file's folder, when wanted and not stored in the file."""
        if not wanted or self.PARTITION in t.column_names:
            return t
        d = self.date_of(path)
        return t.append_column(self.PARTITION, pa.array([d.isoformat() if d else None] * t.num_rows, pa.string()))

    def read(self, part, columns=None):
        tables = [self.read_file(p, columns) for p in part.paths]
        return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]

    def write_partition(self, dt, table, *, mode: str = "append"):
        from deltalake import write_deltalake

        self._check_write()
        if self.PARTITION not in table.column_names:
            table = table.append_column(self.PARTITION, pa.array([dt.isoformat()] * table.num_rows, pa.string()))
        if mode == "overwrite" and self.exists():
            write_deltalake(str(self.path), table, mode="overwrite", partition_by=[self.PARTITION],
                            predicate=f"{self.PARTITION} = '{dt.isoformat()}'")
        elif self.exists():
            write_deltalake(str(self.path), table, mode="append", partition_by=[self.PARTITION])
        else:
            # Column statistics (min/max) go into the commit log, which a vacuum never removes: keep them to the
            # event time, so that no identifier is ever written there.
            stats = ",".join(c for c in (self.dataset.event_time,) if c) or self.PARTITION
            write_deltalake(str(self.path), table, mode="append", partition_by=[self.PARTITION],
                            configuration={"delta.dataSkippingStatsColumns": stats})
        return Partition(self.name, dt, ())

    def replace_file(self, path, table):
        """Replace one data file's rows: the partition holding it is rewritten in a single commit."""
        self._check_write()
        d = self.date_of(path)
        if d is None:
            raise StorageError(f"{self.name}: {path.name} is not in a {self.PARTITION}= partition")
        others = [p for p, pd in self._files() if pd == d and p != path]
        tables = [self.read_file(p) for p in others] + ([table] if table.num_rows else [])
        if not tables:
            self._table().delete(f"{self.PARTITION} = '{d.isoformat()}'")
            return
        merged = pa.concat_tables(tables, promote_options="permissive")
        self.write_partition(d, merged, mode="overwrite")

    def delete_file(self, path):
        self.replace_file(path, self.read_file(path).slice(0, 0))

    def vacuum(self) -> int:
        """Remove every file no current version needs (no retention window): returns how many."""
        if not self.exists():
            return 0
        return len(self._table().vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False))

    def history_holds(self, predicate) -> list[int]:
        """Versions older than the current one that can still be read and hold rows ``predicate(table)`` selects."""
        from deltalake import DeltaTable

        current = self._table().version()
        bad = []
        for v in range(current):
            try:
                old = DeltaTable(str(self.path), version=v)
                paths = [p for p, _ in self._files(old)]
                tables = [self.read_file(p) for p in paths]
            except Exception:  # noqa: BLE001  (files vacuumed: the version can no longer be read)
                continue
            if any(t.num_rows and pc_any(predicate(t)) for t in tables):
                bad.append(v)
        return bad


def pc_any(mask: pa.Array) -> bool:
    import pyarrow.compute as pc

    return bool(pc.any(pc.fill_null(mask, False)).as_py())


def _to_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_timestamp(col.type):
        return pa.compute.strftime(col, format="%Y-%m-%dT%H:%M:%S")
    return col.cast(pa.string())


def storage_for(catalog: Catalog, name: str) -> Storage:
    """The adapter for a catalog dataset (the one wiring place)."""
    ds = catalog.datasets[name]
    args = (name, ds, catalog.dataset_path(name), catalog.dataset_region(name), catalog.lake.allowed_regions)
    if ds.format == "parquet":
        return ParquetStorage(*args)
    if ds.format in ("jsonl", "csv"):
        return TextStorage(*args)
    return DeltaStorage(*args)
