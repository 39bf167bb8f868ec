"""A release's report, the page an analyst and a privacy officer open first: one static HTML file, charts drawn as
inline SVG (no script, nothing fetched), from the published partitions' manifests and the release's index, as ARX's
and Great Expectations' views show a release: per dataset, rows over time (read, released, suppressed, left out),
the level of every quasi-identifier per day, re-identification risks (prosecutor, journalist, marketer, as ARX
reports them), the gate's checks as pass or fail, and each quasi-identifier as declared and as released.

Pure: records in, text out; names, counts, dates and the levels' names only (no value from the data).
"""

from __future__ import annotations

from html import escape

_W, _BAR_H = 720, 18
_COLOURS = ("#3b6ea8", "#d9822b", "#5a9e4b", "#a33c3c", "#7d5ba6", "#8a8a8a")
#: The series of the rows-over-time chart: what each day's rows became.
_SERIES = (("released", "#3b6ea8"), ("suppressed", "#d9822b"), ("left out", "#8a8a8a"))
#: Cell colours of the levels grid: as declared, coarser (darker the coarser), hidden.
_LEVEL_COLOURS = ("#cfe3c6", "#f6dd9a", "#f0b46c", "#e08a4f", "#c9653a")
_HIDDEN = "#b8b8b8"


def bar_chart(title: str, items: list[tuple[str, float]], unit: str = "", width: int = _W,
              colour: str = _COLOURS[0], scale_max: float | None = None) -> str:
    """A horizontal bar chart as SVG: one labelled bar per item."""
    top = scale_max if scale_max is not None else max([v for _, v in items] + [0]) or 1
    label_w, pad = 210, 6
    height = 30 + len(items) * (_BAR_H + pad) + 10
    bars = []
    for i, (label, value) in enumerate(items):
        y = 30 + i * (_BAR_H + pad)
        w = max(0.0, (width - label_w - 90) * (value / top if top else 0))
        shown = f"{value:,.3f}" if isinstance(value, float) and not float(value).is_integer() else f"{value:,.0f}"
        bars.append(f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>'
                    f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{_BAR_H}" fill="{colour}"/>'
                    f'<text x="{label_w + w + 6:.1f}" y="{y + 13}">{shown}{escape(unit)}</text>')
    return (f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
            f'<text x="0" y="16" class="t">{escape(title)}</text>{"".join(bars)}</svg></figure>')


def rows_over_time(title: str, days: list[dict], width: int = _W) -> str:
    """Stacked columns, one per day: rows released, suppressed to reach k and left out for the purpose (together
    the rows the source held for the day), with a legend."""
    top = max([d["released"] + d["suppressed"] + d["left out"] for d in days] + [1])
    left, plot_h, base = 60, 160, 200
    step = max(2.0, (width - left - 10) / max(len(days), 1))
    bar = max(1.0, step * 0.8)
    parts = [f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#999"/>',
             f'<text x="{left - 6}" y="{base - plot_h + 4}" text-anchor="end">{top:,}</text>',
             f'<text x="{left - 6}" y="{base + 4}" text-anchor="end">0</text>']
    for i, d in enumerate(days):
        x, y = left + i * step, float(base)
        for name, colour in _SERIES:
            h = plot_h * d[name] / top
            if h > 0:
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                             f'<title>{escape(d["dt"])}: {d[name]:,} {name}</title></rect>')
    if days:
        parts.append(f'<text x="{left}" y="{base + 16}">{escape(days[0]["dt"])}</text>'
                     f'<text x="{width - 10}" y="{base + 16}" text-anchor="end">{escape(days[-1]["dt"])}</text>')
    legend = "".join(f'<rect x="{left + 130 * i}" y="{base + 26}" width="12" height="12" fill="{c}"/>'
                     f'<text x="{left + 130 * i + 16}" y="{base + 36}">{n}</text>' for i, (n, c) in enumerate(_SERIES))
    return (f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{base + 48}" role="img" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title><text x="0" y="16" class="t">'
            f'{escape(title)}</text>{"".join(parts)}{legend}</svg></figure>')


