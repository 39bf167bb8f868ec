"""``nightly``: purge (executed), scan, then every release of the catalog."""

from __future__ import annotations

from prefect import flow

from configs.catalog import load_catalog
from configs.settings import Settings
from flows.deidentify import deidentify_flow
from flows.purge import purge_flow
from flows.reports import md_table, publish_artifacts
from flows.runtime import RUN_TIMEOUT_SECONDS, configured, task_runner_for
from flows.scan import scan_flow
from transforms.errors import ReleaseBlocked


@flow(name="nightly", timeout_seconds=RUN_TIMEOUT_SECONDS)
def nightly_flow(catalog_path: str, root: str | None = None) -> dict:
    """The scheduled job. A release that fails its gate is reported; the others still publish; the run fails
    at the end if any release was blocked."""
    catalog = load_catalog(catalog_path, root=root)
    settings = Settings()
    purge = configured(purge_flow, settings)(catalog_path, execute_plan=True, root=root)
    scan = configured(scan_flow, settings)(catalog_path, root=root)
    releases, blocked = {}, []
    deidentify = configured(deidentify_flow, settings, task_runner=task_runner_for(settings))
    for name in catalog.releases:
        try:
            releases[name] = deidentify(catalog_path, name, root=root)
        except ReleaseBlocked as e:
            releases[name] = {"release": name, "blocked": str(e), **e.report}
            blocked.append(str(e))
    result = {"purge": purge, "scan": scan, "releases": releases}
    result["summary"] = run_summary(result)
    publish_artifacts("nightly-summary", "# Nightly run\n\n" + md_table([result["summary"]],
                                                                        list(result["summary"])),
                      [result["summary"]])
    if blocked:
        raise ReleaseBlocked(f"nightly: {len(blocked)} release(s) blocked; first: {blocked[0]}", result)
    return result


def run_summary(result: dict) -> dict:
    """The figures of one nightly run, aggregated (no value, only counts)."""
    found: dict[str, int] = {}
    for d in result["scan"]["datasets"]:
        for c in d["columns"]:
            for ent, n in c["entities"].items():
                found[ent] = found.get(ent, 0) + n
    rels = [r for r in result["releases"].values() if "partitions" in r]
    return {
        "rows_scanned": sum(d["sampled_rows"] for d in result["scan"]["datasets"]),
        "pii_found": ", ".join(f"{k}:{v}" for k, v in sorted(found.items(), key=lambda x: -x[1])),
        "drift": len(result["scan"]["drift"]),
        "released_rows": sum(r["rows_out"] for r in rels),
        "suppressed_rows": sum(r["suppressed"] for r in rels),
        "partitions_published": sum(r["published"] for r in rels),
        "partitions_skipped": sum(r["skipped"] for r in rels),
        "releases_blocked": len(result["releases"]) - len(rels),
        "purged_rows": result["purge"]["rows"],
    }
