"""Helpers shared by the tests (fixtures live in ``conftest.py``): generated lakes, a short-retention catalog for
purge and erasure tests, and a release's inputs read the way ``deidentify`` reads them."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
DEMO_CATALOG = ROOT / "configs" / "demo.yaml"

SH = ZoneInfo("Asia/Shanghai")
#: The window of the purge and erasure tests' lakes, and the moment they are purged at: with 5-day retention
#: (:func:`short_retention`) the cutoff is 2026-09-07 13:00, mid-day.
START, END = date(2026, 9, 1), date(2026, 9, 10)
AS_OF = datetime(2026, 9, 12, 13, 0, tzinfo=SH)


def make_lake(root: Path, *, rows: int = 1500, start=date(2026, 10, 1), end=date(2026, 10, 6), seed: int = 11):
    """Generate a small demo lake at ``root``; return (catalog path, generate result)."""
    from configs.catalog import load_catalog
    from flows.generate import generate_lake
    from transforms.synth import LakeSpec

    text = DEMO_CATALOG.read_text(encoding="utf-8").replace("root: ../demo-lake", "root: .")
    root.mkdir(parents=True, exist_ok=True)
    cat_path = root / "catalog.yaml"
    cat_path.write_text(text, encoding="utf-8")
    catalog = load_catalog(cat_path)
    res = generate_lake(catalog, LakeSpec(seed=seed, rows=rows, start=start, end=end))
    return cat_path, res


def released_lake(root: Path, release: str = "crm_research") -> Path:
    """A small lake at ``root`` (2026-10-01..03) with ``release`` published (needs Prefect: the
    ``prefect_harness`` fixture); returns its catalog path."""
    from flows.deidentify import deidentify_flow

    cat, _ = make_lake(root, rows=1500, start=date(2026, 10, 1), end=date(2026, 10, 3))
    deidentify_flow(str(cat), release)
    return cat


def short_retention(cat_path: Path, extra: str = ""):
    """Every retention of the catalog at ``cat_path`` cut to 5 days (and ``extra`` YAML appended); the catalog."""
    from configs.catalog import load_catalog

    text = cat_path.read_text(encoding="utf-8")
    for r in ("180d", "365d", "30d              # access logs: 30 days"):
        text = text.replace(f"retention: {r}", "retention: 5d")
    cat_path.write_text(text + extra, encoding="utf-8")
    return load_catalog(cat_path)


def release_inputs(catalog, dataset: str) -> list[tuple[date, pa.Table]]:
    """Every release date's rows of ``dataset`` as a release would read them (quarantined rows and erased subjects
    left out)."""
    from configs.settings import Settings
    from flows.deidentify import load_date, plan_dates

    master = Settings().master_key()
    return [(d, load_date(catalog, dataset, d, paths, master))
            for d, paths in plan_dates(catalog, dataset, None, None).items()]


def pseudonym(recipient: str, value: str) -> str:
    """A release's pseudonym of ``value``, computed here as the design documents it (HMAC-SHA256 under the key
    derived per recipient from the master key in ``PIIFLOW_KEY``), independently of the code under test."""
    import hmac
    import os

    key = hmac.digest(os.environ["PIIFLOW_KEY"].encode(), b"piiflow/recipient/" + recipient.encode(), "sha256")
    return hmac.digest(key, value.encode(), "sha256").hex()[:16]


def meta_of(data_folder) -> Path:
    """Where a published release partition's manifest and report are: ``releases/<r>/_meta/<dataset>/dt=...``."""
    data_folder = Path(data_folder)
    return data_folder.parents[1] / "_meta" / data_folder.parent.name / data_folder.name


def upload_lake(local_root: Path, server, bucket: str, prefix: str, catalog_dir: Path) -> Path:
    """Copy a generated local lake to ``s3://bucket/prefix`` on the test S3 server (every file but its catalog), and
    write a local catalog for it in ``catalog_dir``; returns that catalog's path. The copy is byte for byte."""
    client = server.client()
    for f in sorted(local_root.rglob("*")):
        if f.is_file() and f.name != "catalog.yaml":
            client.upload_file(str(f), bucket, f"{prefix}/{f.relative_to(local_root).as_posix()}")
    text = (local_root / "catalog.yaml").read_text(encoding="utf-8").replace("root: .", f"root: s3://{bucket}/{prefix}")
    catalog_dir.mkdir(parents=True, exist_ok=True)
    cat_path = catalog_dir / "catalog.yaml"
    cat_path.write_text(text, encoding="utf-8")
    return cat_path


def copy_s3_lake(server, src_cat: Path, prefix: str, catalog_dir: Path) -> Path:
    """A copy of the S3 lake of ``src_cat`` under ``prefix`` of the same bucket (server-side copies, byte for byte),
    with a local catalog for it in ``catalog_dir``; returns that catalog's path."""
    from configs.catalog import load_catalog

    root = load_catalog(src_cat).lake.root
    client = server.client()
    old = root.key + "/"
    for key in server.keys(root.bucket, old):
        client.copy_object(Bucket=root.bucket, Key=prefix + "/" + key[len(old):],
                           CopySource={"Bucket": root.bucket, "Key": key})
    text = src_cat.read_text(encoding="utf-8").replace(f"root: {root.uri}", f"root: s3://{root.bucket}/{prefix}")
    catalog_dir.mkdir(parents=True, exist_ok=True)
    (catalog_dir / "catalog.yaml").write_text(text, encoding="utf-8")
    _carry_anchor(src_cat, catalog_dir / "catalog.yaml")
    return catalog_dir / "catalog.yaml"


def _carry_anchor(src_cat: Path, dst_cat: Path) -> None:
    """The audit anchor outside the lake of ``src_cat``, copied to where the lake of ``dst_cat`` (a copy of it)
    looks for its own: anchors are named by the lake's location."""
    import shutil

    from configs.catalog import load_catalog
    from configs.settings import Settings
    from flows.audit import anchor_path

    settings = Settings()
    old = anchor_path(load_catalog(src_cat), settings)
    if old.exists():
        new = anchor_path(load_catalog(dst_cat), settings)
        new.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(old, new)


def lake_files(cat_path: Path, under: str = "", suffix: str = "") -> list[str]:
    """Lake-relative names of the files under ``under`` (either backend, through the storage layer)."""
    from configs.catalog import load_catalog
    from flows.storage import lake_fs

    cat = load_catalog(cat_path)
    fs = lake_fs(cat)
    folder = cat.lake.root / under if under else cat.lake.root
    return sorted(fs.rel(p) for p in fs.walk_files(folder) if p.name.endswith(suffix))


def lake_read(cat_path: Path, rel: str) -> bytes:
    """The bytes of one lake file, by lake-relative name (either backend)."""
    from configs.catalog import load_catalog
    from flows.storage import lake_fs

    cat = load_catalog(cat_path)
    return lake_fs(cat).read_bytes(cat.lake.root / rel)


def copy_lake(src: Path, dst: Path, **copytree_args) -> Path:
    """Copy a local lake (its folder, with ``catalog.yaml`` in it) to ``dst`` as an operator restoring it elsewhere
    would: with its audit anchor outside the lake, which is named by the lake's location, carried to the new one.
    Returns ``dst``."""
    import shutil

    shutil.copytree(src, dst, **copytree_args)
    if (src / "catalog.yaml").exists() and (dst / "catalog.yaml").exists():
        _carry_anchor(src / "catalog.yaml", dst / "catalog.yaml")
    return dst
