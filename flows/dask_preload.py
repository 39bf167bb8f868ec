"""Dask worker preload: ``dask worker --preload flows.dask_preload`` (or ``LocalCluster(preload=[...])``).

A worker imports piiflow and builds its detection engine when it starts, not inside the first release task it
runs, so a backfill's tasks all do de-identification work from the start and a long-lived cluster pays for the
engine once per worker.
"""

from __future__ import annotations


def dask_setup(worker=None) -> None:  # noqa: ARG001  (Dask's preload hook signature)
    from configs.settings import Settings
    from flows.runtime import analyzer_for, configure_prefect_env

    configure_prefect_env()
    import flows.deidentify  # noqa: F401  (the release task and its imports)

    analyzer_for(Settings(), release=True)  # the engine release tasks use
