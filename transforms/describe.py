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
