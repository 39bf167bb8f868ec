"""``exposure``: whom a leak touched (privacy policy 5.7: "if personal information leaks ... we tell the people
concerned"). Given what was reported leaked (a release file, a release partition, a recipient's whole copy of a
release over dates, or raw files of a dataset), the subjects whose rows it holds, mapped back through the release's
keyed pseudonyms (the lake holds the key), and what kinds of their information it carries (from the catalog: direct
identifiers, quasi-identifiers at the level the release published them, free text).

The notification list (subject ids) is written only to the file the operator names, outside the lake, readable by
its owner only; nothing else says who is in it: the command prints and audits counts, never an id.
:func:`exposure_flow` runs it as a flow (the ``exposure/exposure`` deployment, for the Prefect UI: the list is
then written on the worker's machine).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow, get_run_logger

from configs.catalog import Catalog, load_catalog
from configs.errors import PolicyError, StorageError
from configs.locations import ObjectPath
from configs.settings import Settings
from flows.audit import AuditLog
from flows.lake_key import check_lake_key
from flows.reports import publish_artifacts, report_audit_head
from flows.runtime import RUN_TIMEOUT_SECONDS
from flows.storage import lake_fs, release_store, storage_for
from flows.storage.fs import dt_of
from transforms.erasure import as_text, identifier_columns
from transforms.keys import derive_key
from transforms.operators import apply_operator


@dataclass
class Leaked:
    """Files of one dataset, raw or as one release published it."""

    dataset: str
    release: str | None
    files: list[Path] = field(default_factory=list)


def what_leaked(catalog: Catalog, path: str | None, release: str | None, start: date | None,
                end: date | None) -> list[Leaked]:
    """What ``--path`` (a file or folder inside the lake: a release, one of its datasets or partitions or files, or
    a dataset's raw files) or ``--release`` (its published files, dates ``start..end``) names. Refuses, in one line,
    a path outside the lake or through a link, an aggregate release (it holds no one's rows), or anything else."""
    fs = lake_fs(catalog)
    if release is not None:
        if release in catalog.aggregates:
            raise PolicyError(f"exposure: {release!r} is an aggregate release: differentially private counts hold "
                              f"no one's rows, so no one is exposed by them")
        if release not in catalog.releases:
            raise PolicyError(f"exposure: release {release!r} is not declared; expected one of "
                              f"{', '.join(catalog.releases) or '(none)'}")
        out = []
        for ds in catalog.releases[release].datasets:
            store = release_store(catalog, release, ds)
            files = [f for d, folder in store.partitions() if (start is None or d >= start) and
                     (end is None or d <= end) for f in store.files(folder)]
            out.append(Leaked(ds, release, files))
        return out
    assert path is not None
    target = Path(path) if Path(path).is_absolute() else catalog.lake.root / path
    target = fs.safe(target)  # inside the lake, through no link
    if not fs.exists(target) and not target.is_dir():
        raise PolicyError(f"exposure: {fs.rel(target)} does not exist in the lake")
    rel = Path(fs.rel(target)).parts
    if rel[:1] == ("releases",) and len(rel) >= 2:
        name = rel[1]
        if name in catalog.aggregates:
            raise PolicyError(f"exposure: {name!r} is an aggregate release: differentially private counts hold "
                              f"no one's rows, so no one is exposed by them")
        if name not in catalog.releases:
            raise PolicyError(f"exposure: {fs.rel(target)} is in no release the catalog declares")
        datasets = [rel[2]] if len(rel) >= 3 else list(catalog.releases[name].datasets)
        if datasets[0] not in catalog.releases[name].datasets:
            raise PolicyError(f"exposure: {fs.rel(target)} is no dataset of release {name!r}")
        out = []
        for ds in datasets:
            store = release_store(catalog, name, ds)
            if len(rel) >= 4 and dt_of(rel[3]) is not None:
                folder = store.target(dt_of(rel[3]))
                files = [target] if len(rel) >= 5 else store.files(folder)
            else:
                files = store.all_files()
            out.append(Leaked(ds, name, [f for f in files if f.name.endswith(".parquet")]))
        return out
    for name in catalog.datasets:
        loc = catalog.dataset_path(name)
        try:
            target.relative_to(loc)
        except ValueError:
            continue
        store = storage_for(catalog, name)
        files = [p for part in store.list_partitions() for p in part.paths
                 if p == target or target in p.parents]
        return [Leaked(name, None, files)]
    raise PolicyError(f"exposure: {fs.rel(target)} is neither a release's nor a dataset's file")


def _all_subjects(catalog: Catalog, dataset: str) -> pa.Array:
    """Every subject id the raw data of ``dataset`` holds (distinct)."""
    ds = catalog.datasets[dataset]
    store = storage_for(catalog, dataset)
    ids = [store.read_columns(p, [ds.subject_key])[0].column(ds.subject_key).combine_chunks().cast(pa.string())
           for part in store.list_partitions() for p in part.paths]
    return pc.unique(pa.concat_arrays(ids)) if ids else pa.array([], pa.string())


def owners(catalog: Catalog) -> dict[str, dict[str, str]]:
    """{identifier label: {value: subject}}: whose each phone number, e-mail... is, from the columns of the
    subjects' own identifiers (``owner: subject``) in every raw dataset (the erasure's ownership rules)."""
    out: dict[str, dict[str, str]] = {}
    for name, ds in catalog.datasets.items():
        own = identifier_columns(ds, "subject")
        if not own or not ds.subject_key:
            continue
        store = storage_for(catalog, name)
        for part in store.list_partitions():
            for p in part.paths:
                t, _ = store.read_columns(p, [ds.subject_key, *own])
                if ds.subject_key not in t.column_names:
                    continue
                who = as_text(t.column(ds.subject_key)).to_pylist()
                for col, label in own.items():
                    if col in t.column_names:
                        for v, w in zip(as_text(t.column(col)).to_pylist(), who):
                            if v and w:
                                out.setdefault(label, {})[v] = w
    return out


def _add(people: dict, who: str, dataset: str, rows: int, named_in: str | None = None) -> None:
    p = people.setdefault(who, {"datasets": set(), "rows": 0, "named_in": set()})
    p["datasets"].add(dataset)
    if named_in:
        p["named_in"].add(named_in)
    else:
        p["rows"] += rows


def exposed(catalog: Catalog, leaked: list[Leaked], settings: Settings) -> tuple[dict[str, dict], dict]:
    """({subject id: {"datasets", "rows", "named_in"}}, counts): the subjects whose rows are in ``leaked``, release
    pseudonyms mapped back with the recipient's key over every subject the raw data still holds (a pseudonym of a
    subject erased since maps to no one: ``unmapped_rows``); and the subjects whose own identifier appears in a
    column of somebody else's (their number in another user's call record: ``named_in`` that column)."""
    people: dict[str, dict] = {}
    counts = {"files": 0, "rows": 0, "unmapped_rows": 0}
    whose = None
    for item in leaked:
        ds = catalog.datasets[item.dataset]
        view = catalog.release_dataset(item.release, item.dataset) if item.release else ds
        key = derive_key(settings.master_key(), catalog.releases[item.release].recipient) if item.release else None
        back: dict[str, str] | None = None
        if item.release is not None and view.columns[ds.subject_key].op.op != "drop":
            raw = _all_subjects(catalog, item.dataset)
            back = dict(zip(apply_operator(view.columns[ds.subject_key].op, raw, key=key).to_pylist(),
                            raw.to_pylist()))
        others = {c: label for c, label in identifier_columns(ds, "other").items() if view.columns[c].op.op != "drop"}
        if others and whose is None:
            whose = owners(catalog)
        for path in item.files:
            t = (release_store(catalog, item.release, item.dataset).read_file(path) if item.release else
                 storage_for(catalog, item.dataset).read_columns(path, [ds.subject_key, *others])[0])
            counts["files"] += 1
            counts["rows"] += t.num_rows
            if ds.subject_key in t.column_names and (item.release is None or back is not None):
                vc = pc.value_counts(pc.drop_null(as_text(t.column(ds.subject_key))))
                for v, n in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()):
                    who = v if back is None else back.get(v)
                    if who is None:
                        counts["unmapped_rows"] += n
                    else:
                        _add(people, who, item.dataset, n)
            for col, label in others.items():
                if col not in t.column_names:
                    continue
                known = (whose or {}).get(label, {})
                if item.release is not None:  # the values as this release wrote them
                    vals = pa.array(sorted(known), pa.string())
                    written = apply_operator(view.columns[col].op, vals, key=key).to_pylist()
                    known = dict(zip(written, (known[v] for v in vals.to_pylist())))
                for v in pc.unique(pc.drop_null(as_text(t.column(col)))).to_pylist():
                    if v in known:
                        _add(people, known[v], item.dataset, 0, named_in=col)
    return people, counts


def information(catalog: Catalog, leaked: list[Leaked]) -> dict[str, dict[str, list[str]]]:
    """Per dataset, the kinds of information the leaked files carry: column names by kind, each with how it was
    written (raw: as recorded; a release: its operator)."""
    out: dict[str, dict[str, list[str]]] = {}
    fs = lake_fs(catalog)
    for item in leaked:
        ds = (catalog.release_dataset(item.release, item.dataset) if item.release
              else catalog.datasets[item.dataset])
        levels: dict = {}
        if item.release is not None:  # the level the release published each quasi-identifier at (global recoding)
            index = catalog.release_path(item.release) / "_meta" / "index.json"
            try:
                levels = json.loads(fs.read_bytes(index))["datasets"][item.dataset].get("levels") or {}
            except (OSError, ValueError, KeyError, StorageError):
                levels = {}
            if not isinstance(levels, dict):
                levels = {}
        kinds: dict[str, list[str]] = {}
        for name, pol in ds.columns.items():
            if item.release is not None and pol.op.op == "drop":
                continue
            how = "as recorded" if item.release is None else levels.get(name) or pol.op.describe()
            kinds.setdefault(pol.kind, []).append(f"{name} ({how})")
        out[item.dataset if item.release is None else f"{item.release}/{item.dataset}"] = kinds
    return out


def check_out_path(catalog: Catalog, out: Path) -> Path:
    """The notification list's path: outside the lake, in an existing folder, not an existing file."""
    out = Path(out)
    real = Path(os.path.realpath(out))
    root = catalog.lake.root
    if not isinstance(root, ObjectPath):  # a local lake: the list must land outside it
        real_root = os.path.realpath(root)
        if str(real) == real_root or str(real).startswith(real_root.rstrip(os.sep) + os.sep):
            raise PolicyError(f"exposure: --out {out} is inside the lake; the list of people goes outside it")
    if not real.parent.is_dir():
        raise PolicyError(f"exposure: --out {out}: its folder does not exist")
    if os.path.lexists(out):
        raise PolicyError(f"exposure: --out {out} exists; name a new file (a list is never overwritten)")
    return out


def write_list(out: Path, people: dict[str, dict], kinds: dict[str, dict[str, list[str]]]) -> str:
    """The notification list as CSV (subject_id, datasets, rows, information), created owner-only and in one
    step; returns its SHA-256."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["subject_id", "datasets", "own_rows", "named_in", "information"])
    for who in sorted(people):
        p = people[who]
        info = "; ".join(f"{k}: {', '.join(cols)}" for ds, per in kinds.items()
                         if ds.split("/")[-1] in p["datasets"] for k, cols in per.items())
        w.writerow([who, ";".join(sorted(p["datasets"])), p["rows"], ";".join(sorted(p["named_in"])), info])
    data = buf.getvalue().encode("utf-8")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, out)  # fails if --out appeared meanwhile: never overwrites
    finally:
        os.unlink(tmp)
    return hashlib.sha256(data).hexdigest()


def run_exposure(catalog: Catalog, settings: Settings, *, path: str | None, release: str | None,
                 start: date | None, end: date | None, out: Path, command: str) -> dict:
    """List whom ``path`` or ``release`` exposes into ``out``; audit that the list was made (by ``command``, with
    counts and the list's digest, no id). Returns counts only."""
    out = check_out_path(catalog, out)
    audit = AuditLog.of(catalog, settings)
    audit.check_writable()
    leaked = what_leaked(catalog, path, release, start, end)
    people, counts = exposed(catalog, leaked, settings)
    kinds = information(catalog, leaked)
    digest = write_list(out, people, kinds)
    what = path if path is not None else f"release {release} {start or '...'}..{end or '...'}"
    audit.append("exposure.listed", command=command, what=what, subjects=len(people), rows=counts["rows"],
                 files=counts["files"], list_sha256=digest)
    named = sum(1 for p in people.values() if p["named_in"] and not p["rows"])
    return {"what": what, "subjects": len(people), "named_only": named, **counts, "information": kinds,
            "list": str(out), "list_sha256": digest}


@flow(name="exposure", timeout_seconds=RUN_TIMEOUT_SECONDS)
def exposure_flow(catalog_path: str, out: str, path: str | None = None, release: str | None = None,
                  start: date | None = None, end: date | None = None, root: str | None = None,
                  settings: Settings | None = None, command: str = "exposure flow") -> dict:
    """Whom ``path`` or ``release`` (dates ``start..end``) exposes: the list into ``out`` (a new file outside the
    lake, on the machine that runs the flow); the run's log and artifact carry counts only."""
    if (path is None) == (release is None):
        raise PolicyError("exposure: expected what leaked, either path or release (not both)")
    catalog = load_catalog(catalog_path, root=root)
    settings = settings or Settings()
    check_lake_key(catalog, settings)
    r = run_exposure(catalog, settings, path=path, release=release, start=start, end=end, out=Path(out),
                     command=command)
    publish_artifacts("exposure", f"# Exposure of {r['what']}\n\n{r['subjects']} subject(s) ({r['named_only']} only "
                                  f"named in others' rows) in {r['rows']} row(s) of {r['files']} file(s); the list "
                                  f"(sha256 {r['list_sha256'][:16]}) is where the operator asked")
    report_audit_head(catalog, settings, True)
    get_run_logger().info("exposure of %s: %d subject(s), %d row(s), %d file(s)", r["what"], r["subjects"],
                          r["rows"], r["files"])
    return r
