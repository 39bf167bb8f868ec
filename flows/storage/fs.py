"""The filesystem seam: every path piiflow reads, writes, lists or deletes goes through a :class:`LakeFS`, which
keeps it inside the lake and makes every write atomic.

**Inside the lake.** A lake's root may itself be a symbolic link (a mount); below it, piiflow follows none. A path
is safe when it lies lexically under the zone it belongs to (a dataset's location, a release, ``state/``), no
component between the root and the path is a symbolic link, and its real path is under the root's real path
(:meth:`LakeFS.safe`). Listing never follows a link: links are refused and reported as a :class:`Problem`, never
read, written or deleted. Deletions remove regular files and real folders only.

**Atomic.** Data goes to a hidden temporary file beside its target, is fsynced, then renamed into place, and the
folder is fsynced; a folder is published by two renames that :meth:`LakeFS.recover` completes or undoes after a
kill. Readers skip hidden (``.``) and private (``_``) names, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import contextvars
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Callable, Iterator

from configs.errors import LakeBusy, StorageError

#: The lakes' lock folders (by their full location) this run holds, in the run's context: its steps and tasks,
#: whatever thread they run on (Prefect copies the context into them), take them again without waiting.
_HELD_LOCKS: contextvars.ContextVar[frozenset] = contextvars.ContextVar("piiflow_held_locks", default=frozenset())

DT_DIR = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Problem:
    """Something a run refused or could not handle: where (relative to the lake's root) and why. Never a value."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    is_dir: bool
    is_file: bool


def is_hidden(name: str) -> bool:
    """Names a reader must skip: temporary files and folders, quarantined files, manifests, reports."""
    return name.startswith((".", "_"))


def dt_of(name: str) -> date | None:
    """The date of a ``dt=YYYY-MM-DD`` folder name (None when the name is not one, or the date is not real)."""
    m = DT_DIR.match(name)
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False where unsupported."""
    import ctypes
    import errno

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: The longest file name most filesystems take (bytes): a temporary name must fit whatever the name it stands for.
NAME_MAX = 255


def temp_name(name: str) -> str:
    """A hidden temporary name beside ``name``: ``.tmp-<name>-<8 hex>``, with ``name`` shortened (and a digest of it
    kept) where the whole would pass :data:`NAME_MAX` bytes, so a raw file named with 240 bytes still rewrites."""
    suffix = f"-{uuid.uuid4().hex[:8]}"
    whole = f".tmp-{name}{suffix}"
    if len(whole.encode("utf-8")) <= NAME_MAX:
        return whole
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    room = NAME_MAX - len(f".tmp--{digest}{suffix}".encode("utf-8"))
    short = name.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return f".tmp-{short}-{digest}{suffix}"


class LakeFS:
    """One lake's files, under ``root``. Every method that takes a path checks it with :meth:`safe` first.

    This is the local-disk seam; :class:`flows.storage.objectstore.ObjectLakeFS` keeps the same contract on an
    object store. Code outside ``flows/storage`` never opens a lake path itself: it asks the seam."""

    #: Whether the lake is on an object store (no rename, no links, no fsync).
    object_store = False

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, text: str) -> Path:
        """A location this seam handed out as text (a task's result), as a path again."""
        return Path(text)

    def uri(self, path: Path) -> str:
        """``path`` as a library that opens it itself (delta-rs) takes it."""
        return str(self.safe(path))

    def location_id(self) -> str:
        """What names this lake wherever it is mounted (its real path)."""
        return os.path.realpath(self.root)

    def storage_options(self) -> dict[str, str] | None:
        """delta-rs storage options (None on a local disk)."""
        return None

    # -- where ---------------------------------------------------------------------------------------------------

    def rel(self, path: Path) -> str:
        """``path`` as the lake knows it (relative to its root), for messages and reports."""
        try:
            return str(Path(path).relative_to(self.root)) or "."
        except ValueError:
            return str(path)

    def safe(self, path: Path, zone: Path | None = None) -> Path:
        """``path`` itself when it is safe to touch (see the module docstring); else StorageError naming it.
        ``zone`` (a folder inside the lake) narrows where ``path`` may be: a dataset's files stay in its location."""
        path = Path(path)
        zone = Path(zone) if zone is not None else self.root
        try:
            below = path.relative_to(zone)
            zone_parts = zone.relative_to(self.root).parts
        except ValueError:
            raise StorageError(f"refusing {self.rel(path)}: outside {self.rel(zone)}") from None
        current = self.root
        for part in zone_parts + below.parts:
            if part in ("..", "."):
                raise StorageError(f"refusing {self.rel(path)}: '{part}' in a path")
            current = current / part
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                break  # what does not exist yet is no link; it would be created under a checked folder
            if stat.S_ISLNK(mode):
                raise StorageError(f"refusing {self.rel(current)}: a symbolic link (piiflow follows none inside "
                                   f"the lake)")
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise StorageError(f"refusing {self.rel(path)}: it resolves outside the lake")
        return path

    def check_root(self) -> None:
        """The lake's root must be an existing folder: raise StorageError before anything is written."""
        if not self.root.is_dir():
            what = "not a folder" if self.root.exists() else "does not exist"
            raise StorageError(f"lake root {self.root} {what}; check lake.root in the catalog")

    # -- listing -------------------------------------------------------------------------------------------------

    def scan_dir(self, folder: Path, problems: list[Problem] | None = None) -> list[Entry]:
        """The entries of ``folder`` (sorted by name), following no link: a symbolic link is left out and, when
        ``problems`` is given, reported there. A folder that does not exist has no entries."""
        self.safe(folder)
        try:
            with os.scandir(folder) as it:
                found = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise StorageError(f"{self.rel(folder)}: expected a folder, found a file") from None
        out = []
        for e in found:
            if e.is_symlink():
                if problems is not None:
                    problems.append(Problem(self.rel(Path(e.path)), "a symbolic link: refused, not followed"))
                continue
            out.append(Entry(e.name, Path(e.path), e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False)))
        return out

    def walk_files(self, folder: Path, problems: list[Problem] | None = None) -> list[Path]:
        """Every regular file below ``folder``, following no link (links are reported in ``problems``)."""
        out = []
        for e in self.scan_dir(folder, problems):
            if e.is_dir:
                out.extend(self.walk_files(e.path, problems))
            elif e.is_file:
                out.append(e.path)
        return out

    def exists(self, path: Path) -> bool:
        return os.path.lexists(self.safe(path))

    def size(self, path: Path) -> int:
        return os.lstat(self.safe(path)).st_size

    def signature(self, path: Path) -> str:
        """``size:mtime_ns:inode:ctime_ns``: what tells a file that changed from one that did not without reading it
        (make and rsync use the first two); a rewrite through :meth:`atomic_stream` is a new file (a new inode), and
        a rewrite in place changes the change time, which, unlike the modification time, nobody can set back."""
        st = os.lstat(self.safe(path))
        return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"

    # -- reading -------------------------------------------------------------------------------------------------

    def read_bytes(self, path: Path) -> bytes:
        with open(self.safe(path), "rb") as fh:
            return fh.read()

    def digest(self, path: Path) -> str:
        return file_digest(self.safe(path))

    def open_input(self, path: Path):
        """What pyarrow reads ``path`` from (a local path; an in-memory buffer on an object store)."""
        return str(self.safe(path))

    def read_parquet(self, path: Path, columns: list[str] | None = None, read_dictionary: list[str] | None = None):
        import pyarrow.parquet as pq

        return pq.read_table(self.open_input(path), columns=columns, read_dictionary=read_dictionary)

    def parquet_schema(self, path: Path):
        import pyarrow.parquet as pq

        return pq.read_schema(self.open_input(path))

    def write_parquet(self, path: Path, table, **options) -> None:
        """Write ``table`` as a Parquet file at ``path``, atomically (zstd unless ``options`` say otherwise)."""
        import pyarrow.parquet as pq

        with self.atomic_file(path) as tmp:
            pq.write_table(table, tmp, **{"compression": "zstd", **options})

    def make_dirs(self, path: Path) -> None:
        """Create the folder ``path`` and its parents (nothing to do on an object store)."""
        self.safe(path).mkdir(parents=True, exist_ok=True)
        self.safe(path)

    def sync_dir(self, path: Path) -> None:
        """Make the renames and removals in folder ``path`` durable (if it still exists)."""
        if os.path.isdir(self.safe(path)):
            fsync_dir(path)

    def rename(self, src: Path, dst: Path) -> None:
        """Move one file to another name in the same folder (atomic) and make it durable."""
        os.replace(self.safe(src), self.safe(dst))
        fsync_dir(Path(dst).parent)

    # -- writing, atomically -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def atomic_file(self, path: Path) -> Iterator[Path]:
        """Yield a hidden temporary path beside ``path``; on success fsync it and rename it over ``path``. On an
        exception the temporary file is removed and ``path`` is left as it was."""
        self.safe(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.safe(path)  # the folders just made are checked too
        tmp = path.parent / temp_name(path.name)
        try:
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            fsync_dir(path.parent)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)

    @contextlib.contextmanager
    def atomic_stream(self, path: Path, *, gzip_level: int | None = None) -> Iterator[IO[bytes]]:
        """A binary stream whose content appears at ``path`` in one piece when the block ends without error."""
        with self.atomic_file(path) as tmp:
            with open(tmp, "xb") as raw:
                if gzip_level is None:
                    yield raw
                else:
                    with gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=gzip_level,
                                       mtime=0) as gz:
                        yield gz

    def write_bytes(self, path: Path, data: bytes) -> None:
        with self.atomic_stream(path) as fh:
            fh.write(data)

    def append_line(self, path: Path, line: str) -> None:
        """Append one line (fsynced) to an append-only state file."""
        self.safe(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o640)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def complete_lines(self, path: Path) -> bytes:
        """An append-only state file's complete lines (b"" when there is no file), after dropping from the file a
        torn final line a killed writer left."""
        try:
            data = self.read_bytes(path)
        except FileNotFoundError:
            return b""
        if data and not data.endswith(b"\n"):
            data = data[:data.rfind(b"\n") + 1]
            self.write_bytes(path, data)
        return data

    def records(self, path: Path) -> list[dict]:
        """The JSON records of an append-only state file (a ledger, a register), one a line; none when there is no
        file. A torn final line a killed writer left is not read (nor repaired: reading writes nothing)."""
        if not self.exists(path):
            return []
        data = self.read_bytes(path)
        data = data[:data.rfind(b"\n") + 1]
        return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]

    def append_after(self, path: Path, make_line: Callable[[bytes], str]) -> str:
        """Append to an append-only state file the line ``make_line`` makes from the file's
        :meth:`complete_lines`, and return it: for a log whose next line depends on its last (a hash chain).
        Callers hold the lake's lock; an object store re-reads and re-makes the line if another writer got in
        between."""
        line = make_line(self.complete_lines(path))
        self.append_line(path, line)
        return line

    # -- folders: staging and publishing -------------------------------------------------------------------------

    def staging_dir(self, target: Path) -> Path:
        """A hidden folder beside ``target`` to write a partition into before :meth:`publish_dir`."""
        self.safe(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        p = target.parent / temp_name(target.name)
        p.mkdir()
        return p

    def sync_tree(self, folder: Path) -> None:
        """fsync every file under ``folder`` and the folder itself: its content is on disk before it is renamed."""
        for f in self.walk_files(folder):
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(folder)

    def publish_dir(self, staged: Path, target: Path, *, synced: bool = False, sync_parent: bool = True) -> None:
        """Move a fully written folder into place. A previous ``target`` is swapped out and removed.

        ``staged`` is fsynced first unless ``synced`` says its writer did (:meth:`sync_tree`, e.g. in a worker, in
        parallel). ``sync_parent=False`` leaves fsyncing ``target``'s parent to the caller (once per parent when it
        publishes many folders: :meth:`sync_parents`). The swap is two renames; if a run dies between them,
        :meth:`recover` restores the previous folder, and if it dies after them, removes the previous one."""
        self.safe(staged)
        self.safe(target)
        if not synced:
            self.sync_tree(staged)
        target.parent.mkdir(parents=True, exist_ok=True)
        old = target.parent / f".old-{target.name}"
        self.delete_tree(old)
        if os.path.lexists(target):
            os.replace(target, old)
        os.replace(staged, target)
        if sync_parent:
            fsync_dir(target.parent)
        self.delete_tree(old)

    def swap_in(self, staged: Path, target: Path) -> None:
        """Put the folder ``staged`` at ``target`` in one step: ``target``'s previous content, if any, ends up at
        ``staged`` (to be removed with the staging area). On Linux the two folders are exchanged atomically
        (``renameat2(RENAME_EXCHANGE)``), so a reader sees the old folder or the new one, never neither; elsewhere the
        previous folder is moved to ``<staged>.old`` first and :meth:`recover_swap` puts it back after a kill."""
        self.safe(staged)
        self.safe(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(target):
            os.replace(staged, target)
        elif not _exchange(staged, target):
            old = staged.with_name(staged.name + ".old")
            os.replace(target, old)
            os.replace(staged, target)
            os.replace(old, staged)

    def recover_swap(self, staged: Path, target: Path) -> None:
        """Undo a :meth:`swap_in` a kill interrupted between its renames: the previous folder goes back."""
        old = staged.with_name(staged.name + ".old")
        if os.path.lexists(self.safe(old)) and not os.path.lexists(self.safe(target)):
            os.replace(old, target)

    def sync_parents(self, targets: list[Path]) -> None:
        """fsync each distinct parent folder of ``targets`` once (the renames of :meth:`publish_dir` with
        ``sync_parent=False`` are then durable)."""
        for parent in sorted({Path(t).parent for t in targets}):
            fsync_dir(self.safe(parent))

    def recover(self, folder: Path) -> int:
        """Finish or undo what an interrupted writer left under ``folder`` (call under :meth:`exclusive_lock`,
        when no other writer can be running): temporaries (``.tmp-*``, which may hold rows that must not survive)
        are removed; a previous partition swapped out by a publish (``.old-X``) is put back when ``X`` is missing,
        removed when ``X`` is there. Links are not followed. Returns how many were handled."""
        n = 0
        for e in self.scan_dir(folder):
            if e.name.startswith(".tmp-"):
                self.delete_tree(e.path) if e.is_dir else self.delete_file(e.path)
                n += 1
            elif e.name.startswith(".old-") and e.is_dir:
                live = e.path.parent / e.name[len(".old-"):]
                if os.path.lexists(live):
                    self.delete_tree(e.path)
                else:
                    os.replace(e.path, live)
                n += 1
            elif e.is_dir:
                n += self.recover(e.path)
        return n

    # -- deleting ------------------------------------------------------------------------------------------------

    def delete_file(self, path: Path, zone: Path | None = None) -> None:
        """Remove one regular file (never through a link); a missing file is already gone."""
        self.safe(path, zone)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISREG(mode):
            raise StorageError(f"refusing to delete {self.rel(path)}: not a regular file")
        os.unlink(path)

    def delete_tree(self, path: Path, zone: Path | None = None) -> None:
        """Remove a real folder and everything in it; a link inside is removed as a link, its target untouched. A
        missing folder is already gone."""
        self.safe(path, zone)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(mode):
            raise StorageError(f"refusing to delete {self.rel(path)}: not a folder")
        shutil.rmtree(path)

    def remove_empty_dir(self, path: Path) -> None:
        """Remove ``path`` if it is an empty real folder."""
        self.safe(path)
        with contextlib.suppress(FileNotFoundError, OSError):
            if stat.S_ISDIR(os.lstat(path).st_mode) and not os.listdir(path):
                os.rmdir(path)

    # -- the lake's lock -----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def exclusive_lock(self, state_dir, what: str) -> Iterator[None]:
        """One destructive run (purge, erase, release publish, the whole nightly) at a time per lake; a second one
        fails at once with :class:`LakeBusy`. Re-entrant within a run: a step of a run that already holds the lock
        (the nightly's purge, erasure and releases) goes on under it."""
        key = str(state_dir)
        held = _HELD_LOCKS.get()
        if key in held:
            yield
            return
        with self._acquire_lock(state_dir, what):
            token = _HELD_LOCKS.set(held | {key})
            try:
                yield
            finally:
                _HELD_LOCKS.reset(token)

    @contextlib.contextmanager
    def _acquire_lock(self, state_dir: Path, what: str) -> Iterator[None]:
        """``state/.lock``, held with ``flock`` for as long as the block runs (the kernel frees it if we are killed)."""
        import fcntl

        lock = state_dir / ".lock"
        self.safe(lock)
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o640)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise LakeBusy(f"{what}: another piiflow run holds the lake's lock ({self.rel(lock)})") from e
            yield
        finally:
            os.close(fd)
