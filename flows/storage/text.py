"""JSON-lines and CSV datasets: files named by the catalog's ``files`` pattern (``{dt}`` marks the date), gzip when
the name ends ``.gz``, in any of the dataset's encodings.

JSON numbers and booleans keep their type; everything else is read as text (CSV carries no types at all; nested
JSON objects as their JSON text; times as written, parsed by transforms). Lines whose types disagree (a status
written 304 here and "500" there) make the file's column text. A rewrite never re-serialises a row it keeps: the file's records are split at the text level (a JSON
line; a CSV record, quoted newlines included) and kept records are written back byte for byte, in the file's own
encoding; only a row that changes is written anew.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from configs.errors import StorageError
from flows.storage.base import Partition, Storage
from flows.storage.fs import is_hidden
from transforms.tables import as_text

_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


def _segments(text: str) -> list[str]:
    """``text`` cut after every ``\\n`` (endings kept; only ``\\n`` ends a line, never a Unicode separator)."""
    return _LINE.findall(text)


def _plain(col: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """A parsed text column as piiflow reads it: JSON numbers and booleans keep their type (a status written 304 is
    a number); nested objects and lists become their JSON text, an all-missing column text."""
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_string(t):
        return col
    return as_text(col)


class TextStorage(Storage):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        pattern = self.dataset.files or "*"
        self._pattern = re.compile("^" + re.escape(pattern).replace(re.escape("{dt}"), r"(\d{4}-\d{2}-\d{2})") + "$")
        self.gzip = pattern.endswith(".gz")

    # -- where ---------------------------------------------------------------------------------------------------

    def file_for(self, dt: date | None) -> Path:
        pattern = self.dataset.files or ""
        if "{dt}" in pattern:
            if dt is None:
                raise StorageError(f"{self.name}: files are named by date ({pattern}); a date is needed")
            return self._checked(self.path / pattern.replace("{dt}", dt.isoformat()))
        return self._checked(self.path / pattern)

    def _date_in(self, name: str) -> tuple[bool, date | None]:
        """(whether ``name`` is one of the dataset's files, the date it names)."""
        m = self._pattern.match(name)
        if not m:
            return False, None
        if not m.groups():
            return True, None
        try:
            return True, date.fromisoformat(m.group(1))
        except ValueError:
            return False, None

    def list_partitions(self, start=None, end=None):
        parts = []
        if self.location_refused():
            return []
        for f in self.fs.scan_dir(self._checked(self.path), self.problems):
            if is_hidden(f.name):
                continue
            ours, dt = self._date_in(f.name) if f.is_file else (False, None)
            if not ours:
                self._unknown(f.path, "a folder" if f.is_dir else f"a file not named {self.dataset.files} "
                                                                   f"(or with a date that is not real)")
                continue
            if self._in_range(dt, start, end):
                parts.append(Partition(self.name, dt, (f.path,)))
        return parts

    def date_of(self, path: Path) -> date | None:
        return self._date_in(path.name)[1]

    # -- reading -------------------------------------------------------------------------------------------------

    def _decode(self, path: Path) -> tuple[str, str]:
        """The file's text and the first of the dataset's encodings that decodes it."""
        limit = self.dataset.max_file_bytes
        too_big = StorageError(f"{self.fs.rel(path)}: holds more than {limit:,} bytes once decompressed (the "
                               f"dataset's max_file_bytes); refused before it fills memory")
        if not self.gzip and self.fs.size(self._checked(path)) > limit:
            raise too_big
        raw = self.fs.read_bytes(self._checked(path))
        if self.gzip:
            try:
                with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
                    raw = gz.read(limit + 1)  # never more than the limit in memory, whatever the ratio
            except (OSError, EOFError) as e:
                raise StorageError(f"{self.fs.rel(path)}: not a readable gzip file ({type(e).__name__})") from e
            if len(raw) > limit:
                raise too_big
        for enc in self.dataset.encodings:
            try:
                return raw.decode(enc), enc
            except UnicodeDecodeError:
                continue
        raise StorageError(f"{self.fs.rel(path)}: cannot decode with any of {list(self.dataset.encodings)}")

    def detect_encoding(self, path: Path) -> str:
        """The first of the dataset's encodings that decodes the file (kept when the file is rewritten)."""
        return self._decode(path)[1]

    def _records(self, segments: list[str]) -> tuple[list[list[int]], int]:
        """The file's records as lists of segment indices (a CSV record may span lines inside quotes), blank lines
        left out, and how many of the first records are a header (1 for CSV, 0 for JSON lines)."""
        records: list[list[int]] = []
        open_quotes = False
        for i, seg in enumerate(segments):
            if open_quotes:
                records[-1].append(i)
            elif seg.strip():
                records.append([i])
            else:
                continue
            if self.dataset.format == "csv" and seg.count('"') % 2:
                open_quotes = not open_quotes
        return records, 1 if self.dataset.format == "csv" else 0

    def _parse(self, path: Path, text: str, n_rows: int) -> pa.Table:
        data = text.encode("utf-8")
        try:
            if self.dataset.format == "jsonl":
                t = self._parse_jsonl(data)
            else:
                names = pacsv.open_csv(io.BytesIO(data)).schema.names
                t = pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, strings_can_be_null=True))
        except pa.ArrowInvalid:
            if self.dataset.format != "jsonl":
                raise StorageError(f"{self.fs.rel(path)}: malformed CSV") from None
            t = self._parse_jsonl_lines(path, text)
        if t.num_rows != n_rows:
            raise StorageError(f"{self.fs.rel(path)}: {t.num_rows} rows parsed from {n_rows} records; the file is "
                               f"not plain {self.dataset.format}")
        return pa.table({n: _plain(c) for n, c in zip(t.column_names, t.columns)})

    @staticmethod
    def _parse_jsonl(data: bytes) -> pa.Table:
        options = pajson.ReadOptions(block_size=max(1 << 20, min(len(data) + 1, (1 << 31) - 1)))
        t = pajson.read_json(io.BytesIO(data), read_options=options)
        if any(pa.types.is_timestamp(f.type) for f in t.schema):
            # Arrow converts ISO text with an offset to UTC timestamps, losing what was written: read those columns
            # again as the text they are.
            schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f
                                for f in t.schema])
            t = pajson.read_json(io.BytesIO(data), read_options=options,
                                 parse_options=pajson.ParseOptions(explicit_schema=schema))
        return t

    def _parse_jsonl_lines(self, path: Path, text: str) -> pa.Table:
        """One JSON object per line, parsed line by line: what Arrow refuses because a key's type changes between
        lines (a status written as 304 here and "500" there) is read as text. A line that is no JSON object makes
        the file unreadable, naming the line."""
        rows: list[dict] = []
        for n, line in enumerate(_segments(text), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            if not isinstance(obj, dict):
                raise StorageError(f"{self.fs.rel(path)}: line {n}: not a JSON object")
            rows.append(obj)
        names = list(dict.fromkeys(k for r in rows for k in r))

        def text_of(v):
            if v is None or isinstance(v, str):
                return v
            return json.dumps(v, ensure_ascii=False, sort_keys=True)

        return pa.table({k: pa.array([text_of(r.get(k)) for r in rows], pa.string()) for k in names})

    def read_file(self, path, columns=None):
        text, _ = self._decode(path)
        segments = _segments(text)
        records, header = self._records(segments)
        if not records:
            t = pa.table({c: pa.array([], pa.string()) for c in self.dataset.columns})
        else:
            t = self._parse(path, text, len(records) - header)
        return t.select(columns) if columns else t

    # -- writing -------------------------------------------------------------------------------------------------

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
        target = self.file_for(dt)
        self._write_text(target, self.encode(table).decode("utf-8"), encoding)
        return Partition(self.name, dt, (target,))

    def write_chunks(self, dt, tables, *, encoding="utf-8"):
        """One file, streamed chunk after chunk (a CSV header only before the first), in ``encoding``."""
        self._check_write()
        with self.fs.atomic_stream(self.file_for(dt), gzip_level=6 if self.gzip else None) as fh:
            for i, table in enumerate(tables):
                fh.write(self.encode(table, header=(i == 0)).decode("utf-8").encode(encoding))
        return 1

    def replace_file(self, path, table):
        # Keep the file's original encoding: the tools that read it today must read it tomorrow.
        self._write_text(path, self.encode(table).decode("utf-8"), self.detect_encoding(path))

    def _write_text(self, path: Path, text: str, encoding: str) -> None:
        self._check_write()
        with self.fs.atomic_stream(self._checked(path), gzip_level=6 if self.gzip else None) as fh:
            fh.write(text.encode(encoding))

    def _rows(self, path: Path) -> tuple[list[str], list[list[int]], int, str]:
        text, encoding = self._decode(path)
        segments = _segments(text)
        records, header = self._records(segments)
        return segments, records, header, encoding

    def delete_rows(self, path, mask):
        segments, records, header, encoding = self._rows(path)
        drop = pc.fill_null(mask, False).to_pylist()
        if len(drop) != len(records) - header:
            raise StorageError(f"{self.fs.rel(path)}: the file changed while it was being rewritten")
        gone = {i for rec, d in zip(records[header:], drop) if d for i in rec}
        self._write_text(path, "".join(s for i, s in enumerate(segments) if i not in gone), encoding)

    def update_rows(self, path, changes):
        segments, records, header, encoding = self._rows(path)
        masks = {c: pc.fill_null(m, False).to_pylist() for c, (m, _) in changes.items()}
        values = {c: v.to_pylist() for c, (_, v) in changes.items()}
        if any(len(m) != len(records) - header for m in masks.values()):
            raise StorageError(f"{self.fs.rel(path)}: the file changed while it was being rewritten")
        names = next(csv.reader(["".join(segments[i] for i in records[0])])) if header else []
        for row, rec in enumerate(records[header:]):
            new_values = {c: values[c][row] for c, m in masks.items() if m[row]}
            if not new_values:
                continue
            old = "".join(segments[i] for i in rec)
            ending = old[len(old.rstrip("\r\n")):]
            new = self._changed_record(old.rstrip("\r\n"), names, new_values)
            segments[rec[0]] = new + ending
            for i in rec[1:]:
                segments[i] = ""
        self._write_text(path, "".join(segments), encoding)

    def _changed_record(self, record: str, names: list[str], new: dict) -> str:
        if self.dataset.format == "jsonl":
            obj = json.loads(record)
            for col, v in new.items():
                if col in obj or v is not None:  # a key the line did not have stays absent when it stays empty
                    obj[col] = v
            return json.dumps(obj, ensure_ascii=False)
        fields = next(csv.reader([record]))
        for col, v in new.items():
            if col in names:
                fields[names.index(col)] = "" if v is None else str(v)
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(fields)
        return buf.getvalue()