def levels_grid(title: str, columns: list[dict], days: list[tuple[str, dict]], width: int = _W) -> str:
    """Quasi-identifiers down, days across: each cell the level that day's partition released the column at, as
    declared (green), coarser (amber, darker the coarser: its place on the column's ladder) or hidden (grey)."""
    label_w, cell_h = 130, 20
    cell_w = max(3.0, (width - label_w - 10) / max(len(days), 1))
    parts = []
    for r, col in enumerate(columns):
        y = 28 + r * (cell_h + 4)
        ladder = col.get("ladder") or [col["operation"]]
        parts.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{escape(col["name"])}</text>')
        for i, (dt, generalisation) in enumerate(days):
            level = generalisation.get(col["name"], col["operation"])
            rank = ladder.index(level) if level in ladder else len(ladder) - 1
            colour = _HIDDEN if level == "suppress" else _LEVEL_COLOURS[min(rank, len(_LEVEL_COLOURS) - 1)]
            said = "hidden" if level == "suppress" else "as declared" if rank == 0 else f"coarser: {level}"
            parts.append(f'<rect x="{label_w + i * cell_w:.1f}" y="{y}" width="{max(cell_w - 1, 1):.1f}" '
                         f'height="{cell_h}" fill="{colour}"><title>{escape(col["name"])} {escape(dt)}: '
                         f'{escape(said)}</title></rect>')
    height = 28 + len(columns) * (cell_h + 4) + 24
    legend = "".join(f'<rect x="{label_w + 120 * i}" y="{height - 16}" width="12" height="12" fill="{c}"/>'
                     f'<text x="{label_w + 120 * i + 16}" y="{height - 6}">{n}</text>'
                     for i, (n, c) in enumerate((("as declared", _LEVEL_COLOURS[0]), ("coarser", _LEVEL_COLOURS[2]),
                                                 ("hidden", _HIDDEN))))
    return (f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title><text x="0" y="16" class="t">'
            f'{escape(title)}</text>{"".join(parts)}{legend}</svg></figure>')


def _check(ok: bool) -> str:
    return '<td class="pass">pass</td>' if ok else '<td class="fail">fail</td>'


def risks_and_checks(name: str, manifests: list[dict], max_linked: float) -> str:
    """A dataset's re-identification risks over its published days (the worst day and the mean) and the gate's
    checks, each pass or fail over every day."""
    ks = [m["gate"]["k_anonymity"] for m in manifests]
    if not ks:
        return ""
    risk_rows = []
    for label, key in (("prosecutor, highest", "prosecutor_risk_max"), ("prosecutor, average", "prosecutor_risk_avg"),
                       ("journalist, highest", "journalist_risk_max"), ("marketer", "marketer_risk")):
        vals = [float(k.get(key, 0.0)) for k in ks]
        risk_rows.append(f"<tr><td>{label}</td><td>{max(vals):.4f}</td><td>{sum(vals) / len(vals):.4f}</td></tr>")
    k = ks[0]["k"]
    reached = [x["k_reached"] for x in ks if x.get("k_reached")]
    linked = [o["linked_share"] for m in manifests for o in (m["gate"].get("linking") or {}).get("others", [])]
    checks = [
        (f"every group has at least k = {k} rows", all(r >= k for r in reached)),
        ("suppression within the release's budget", all(x.get("within_budget", True) for x in ks)),
        ("no direct identifier found by the re-scan", not any(m["gate"].get("rescan_leaks") for m in manifests)),
        ("the policy's checks", not any(m["gate"].get("policy") for m in manifests)),
        (f"rows linkable to another release's at most {max_linked:.0%}", all(s <= max_linked for s in linked)),
    ]
    return (f"<h3>{escape(name)}: risk and checks</h3><table><tr><th>re-identification risk</th><th>worst day</th>"
            f"<th>mean over days</th></tr>{''.join(risk_rows)}</table>"
            f"<table><tr><th>gate check ({len(manifests)} days)</th><th></th></tr>"
            + "".join(f"<tr><td>{escape(what)}</td>{_check(ok)}</tr>" for what, ok in checks) + "</table>")


def declared_and_released(name: str, columns: list[dict], manifests: list[dict]) -> str:
    """Each quasi-identifier as declared and as released: the share of released rows at the declared level, at a
    coarser one, hidden; the distinct values the release holds against those the declared level would have held
    (counts only), over every published day."""
    rows = []
    for col in columns:
        c = col["name"]
        declared = coarser = hidden = 0
        for m in manifests:
            level = m["gate"]["k_anonymity"].get("generalisation", {}).get(c, col["operation"])
            n = m["rows"]["out"]
            if level == "suppress":
                hidden += n
            elif level == col["operation"]:
                declared += n
            else:
                coarser += n
        total = declared + coarser + hidden or 1
        dist = [m["gate"]["k_anonymity"].get("distinct", {}).get(c) for m in manifests]
        before = sum(d["declared"] for d in dist if d)
        after = sum(d["released"] for d in dist if d)
        rows.append(f"<tr><td>{escape(c)}</td><td>{escape(col['operation'])}</td><td>{declared / total:.1%}</td>"
                    f"<td>{coarser / total:.1%}</td><td>{hidden / total:.1%}</td><td>{before:,}</td>"
                    f"<td>{after:,}</td></tr>")
    return (f"<h3>{escape(name)}: each quasi-identifier as declared and as released</h3><table><tr>"
            "<th>column</th><th>declared</th><th>rows as declared</th><th>coarser</th><th>hidden</th>"
            "<th>distinct values as declared (sum of days)</th><th>as released</th></tr>" + "".join(rows) + "</table>")


