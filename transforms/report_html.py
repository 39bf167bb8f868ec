"""A release run's report as a page people would rather look at: one static HTML file, charts drawn as inline SVG
(no script, nothing fetched), from the run's figures and its partitions' manifests. Pure: records in, text out;
counts, names and dates only."""

from __future__ import annotations

from html import escape

_W, _BAR_H = 720, 18
_COLOURS = ("#3b6ea8", "#d9822b", "#5a9e4b", "#a33c3c", "#7d5ba6", "#8a8a8a")


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


def release_page(summary: dict, manifests: list[dict], index: dict | None = None) -> str:
    """The HTML report of one release run: its figures, then charts of class sizes, suppression per day, risk per
    partition and information loss per column, and the partitions that were not skipped."""
    rel = summary["release"]
    bins: dict[str, int] = {}
    loss: dict[str, list[float]] = {}
    for m in manifests:
        k = m["gate"]["k_anonymity"]
        for b, n in k.get("class_sizes", {}).items():
            bins[b] = bins.get(b, 0) + n
        for c, v in k.get("information_loss_by_column", {}).items():
            loss.setdefault(f"{m['dataset']}.{c}", []).append(v)
    by_day = sorted(manifests, key=lambda m: (m["dt"], m["dataset"]))
    charts = [
        bar_chart("Released rows by size of their group (rows that share every quasi-identifier)",
                  [(b, float(n)) for b, n in bins.items()], " rows"),
        bar_chart("Rows suppressed to reach k, per day and dataset",
                  [(f"{m['dt']} {m['dataset']}", float(m["rows"]["suppressed"])) for m in by_day], " rows",
                  colour=_COLOURS[1]),
        bar_chart("Highest re-identification risk (prosecutor: 1 / smallest group), per day and dataset",
                  [(f"{m['dt']} {m['dataset']}", float(m["gate"]["k_anonymity"]["prosecutor_risk_max"]))
                   for m in by_day], "", colour=_COLOURS[3], scale_max=1.0),
        bar_chart("Information lost per quasi-identifier (0: as declared, 1: all hidden), mean over days",
                  [(c, round(sum(v) / len(v), 3)) for c, v in sorted(loss.items())], "", colour=_COLOURS[2],
                  scale_max=1.0),
    ]
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
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
figure {{ margin: 18px 0; }} .warn {{ color: #8a4b00; }}
</style></head><body>
<h1>Release {escape(rel)}</h1>
<p>For {escape(summary['recipient'])}.</p>
{_as_it_stands(index)}
<p>Last run: {summary['published']} partitions published, {summary['skipped']} unchanged and skipped,
{summary['blocked']} blocked.</p>
{hidden}
{''.join(charts)}
<h2>Partitions done in this run</h2>
<table><tr><th>dataset</th><th>dt</th><th>status</th><th>rows in</th><th>rows out</th><th>suppressed</th>
<th>reasons</th></tr>{rows}</table>
</body></html>
"""
