"""A release that describes itself: its machine-readable index and the data dictionary an analyst reads.

Pure: the catalog's declarations, the published partitions' manifests and the data files' schemas come in; the
index (``_meta/index.json``) and the dictionary (``_meta/dictionary.md``) go out. Nothing in them is an internal
path or a value: names, types, meanings, counts and dates.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from configs.catalog import Catalog, Dataset
from transforms.reporting import md_table
from transforms.retention import cutoff, partition_status


def column_entries(ds: Dataset, schema: dict[str, str], levels: dict[str, Counter], tz: str) -> list[dict]:
    """Each released column: its type in the data files, what it is (the catalog's description), what was done to
    it (the operation's meaning), and how far it was generalised (levels reached, by partitions)."""
    out = []
    for name, arrow_type in schema.items():
        pol = ds.columns.get(name)
        if pol is None:
            continue
        out.append({
            "name": name, "type": arrow_type, "kind": pol.kind, "description": pol.description or "",
            "operation": pol.op.describe(), "meaning": pol.op.meaning(tz=tz),
            "generalisation": dict(levels.get(name, Counter()).most_common()),
            **({"ladder": [op.describe() for op in pol.op.ladder()]} if pol.kind == "quasi" else {}),
        })
    return out


def partition_entries(catalog: Catalog, release: str, dataset: str, manifests: list[dict], as_of: datetime
                      ) -> list[dict]:
    """Each published partition: rows, suppression, whether it holds the whole day, when it expires."""
    ds, rel = catalog.datasets[dataset], catalog.releases[release]
    tz = catalog.lake.timezone
    out = []
    for m in sorted(manifests, key=lambda m: m["dt"]):
        day = date.fromisoformat(m["dt"])
        k = m["gate"]["k_anonymity"]
        why = []
        if ds.retention is not None and partition_status(day, cutoff(as_of, ds.retention), tz) == "mixed":
            why.append(f"the day is cut short by {dataset}'s {ds.retention.days}-day retention")
        if k.get("fewer_rows_than_k") or k.get("no_class_reaches_k"):
            why.append(f"released empty: its rows form no group of k={k['k']}")
        out.append({"dt": m["dt"], "rows_in": m["rows"]["in"], "rows": m["rows"]["out"],
                    "suppressed": m["rows"]["suppressed"], "left_out": dict(m.get("left_out") or {}),
                    "complete": not why, "why_partial": "; ".join(why),
                    "expires": (day + rel.retention).isoformat() if rel.retention else None,
                    "information_loss": k.get("information_loss"), "published_at": m["created_at"]})
    return out


def release_index(catalog: Catalog, release: str, manifests: dict[str, list[dict]],
                  schemas: dict[str, dict[str, str]], as_of: datetime) -> dict:
    """The release's index: for every dataset its description, how to read it, its columns, its coverage and its
    partitions (see :func:`column_entries`, :func:`partition_entries`)."""
    rel = catalog.releases[release]
    tz = catalog.lake.timezone
    datasets = {}
    for name in rel.datasets:
        ds = catalog.release_dataset(release, name)
        ms = manifests.get(name, [])
        levels: dict[str, Counter] = {}
        for m in ms:
            for col, g in m["gate"]["k_anonymity"].get("generalisation", {}).items():
                levels.setdefault(col, Counter())[g] += 1
        parts = partition_entries(catalog, release, name, ms, as_of)
        top = [c for c, n in levels.items() if any(g == "suppress" for g in n)]
        left_out: Counter = Counter()
        for p in parts:
            left_out.update(p["left_out"])
        datasets[name] = {
            "description": ds.description or "",
            "path": f"{name}/",
            "columns": column_entries(ds, schemas.get(name, {}), levels, tz),
            "coverage": {"first": parts[0]["dt"] if parts else None, "last": parts[-1]["dt"] if parts else None,
                         "partitions": len(parts), "rows": sum(p["rows"] for p in parts),
                         # rows reconciled: read (after left_out) = released + suppressed
                         "rows_read": sum(p["rows_in"] for p in parts),
                         "suppressed": sum(p["suppressed"] for p in parts), "left_out": dict(sorted(left_out.items())),
                         "partial": sum(not p["complete"] for p in parts)},
            "hidden_in_some_partitions": top,
            # the release's one level per quasi-identifier (global recoding); "mixed" while partitions published
            # before the last change of levels are still at others
            "levels": {c: next(iter(n)) if len(n) == 1 else "mixed" for c, n in levels.items()},
            "partitions": parts,
        }
    return {"release": release, "recipient": rel.recipient, "purpose": rel.purpose, "description": rel.description,
            "k_anonymity": rel.k_anonymity, "max_linked_share": rel.max_linked_share,
            "max_suppression": rel.max_suppression, "retention_days": rel.retention.days if rel.retention else None,
            "time_zone": tz, "generated_at": as_of.isoformat(timespec="seconds"), "policy_hash": catalog.policy_hash,
            "datasets": datasets}


def dictionary_markdown(index: dict) -> str:
    """The data dictionary an analyst reads first: what each dataset and column is, how to read it."""
    lines = [f"# Release {index['release']}: data dictionary\n\n",
             f"For {index['recipient']}, for {index['purpose']}"
             + (f" ({index['description']})" if index.get("description") else "") + ". "
             f"Every group of rows that shares its quasi-identifiers has at least {index['k_anonymity']} rows; "
             f"pseudonyms join within this release only. Times are local {index['time_zone']} wall-clock time, "
             f"stored without a time zone, so `ts::DATE = dt`. Generated {index['generated_at']}.\n"]
    for name, d in index["datasets"].items():
        c = d["coverage"]
        lines.append(f"\n## {name}\n\n{d['description']}\n\n"
                     f"{c['partitions']} days ({c['first']} .. {c['last']}), {c['rows']:,} rows"
                     + (f"; {c['partial']} day(s) partial (see `index.json`)" if c["partial"] else "") + ".\n\n"
                     + _reconciled(c) +
                     f"```sql\nSELECT * FROM read_parquet('{name}/*/*.parquet', hive_partitioning = true);\n```\n\n")
        lines.append(md_table([{**col, "generalisation": ", ".join(f"{g} ({n})" for g, n in col["generalisation"]
                                                                   .items()) or "as declared"}
                               for col in d["columns"]],
                              ["name", "type", "kind", "description", "meaning", "generalisation"]))
        if d["hidden_in_some_partitions"]:
            lines.append(f"\nHidden in some days to reach k (every value null on those days; see each day's level "
                         f"in `index.json`): {', '.join(d['hidden_in_some_partitions'])}.\n")
    return "".join(lines)


def _reconciled(c: dict) -> str:
    """Where the released rows come from, so that counts against the source add up."""
    if "rows_read" not in c:
        return ""
    left = c.get("left_out") or {}
    said = (f"; before that, {sum(left.values()):,} row(s) were left out for the release's purpose "
            f"({', '.join(f'{w}: {n:,}' for w, n in left.items())})" if left else "")
    return (f"Rows: {c['rows_read']:,} read, {c['suppressed']:,} suppressed to reach k, {c['rows']:,} released{said}. "
            f"Per day in `index.json` (`partitions`).\n\n")


# --------------------------------------------------------------------------------------------------------------
# Aggregate releases (differential privacy)
# --------------------------------------------------------------------------------------------------------------


def aggregate_index(catalog: Catalog, release: str, manifests: list[dict], budget: dict, as_of: datetime) -> dict:
    """An aggregate release's index: what each column is, how each measure was noised, its days, and the
    recipient's privacy budget as it stands."""
    agg = catalog.aggregates[release]
    tz = catalog.lake.timezone
    ds = catalog.datasets[agg.dataset]
    last = max(manifests, key=lambda m: m["dt"]) if manifests else None
    noise = {n["measure"]: n for n in (last or {}).get("noise", [])}
    columns = [{"name": name, "role": "dimension", "source": d.column,
                "description": ds.columns[d.column].description or "", "operation": d.op.describe(),
                "meaning": d.op.meaning(tz=tz),
                "public_values": d.values is not None or d.public} for name, d in agg.dimensions.items()]
    for name, m in agg.measures.items():
        entry = {"name": name, "role": "measure", "of": m.of, "column": m.column, "clip": m.clip,
                 "meaning": _measure_meaning(agg, name)}
        if name in noise:
            entry.update({"distribution": noise[name]["distribution"], "scale": noise[name]["scale"],
                          "ci95_half_width": noise[name]["ci95"], "threshold": noise[name].get("threshold")})
        columns.append(entry)
    return {
        "release": release, "kind": "aggregate", "recipient": agg.recipient, "purpose": agg.purpose,
        "description": agg.description, "dataset": agg.dataset, "as_of": as_of.isoformat(timespec="seconds"),
        "read_with": f"releases/{release}/{agg.dataset}/dt=*/*.parquet (hive partitioning: dt)",
        "privacy": {"unit": f"one subject ({ds.subject_key}) and all their rows of a day",
                    "epsilon_per_day": agg.epsilon, "delta_per_day": agg.delta,
                    "max_rows_per_day": agg.max_rows_per_day, "max_cells_per_day": agg.max_cells_per_day,
                    "library": f"OpenDP {(last or {}).get('opendp', '')}".strip()},
        "budget": budget, "columns": columns,
        "days": [{"dt": m["dt"], "cells": m["cells"], "rows_read": m["rows_read"], "left_out": m["left_out"],
                  "epsilon": m["epsilon"], "published_at": m["created_at"]}
                 for m in sorted(manifests, key=lambda m: m["dt"])],
    }


def _measure_meaning(agg, name: str) -> str:
    m = agg.measures[name]
    per = (f"each subject counted once per cell, in at most {agg.max_cells_per_day} cell(s) a day"
           if m.of == "users" else f"at most {agg.max_rows_per_day} rows per subject and cell, in at most "
                                   f"{agg.max_cells_per_day} cell(s) a day")
    if m.of == "users":
        return f"distinct subjects in the cell that day, noised ({per}); never negative (clamped at zero)"
    if m.of == "rows":
        return f"rows in the cell that day, noised ({per}); never negative (clamped at zero)"
    if m.of == "sum":
        return (f"sum of {m.column} over the cell's rows, each value clipped to [{m.clip[0]:g}, {m.clip[1]:g}] "
                f"first, noised ({per}); may be negative when the true sum is small")
    total, rows = agg.mean_parts(name)
    return (f"mean of {m.column}: the noisy {total} divided by the noisy {rows} (no budget of its own; unstable "
            f"where {rows} is small)")


def aggregate_dictionary(catalog: Catalog, release: str, index: dict) -> str:
    """The analyst's page of an aggregate release: how to read its noisy figures and intervals, and the budget."""
    agg = catalog.aggregates[release]
    b = index["budget"]
    dims = [c for c in index["columns"] if c["role"] == "dimension"]
    measures = [c for c in index["columns"] if c["role"] == "measure"]
    lines = [f"# {release}: differentially private aggregates", "",
             f"Recipient: {agg.recipient}. Purpose: {agg.purpose}. {agg.description}".rstrip(), "",
             f"Read `{index['read_with']}`: one row per cell (a combination of the dimensions) and day.", "",
             "Every figure is noised with OpenDP so that no one's presence can be told from it: the privacy unit is "
             f"{index['privacy']['unit']}, at epsilon {agg.epsilon:g} a day"
             + (f" and delta {agg.delta:g}" if agg.delta else "") + ". Each measure `m` comes with `m_low` and "
             "`m_high`, its 95% interval (the noise alone; the truncation below can only lower a count). Counts are "
             "clamped at zero, so a count is never negative and small counts run a little high; sums are not "
             "clamped. Add cells up freely: noise is independent from cell to cell and averages out.", "",
             f"Bounds: a subject counts in at most {agg.max_cells_per_day} cell(s) a day and with at most "
             f"{agg.max_rows_per_day} row(s) per cell; rows past them are not counted. Erased, objecting and "
             "withdrawn subjects (and minors, for purposes that restrict them) are left out before counting; a "
             "published day is never recomputed.", ""]
    lines += ["## Dimensions", "", md_table([{"column": c["name"], "from": c["source"], "what": c["meaning"],
                                              "every value published": "yes (zeros included)" if c["public_values"]
                                              else "only past a threshold"} for c in dims],
                                            ["column", "from", "what", "every value published"]), ""]
    lines += ["## Measures", "", md_table([{"column": c["name"], "what": c["meaning"],
                                            "noise": f"{c.get('distribution', '-')}, scale {c.get('scale', '-')}",
                                            "95% half-width": c.get("ci95_half_width", "-")} for c in measures],
                                          ["column", "what", "noise", "95% half-width"]), ""]
    lines += ["## Privacy budget", "",
              f"Recipient {b['recipient']} has spent epsilon {b['spent_in_window']:g} of "
              f"{b['epsilon_per_window']:g} in the last {b['window_days']} days ({b['left_in_window']:g} left); "
              f"{b['spent_total']:g} in all. Days: {len(index['days'])}.", ""]
    return "\n".join(lines)
