"""Delta Lake datasets: a table partitioned by a ``dt`` column, changed only through delta-rs commits."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from configs.errors import StorageError
from flows.storage.base import Partition, Storage
from flows.storage.parquet import read_parquet_columns
from transforms.tables import concat

#: A new table is checkpointed every this many commits (Delta's own default; delta-rs's is 100). Every open of a
#: table reads the commit files since its last checkpoint: one a day for a year is 365 reads on object storage. The
#: checkpoint holds what the commits hold (paths, partition values, event-time statistics), no identifier.
CHECKPOINT_INTERVAL = 10


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

        return DeltaTable(self.fs.uri(self._checked(self.path)), storage_options=self.fs.storage_options())

    def _no_links(self) -> None:
        """delta-rs writes, deletes and vacuums by itself: refuse when a link anywhere in the table could lead it
        out of the lake."""
        found = []
        self.fs.walk_files(self._checked(self.path), found)
        if found:
            raise StorageError(f"refusing to change Delta table {self.name}: {found[0]}")

    def exists(self) -> bool:
        from deltalake import DeltaTable

        return self.fs.exists(self._checked(self.path)) and DeltaTable.is_deltatable(
            self.fs.uri(self.path), storage_options=self.fs.storage_options())

    def _files(self, table=None) -> list[tuple[Path, date | None]]:
        dt = table or self._table()
        actions = pa.table(dt.get_add_actions(flatten=True))
        col = f"partition.{self.PARTITION}"
        parts = actions.column(col).to_pylist() if col in actions.column_names else [None] * actions.num_rows
        # A path in the commit log is checked like any other: a forged log cannot point outside the table.
        return sorted((self._checked(self.path / p), date.fromisoformat(d) if d else None)
                      for p, d in zip(actions.column("path").to_pylist(), parts))

    def list_partitions(self, start=None, end=None):
        if self.location_refused() or not self.exists():
            return []
        groups: dict[date | None, list[Path]] = {}
        for path, d in self._files():
            if self._in_range(d, start, end):
                groups.setdefault(d, []).append(path)
        return [Partition(self.name, d, tuple(ps)) for d, ps in sorted(groups.items(), key=lambda x: str(x[0]))]

    def read_file(self, path, columns=None):
        try:
            t = self.fs.read_parquet(self._checked(path),
                                     columns=[c for c in columns if c != self.PARTITION] if columns else None)
        except (OSError, pa.ArrowException) as e:
            raise StorageError(f"{self.fs.rel(path)}: cannot read Delta data file ({type(e).__name__})") from e
        t = self._with_partition(path, t, columns is None or self.PARTITION in columns)
        return t.select(columns) if columns else t

    def read_columns(self, path, wanted, dictionary=()):
        try:
            t, names = read_parquet_columns(self.fs, self._checked(path), wanted, dictionary)
        except (OSError, pa.ArrowException) as e:
            raise StorageError(f"{self.fs.rel(path)}: cannot read Delta data file ({type(e).__name__})") from e
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

    def write_partition(self, dt, table, *, mode: str = "append"):
        from deltalake import write_deltalake

        self._check_write()
        self._no_links()
        if self.PARTITION not in table.column_names:
            table = table.append_column(self.PARTITION, pa.array([dt.isoformat()] * table.num_rows, pa.string()))
        where, options = self.fs.uri(self.path), self.fs.storage_options()
        if mode == "overwrite" and self.exists():
            write_deltalake(where, table, mode="overwrite", partition_by=[self.PARTITION],
                            predicate=f"{self.PARTITION} = '{dt.isoformat()}'", storage_options=options)
        elif self.exists():
            write_deltalake(where, table, mode="append", partition_by=[self.PARTITION], storage_options=options)
        else:
            # Column statistics (min/max) go into the commit log, which a vacuum never removes: keep them to the
            # event time, so that no identifier is ever written there.
            stats = ",".join(c for c in (self.dataset.event_time,) if c) or self.PARTITION
            write_deltalake(where, table, mode="append", partition_by=[self.PARTITION],
                            configuration={"delta.dataSkippingStatsColumns": stats,
                                           "delta.checkpointInterval": str(CHECKPOINT_INTERVAL)},
                            storage_options=options)
        return Partition(self.name, dt, ())

    def write_chunks(self, dt, tables, *, encoding="utf-8"):
        """One Delta commit per chunk (appended to the partition)."""
        for table in tables:
            self.write_partition(dt, table)
        return 1

    def replace_file(self, path, table):
        """Replace one data file's rows: the partition holding it is rewritten in a single commit."""
        self._check_write()
        self._no_links()
        d = self.date_of(path)
        if d is None:
            raise StorageError(f"{self.name}: {path.name} is not in a {self.PARTITION}= partition")
        current = self._table()
        others = [p for p, pd in self._files(current) if pd == d and p != path]
        tables = [self.read_file(p) for p in others] + ([table] if table.num_rows else [])
        if not tables:
            current.delete(f"{self.PARTITION} = '{d.isoformat()}'")
            return
        merged = concat(tables)
        self.write_partition(d, merged, mode="overwrite")

    def delete_file(self, path):
        self.replace_file(path, self.read_file(path).slice(0, 0))

    def bad_files(self):
        return []  # a Delta table's files are its log's: an unreadable one is reported, never moved

    def quarantine_file(self, path):
        raise StorageError(f"{self.fs.rel(path)}: a Delta table's data file is never moved (on_bad_file)")

    def vacuum(self) -> int:
        """Remove every file no current version needs (no retention window): returns how many."""
        if not self.exists():
            return 0
        self._no_links()
        return len(self._table().vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False))

    def history_holds(self, predicate) -> list[int]:
        """Versions older than the current one that can still be read and hold rows ``predicate(table)`` selects."""
        from deltalake import DeltaTable

        current = self._table().version()
        bad = []
        # A data file never changes once written, and most are shared by many versions: each is read and judged
        # once (None: it can no longer be read).
        judged: dict[str, bool | None] = {}

        def holds(path) -> bool | None:
            key = str(path)
            if key not in judged:
                try:
                    t = self.read_file(path)
                    judged[key] = bool(t.num_rows) and bool(pc.any(pc.fill_null(predicate(t), False)).as_py())
                except Exception:  # noqa: BLE001  (vacuumed)
                    judged[key] = None
            return judged[key]

        old = None
        for v in range(current):
            try:
                if old is None:
                    old = DeltaTable(self.fs.uri(self.path), version=v, storage_options=self.fs.storage_options())
                else:  # the next version from the one loaded: only the commits between are read
                    old.load_as_version(v)
                paths = [p for p, _ in self._files(old)]
            except Exception:  # noqa: BLE001  (the log of the version is gone)
                old = None
                continue
            selected = False
            for p in paths:
                verdict = holds(p)
                if verdict is None:
                    break  # a file vacuumed: the version can no longer be read
                selected = selected or verdict
            else:
                if selected:
                    bad.append(v)
        return bad


