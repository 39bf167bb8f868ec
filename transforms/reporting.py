"""Reports as Markdown: what runs and release partitions say to people. Pure: records in, text out (they hold
counts, names and masked evidence only; ``flows.reports`` writes them and publishes them as Prefect artifacts)."""

from __future__ import annotations


def md_table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "_(none)_\n"
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |\n" for r in rows)


def partition_markdown(m: dict) -> str:
    """A release partition's ``_report.md``, from its manifest."""
    k = m["gate"]["k_anonymity"]
    return (f"# {m['release']} / {m['dataset']} / dt={m['dt']}\n\n"
            f"Recipient: {m['recipient']}. Policy {m['policy_hash'][:12]}, key {m['key_fingerprint']}.\n\n"
            f"Rows in {m['rows']['in']}, out {m['rows']['out']}, suppressed {m['rows']['suppressed']}.\n\n"
            + (f"Left out before de-identification (purpose {m.get('purpose')}): "
               f"{', '.join(f'{n} rows ({w})' for w, n in m['left_out'].items())}.\n\n" if m.get("left_out") else "")
            + 
            f"k required {k['k']}, reached {k['k_reached']} over {', '.join(k['quasi_identifiers']) or '(none)'}; "
            f"{k['classes']} equivalence classes. Generalisation reached: {k.get('generalisation') or 'none'}.\n\n"
            f"Re-identification risk: prosecutor max {k['prosecutor_risk_max']}, avg {k['prosecutor_risk_avg']}; "
            f"journalist max {k['journalist_risk_max']}; marketer {k['marketer_risk']}.\n\n"
            f"Rows by equivalence-class size: {k['class_sizes']}\n\n"
            + (f"l-diversity of sensitive columns: {k['l_diversity']}\n\n" if k.get("l_diversity") else "")
            + ("Fewer rows than k: every row suppressed, released empty.\n\n" if k.get("fewer_rows_than_k") else "")
            + ("No class of k even with every quasi-identifier hidden: every row suppressed, released empty.\n\n"
               if k.get("no_class_reaches_k") else "")
            + f"Re-scan: {len(m['gate']['rescan_leaks'])} leaks. Undeclared columns dropped: "
            f"{m['gate']['undeclared_columns_dropped'] or 'none'}.\n")


def release_markdown(summary: dict) -> str:
    """A release run's report: its figures and every partition that was not skipped, with the reasons."""
    hidden = summary.get("hidden_columns")
    return (f"# Release {summary['release']}\n\n{summary['published']} partitions published, {summary['skipped']} "
            f"unchanged and skipped, {summary['blocked']} blocked; rows in {summary['rows_in']}, out "
            f"{summary['rows_out']}, suppressed {summary['suppressed']}.\n\n"
            + (f"Hidden entirely on some days to reach k: {', '.join(hidden)}.\n\n" if hidden else "")
            + (f"Left out for the release's purpose: {', '.join(f'{n} rows ({w})' for w, n in left.items())}.\n\n"
               if (left := summary.get("left_out")) else "")
            + md_table([{k: v for k, v in p.items() if k != "gate"} | {"reasons": "; ".join(p["reasons"])}
                        for p in summary["partitions"] if p["status"] != "skipped"],
                       ["dataset", "dt", "status", "rows_in", "rows_out", "suppressed", "reasons"]))


def purge_markdown(result: dict) -> str:
    """A purge's report: held datasets, rows without a usable time, and every file action."""
    return (f"# Purge {'executed' if result['executed'] else 'plan'} as of {result['as_of']}\n\n"
            + (f"Held datasets: {result['held_datasets']}\n\n" if result["held_datasets"] else "")
            + (f"Rows with a missing event time (kept or quarantined, never deleted): {result['missing_time']}\n\n"
               if result["missing_time"] else "")
            + md_table(result["actions"], ["target", "partition", "action", "deleted", "held", "quarantined",
                                           "missing_time", "reason"]))