def _as_it_stands(index: dict | None) -> str:
    """The release as published (every partition, not the last run): per dataset its days and rows reconciled."""
    if not index:
        return ""
    rows = []
    for name, d in index["datasets"].items():
        c = d["coverage"]
        left = sum((c.get("left_out") or {}).values())
        rows.append(f"<tr><td>{escape(name)}</td><td>{c['partitions']}</td><td>{escape(str(c['first']))} .. "
                    f"{escape(str(c['last']))}</td><td>{c.get('rows_read', 0) + left:,}</td><td>{left:,}</td>"
                    f"<td>{c.get('suppressed', 0):,}</td><td>{c['rows']:,}</td></tr>")
    return ("<h2>As published</h2><table><tr><th>dataset</th><th>days</th><th>dates</th><th>rows in the source</th>"
            "<th>left out (purpose)</th><th>suppressed (k)</th><th>released</th></tr>" + "".join(rows) + "</table>")


def _dataset_section(name: str, d: dict, manifests: list[dict], max_linked: float) -> str:
    ms = sorted(manifests, key=lambda m: m["dt"])
    days = [{"dt": m["dt"], "released": m["rows"]["out"], "suppressed": m["rows"]["suppressed"],
             "left out": sum((m.get("left_out") or {}).values())} for m in ms]
    quasi = [c for c in d["columns"] if c["kind"] == "quasi"]
    out = [f"<h2>{escape(name)}</h2>", rows_over_time(f"{name}: rows per day", days)]
    if quasi:
        out.append(levels_grid(f"{name}: level of each quasi-identifier per day", quasi,
                               [(m["dt"], m["gate"]["k_anonymity"].get("generalisation", {})) for m in ms]))
    out.append(risks_and_checks(name, ms, max_linked))
    if quasi:
        out.append(declared_and_released(name, quasi, ms))
    return "".join(out)


