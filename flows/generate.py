"""``piiflow generate``: write a synthetic lake in the layout a catalog declares, with its ground truth.

Streams one (dataset, day) chunk at a time, so the lake's size is bounded by disk, not memory. Every file is
written atomically. Some days of the JSONL logs are GBK-encoded, as older log shippers leave them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq

from configs.catalog import Catalog
from flows.storage import lake_fs, storage_for
from transforms import synth

#: Largest number of rows generated and held at once.
CHUNK_ROWS = 200_000


def gbk_day(day: date) -> bool:
    """Days whose log files are GBK-encoded (every third day)."""
    return day.toordinal() % 3 == 0


@dataclass
class GenerateResult:
    root: Path
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    truth_rows: int = 0

    @property
    def truth_path(self) -> Path:
        return self.root / "_truth" / "identifiers.parquet"


def generate_lake(catalog: Catalog, spec: synth.LakeSpec,
                  progress: Callable[[str, int, int], None] | None = None) -> GenerateResult:
    """Write every dataset of ``catalog`` that the generator knows, for ``spec``'s days; return counts."""
    pop = synth.Population(spec)
    root = catalog.lake.root
    result = GenerateResult(root)
    truth_path = result.truth_path
    steps = [(n, d) for n in synth.DAILY_GENERATORS if n in catalog.datasets for d in spec.days]
    total = len(steps) + len(spec.days) + 1
    done = 0
    fs = lake_fs(catalog)
    with fs.atomic_file(truth_path) as tmp_truth:
        with pq.ParquetWriter(tmp_truth, synth.TRUTH_SCHEMA, compression="zstd") as truth:
            def emit(name: str, chunk: synth.Chunk) -> None:
                result.rows[name] = result.rows.get(name, 0) + chunk.table.num_rows
                result.truth_rows += chunk.truth.num_rows
                if chunk.truth.num_rows:
                    truth.write_table(chunk.truth)

            if "registration" in catalog.datasets:
                store = storage_for(catalog, "registration")
                for day in spec.days:
                    chunk = synth.registration(spec, pop, day)
                    if chunk.table.num_rows:
                        store.write_partition(day, chunk.table)
                        result.files += 1
                    emit("registration", chunk)
                    done += 1
                    if progress:
                        progress("registration", done, total)
            for name, day in steps:
                store = storage_for(catalog, name)
                n = spec.rows_on(name, day)
                gen = synth.DAILY_GENERATORS[name]
                parts = [(i, min(CHUNK_ROWS, n - i * CHUNK_ROWS)) for i in range((n + CHUNK_ROWS - 1) // CHUNK_ROWS)]

                def tables(name=name, day=day, gen=gen, parts=parts):
                    for i, rows in parts:
                        chunk = gen(spec, pop, day, rows, i)
                        emit(name, chunk)
                        yield chunk.table

                encoding = "gb18030" if (name == "app_logs" and gbk_day(day)) else "utf-8"
                result.files += store.write_chunks(day, tables(), encoding=encoding)
                done += 1
                if progress:
                    progress(name, done, total)
            if "enterprise_contacts" in catalog.datasets:
                store = storage_for(catalog, "enterprise_contacts")
                chunk = synth.enterprise_contacts(spec, pop)
                store.write_partition(None, chunk.table)
                result.files += 1
                emit("enterprise_contacts", chunk)
            done += 1
            if progress:
                progress("enterprise_contacts", done, total)
    return result