def nightly_summary(result: dict) -> dict:
    """The figures of one nightly run (purge, scan, releases), aggregated: counts only, no value."""
    found: dict[str, int] = {}
    for d in result["scan"]["datasets"]:
        for c in d["columns"]:
            for ent, n in c["entities"].items():
                found[ent] = found.get(ent, 0) + n
    rels = [r for r in result["releases"].values() if r["status"] != "blocked"]  # a blocked release published nothing
    return {
        "rows_scanned": sum(d["sampled_rows"] for d in result["scan"]["datasets"]),
        "pii_found": ", ".join(f"{k}:{v}" for k, v in sorted(found.items(), key=lambda x: -x[1])),
        "drift": len(result["scan"]["drift"]),
        "released_rows": sum(r["rows_out"] for r in rels),
        "suppressed_rows": sum(r["suppressed"] for r in rels),
        "partitions_published": sum(r["published"] for r in rels),
        "partitions_skipped": sum(r["skipped"] for r in rels),
        "releases_blocked": sum(r["status"] == "blocked" for r in (*result["releases"].values(),
                                                                   *(result.get("aggregates") or {}).values())),
        "aggregate_days_published": sum(r.get("published", 0) for r in (result.get("aggregates") or {}).values()),
        "requests_overdue": len((result.get("requests") or {}).get("overdue", [])),
        "epsilon_spent": round(sum(r.get("spent", 0.0) for r in (result.get("aggregates") or {}).values()), 6),
        "purged_rows": result["purge"]["rows"],
        "late_erased_rows": sum(((result.get("erasures") or {}).get("receipt") or {}).get("rows", {}).values()),
        "problems": sum(len(step.get("problems", [])) for step in (result["purge"], result.get("erasures") or {},
                                                                    result["scan"], *result["releases"].values())),
    }


def scan_markdown(result: dict) -> str:
    """The PII inventory: per dataset, every column with findings, its declaration, masked evidence and drift."""
    lines = ["# PII inventory\n"]
    for ds in result["datasets"]:
        lines.append(f"\n## {ds['dataset']} ({ds['sampled_rows']} sampled rows)\n\n")
        if m := ds.get("minors"):
            lines.append(f"Minors (clause 7), in all {m['with_age']} rows with an age: {m['under_18']} under 18, "
                         f"{m['under_14']} under 14" + (f", {m['guardian_consent']} with a guardian's consent"
                                                      if "guardian_consent" in m else "") + ".\n\n")
        rows = [{**c, "entities": ", ".join(f"{k}:{v}" for k, v in c["entities"].items()),
                 "drift": "DRIFT" if c["drift"] else ""} for c in ds["columns"] if c["entities"]]
        lines.append(md_table(rows, ["column", "entities", "hit_rate", "confidence", "declared_kind", "declared_op",
                                     "evidence", "drift"]))
    return "".join(lines)


def erasure_markdown(result: dict) -> str:
    """The run's report: counts per dataset or release, keyed hashes only."""
    rows = (result.get("receipt") or {}).get("rows") if result["executed"] else result["planned"]
    head = (f"# Erasure request {result['request_id']}\n\n{result['subjects']} subject(s), "
            f"{result['members_added']} found through the organisation; "
            + ("already processed: nothing to do" if result["already_processed"]
               else ("executed" if result["executed"] else "plan only")) + ".\n\n")
    cells = (result.get("receipt") or {}).get("cells") if result["executed"] else result.get("planned_cells")
    by_target = [{"target": t, "rows": n, "cells changed in rows kept": ", ".join(
        f"{c} {k}" for c, k in sorted((cells or {}).get(t, {}).items())) or "-"}
        for t, n in {**{t: 0 for t in cells or {}}, **(rows or {})}.items()]
    return head + md_table(by_target, ["target", "rows", "cells changed in rows kept"])


def consent_markdown(result: dict) -> str:
    """An objection's or withdrawal's report: counts per release reached, keyed hashes only."""
    state = ("already recorded: nothing new" if result["already_recorded"]
             else "recorded" if result["executed"] else "plan only")
    return (f"# {result['kind'].capitalize()} {result['request_id']}\n\n{result['subjects']} subject(s), "
            f"{result['not_found']} not found in any dataset; purposes reached: "
            f"{', '.join(result['purposes']) or 'none'}; {state}. Releases that hold them are redone on their next "
            f"run.\n\n"
            + md_table([{"release": r, **v} for r, v in result["releases"].items()],
                       ["release", "partitions", "rows"]))


def sunset_markdown(result: dict) -> str:
    """A sunset's report: what it reaches (plan) or what it did (counts only)."""
    state = "executed" if result["executed"] else "nothing left to do" if result.get("nothing_left") else "plan only"
    rows = [{"target": k, "raw files": v} for k, v in result["raw_files"].items()]
    rows += [{"target": k, "release partitions": v} for k, v in result["release_partitions"].items()]
    archive = result.get("archive")
    return (f"# Sunset {result['sunset_id']} ({result['mode']}) of {', '.join(result['datasets'])}\n\n{state}."
            + (f" Archived anonymised: {archive['published']} partition(s) published, {archive['skipped']} "
               f"unchanged, {archive['rows_out']} rows.\n\n" if archive else "\n\n")
            + md_table(rows, ["target", "raw files", "release partitions"]))
