"""Storage: the only code that reads, writes, lists or deletes the lake's files.

- :mod:`flows.storage.fs`: the filesystem seam (:class:`LakeFS`): every path confined to the lake, no link
  followed, every write atomic, the lake's lock;
- :mod:`flows.storage.objectstore`: the same seam on an object store (:class:`ObjectLakeFS`, ``s3://``): keys
  checked, whole-object writes, publishing by copies with the manifest last, conditional writes for the lock;
- :mod:`flows.storage.base`: the adapter contract one dataset's files follow, whatever their format;
- :mod:`flows.storage.parquet`, :mod:`flows.storage.text`, :mod:`flows.storage.delta`: the formats;
- :mod:`flows.storage.releases`: a release's published partitions.

:func:`storage_for` is the one wiring place: the adapter for a catalog dataset, chosen from its validated format.
"""

from __future__ import annotations

from configs.catalog import Catalog
from configs.errors import StorageError
from configs.locations import ObjectPath
from flows.storage.base import Partition, Storage, check_region
from flows.storage.delta import DeltaStorage
from flows.storage.fs import LakeFS, Problem, dt_of, file_digest, fsync_dir, is_hidden
from flows.storage.objectstore import ObjectLakeFS, S3Config
from flows.storage.parquet import ParquetStorage
from flows.storage.releases import ReleaseStore, recover_release
from flows.storage.text import TextStorage

__all__ = ["DeltaStorage", "LakeFS", "ObjectLakeFS", "ObjectPath", "ParquetStorage", "Partition", "Problem", "ReleaseStore", "Storage",
           "TextStorage", "check_region", "dt_of", "file_digest", "fsync_dir", "is_hidden", "lake_fs",
           "recover_lake", "recover_release", "release_store", "storage_for", "survey"]


def lake_fs(catalog: Catalog) -> LakeFS:
    """The catalog's lake as a filesystem confined to its root: a local folder, or an object store for an ``s3://``
    root (endpoint and signing region from ``lake.storage`` or the environment; the bucket must be in
    ``lake.region``)."""
    root = catalog.lake.root
    if isinstance(root, ObjectPath):
        return ObjectLakeFS(root, S3Config.from_env(catalog.lake.storage), catalog.lake.region,
                            catalog.lake.allowed_regions)
    return LakeFS(root)


def storage_for(catalog: Catalog, name: str) -> Storage:
    """The adapter for a catalog dataset (the one wiring place)."""
    ds = catalog.datasets[name]
    args = (name, ds, catalog.dataset_path(name), catalog.dataset_region(name), catalog.lake.allowed_regions,
            lake_fs(catalog))
    if ds.format == "parquet":
        return ParquetStorage(*args)
    if ds.format in ("jsonl", "csv"):
        return TextStorage(*args)
    return DeltaStorage(*args)


def release_store(catalog: Catalog, release: str, dataset: str) -> ReleaseStore:
    return ReleaseStore(lake_fs(catalog), release, dataset, catalog.release_path(release, dataset))


def recover_lake(catalog: Catalog) -> None:
    """Finish or undo what an interrupted run left anywhere in the lake (call under the lake's lock): temporaries
    in every dataset's location and in ``state/``, and every release's staging area and swaps."""
    fs = lake_fs(catalog)
    for name in catalog.datasets:
        if not storage_for(catalog, name).location_refused():  # a location that is a link is reported, left alone
            fs.recover(catalog.dataset_path(name))
    for release in [*catalog.releases, *catalog.aggregates]:
        recover_release(fs, catalog.release_path(release))
    fs.recover(catalog.state_path)


def survey(catalog: Catalog, datasets: list[str] | None = None, releases: list[str] | None = None) -> list[Problem]:
    """What a run will refuse or not understand, before it starts: links and unknown names in the locations of
    ``datasets`` and the folders of ``releases`` (all by default). The lake's root must exist and piiflow's own zones
    (``state/``, ``releases/``) may hold no link at all: either raises StorageError at once, before anything is
    touched."""
    fs = lake_fs(catalog)
    fs.check_root()
    for zone in (catalog.state_path, catalog.lake.root / "releases"):
        links: list[Problem] = []
        try:
            fs.walk_files(zone, links)
        except StorageError as e:
            raise StorageError(f"refusing to run: {e}") from e
        if links:
            raise StorageError(f"refusing to run: {links[0]} (piiflow's own folders hold no links)")
    problems: list[Problem] = []
    for name, ds in catalog.datasets.items():
        if datasets is not None and name not in datasets:
            continue
        store = storage_for(catalog, name)
        if ds.format != "delta":
            store.list_partitions()
            problems += store.problems
        elif store.location_refused():
            problems += store.problems
        else:
            links: list[Problem] = []
            fs.walk_files(store.path, links)
            problems += links
    for release, rel in catalog.releases.items():
        if releases is not None and release not in releases:
            continue
        for dataset in rel.datasets:
            store = release_store(catalog, release, dataset)
            store.partitions()
            problems += store.problems
    return problems