def release_page(summary: dict, manifests: list[dict], index: dict | None = None) -> str:
    """The HTML report of a release as published (``manifests``: every published partition's; ``index``: the
    release's index), with the last run's figures: first what was published, then per dataset its rows over time,
    its levels per day, its risks and checks and its quasi-identifiers as declared and released, then charts over
    every partition (group sizes, information loss) and the partitions the last run did."""
    rel = summary["release"]
    bins: dict[str, int] = {}
    loss: dict[str, list[float]] = {}
    by_dataset: dict[str, list[dict]] = {}
    for m in manifests:
        k = m["gate"]["k_anonymity"]
        for b, n in k.get("class_sizes", {}).items():
            bins[b] = bins.get(b, 0) + n
        for c, v in k.get("information_loss_by_column", {}).items():
            loss.setdefault(f"{m['dataset']}.{c}", []).append(v)
        by_dataset.setdefault(m["dataset"], []).append(m)
    charts = [
        bar_chart("Released rows by size of their group (rows that share every quasi-identifier)",
                  [(b, float(n)) for b, n in bins.items()], " rows"),
        bar_chart("Information lost per quasi-identifier (0: as declared, 1: all hidden), mean over days",
                  [(c, round(sum(v) / len(v), 3)) for c, v in sorted(loss.items())], "", colour=_COLOURS[2],
                  scale_max=1.0),
    ]
    max_linked = float((index or {}).get("max_linked_share", 0.05))
    sections = "".join(_dataset_section(name, d, by_dataset.get(name, []), max_linked)
                       for name, d in (index or {}).get("datasets", {}).items() if by_dataset.get(name))
    rows = "".join(f"<tr><td>{escape(p['dataset'])}</td><td>{escape(p['dt'])}</td><td>{escape(p['status'])}</td>"
                   f"<td>{p['rows_in']:,}</td><td>{p['rows_out']:,}</td><td>{p['suppressed']:,}</td>"
                   f"<td>{escape('; '.join(p['reasons']))}</td></tr>"
                   for p in summary["partitions"] if p["status"] != "skipped")
    hidden = ""
    if index:
        cols = {n: d["hidden_in_some_partitions"] for n, d in index["datasets"].items()
                if d["hidden_in_some_partitions"]}
        if cols:
            hidden = ("<p class='warn'>Hidden in some days to reach k: "
                      + "; ".join(f"{escape(n)}: {escape(', '.join(c))}" for n, c in cols.items()) + ".</p>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Release {escape(rel)}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 960px; }}
svg text {{ font: 12px system-ui, sans-serif; fill: #222; }} svg text.t {{ font-weight: 600; }}
table {{ border-collapse: collapse; margin: 8px 0; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
figure {{ margin: 18px 0; }} .warn {{ color: #8a4b00; }}
td.pass {{ background: #cfe3c6; }} td.fail {{ background: #f2b8b5; font-weight: 600; }}
</style></head><body>
<h1>Release {escape(rel)}</h1>
<p>For {escape(summary['recipient'])}.</p>
{_as_it_stands(index)}
<p>Last run: {summary['published']} partitions published, {summary['skipped']} unchanged and skipped,
{summary['blocked']} blocked.</p>
{hidden}
{sections}
<h2>Every partition</h2>
{''.join(charts)}
<h2>Partitions done in the last run</h2>
<table><tr><th>dataset</th><th>dt</th><th>status</th><th>rows in</th><th>rows out</th><th>suppressed</th>
<th>reasons</th></tr>{rows}</table>
</body></html>
"""


def aggregate_page(index: dict) -> str:
    """The HTML report of an aggregate release as published: its privacy budget (spent and left), how each
    measure is noised, and its days (cells published, rows read and left out)."""
    b = index["budget"]
    spent = [(d["dt"], float(d["epsilon"])) for d in index["days"]]
    rows_read = [(d["dt"], float(d["rows_read"])) for d in index["days"]]
    measures = "".join(f"<tr><td>{escape(c['name'])}</td><td>{escape(c['meaning'])}</td>"
                       f"<td>{escape(str(c.get('distribution', '-')))}</td><td>{c.get('scale', '-')}</td>"
                       f"<td>{c.get('ci95_half_width', '-')}</td></tr>"
                       for c in index["columns"] if c["role"] == "measure")
    days = "".join(f"<tr><td>{escape(d['dt'])}</td><td>{d['cells']:,}</td><td>{d['rows_read']:,}</td>"
                   f"<td>{escape(', '.join(f'{n:,} ({why})' for why, n in d['left_out'].items()) or '-')}</td>"
                   f"<td>{d['epsilon']:g}</td></tr>" for d in index["days"])
    left_share = b["left_in_window"] / b["epsilon_per_window"] if b["epsilon_per_window"] else 0.0
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Aggregate release {escape(index['release'])}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 960px; }}
svg text {{ font: 12px system-ui, sans-serif; fill: #222; }} svg text.t {{ font-weight: 600; }}
table {{ border-collapse: collapse; margin: 8px 0; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
figure {{ margin: 18px 0; }} .warn {{ color: #8a4b00; }}
</style></head><body>
<h1>Aggregate release {escape(index['release'])}</h1>
<p>For {escape(index['recipient'])} ({escape(index['purpose'])}): {escape(index['description'])}. Differentially private
figures from {escape(index['dataset'])}, {len(index['days'])} day(s); privacy unit: {escape(index['privacy']['unit'])};
epsilon {index['privacy']['epsilon_per_day']:g} a day; {escape(index['privacy']['library'])}.</p>
<h2 id="budget">Privacy budget</h2>
<table><tr><th>recipient</th><th>window</th><th>spent in the window</th><th>left</th><th>spent in all</th></tr>
<tr><td>{escape(b['recipient'])}</td><td>{b['window_days']} days</td><td>{b['spent_in_window']:g} of
{b['epsilon_per_window']:g}</td><td class="{'warn' if left_share < 0.1 else ''}">{b['left_in_window']:g}</td>
<td>{b['spent_total']:g}</td></tr></table>
{bar_chart("Epsilon spent per day", spent, "", colour=_COLOURS[1])}
<h2>Measures</h2>
<table><tr><th>column</th><th>what</th><th>noise</th><th>scale</th><th>95% half-width</th></tr>{measures}</table>
{bar_chart("Rows read per day (after the purpose's exclusions)", rows_read, " rows")}
<h2>Days</h2>
<table><tr><th>dt</th><th>cells</th><th>rows read</th><th>left out</th><th>epsilon</th></tr>{days}</table>
</body></html>
"""
