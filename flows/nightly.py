"""``nightly``: purge (executed), scan, then every release of the catalog."""

from __future__ import annotations

from prefect import flow

from configs.catalog import load_catalog
from configs.settings import Settings
from flows.deidentify import deidentify_flow
from flows.purge import purge_flow
from flows.runtime import task_runner_for
from flows.scan import scan_flow
from transforms.errors import ReleaseBlocked


@flow(name="nightly")
def nightly_flow(catalog_path: str, root: str | None = None) -> dict:
    """The scheduled job. A release that fails its gate is reported; the others still publish; the run fails
    at the end if any release was blocked."""
    catalog = load_catalog(catalog_path, root=root)
    purge = purge_flow(catalog_path, execute_plan=True, root=root)
    scan = scan_flow(catalog_path, root=root)
    releases, blocked = {}, []
    deidentify = deidentify_flow.with_options(task_runner=task_runner_for(Settings()))
    for name in catalog.releases:
        try:
            releases[name] = deidentify(catalog_path, name, root=root)
        except ReleaseBlocked as e:
            releases[name] = {"release": name, "blocked": str(e), **e.report}
            blocked.append(str(e))
    result = {"purge": purge, "scan": scan, "releases": releases}
    if blocked:
        raise ReleaseBlocked(f"nightly: {len(blocked)} release(s) blocked; first: {blocked[0]}", result)
    return result
