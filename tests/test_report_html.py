"""The release report's page (transforms/report_html.py), from records: what an analyst and a privacy officer read
first. The same page in a real browser: tests/test_analysts.py."""

import html
import re

from transforms.report_html import release_page


def _manifest(dt: str, generalisation: dict, out: int, suppressed: int, left: int = 0, leaks=(), linked=0.0,
              k_reached: int = 6) -> dict:
    return {"dataset": "device_events", "dt": dt, "rows": {"in": out + suppressed, "out": out, "suppressed": suppressed},
            "left_out": {"minors": left} if left else {},
            "gate": {"policy": [], "rescan_leaks": list(leaks),
                     "linking": {"max_linked_share": 0.05, "others": [{"linked_share": linked}]},
                     "k_anonymity": {"k": 5, "k_reached": k_reached, "within_budget": True,
                                     "prosecutor_risk_max": 1 / k_reached, "prosecutor_risk_avg": 0.05,
                                     "journalist_risk_max": 1 / k_reached, "marketer_risk": 0.05,
                                     "class_sizes": {"5-9": 10, "50+": out - 10},
                                     "information_loss_by_column": {"device_model": 0.2},
                                     "generalisation": generalisation,
                                     "distinct": {"device_model": {"declared": 40, "released": 9}}}}}


INDEX = {"max_linked_share": 0.05, "datasets": {"device_events": {
    "coverage": {"partitions": 3, "first": "2026-10-01", "last": "2026-10-03", "rows": 300, "rows_read": 330,
                 "suppressed": 30, "left_out": {"minors": 12}},
    "hidden_in_some_partitions": ["device_model"],
    "columns": [{"name": "device_model", "kind": "quasi", "operation": "generalize_device(level=0)",
                 "ladder": ["generalize_device(level=0)", "generalize_device(level=1)", "suppress"]},
                {"name": "user_id", "kind": "direct", "operation": "pseudonymize"}]}}}
SUMMARY = {"release": "analytics", "recipient": "the analytics team", "published": 3, "skipped": 0, "blocked": 0,
           "partitions": []}


def _cells(page: str) -> list[str]:
    return re.findall(r"<title>device_model (\d{4}-\d{2}-\d{2}): ([^<]+)</title>", page)


def test_the_page_shows_rows_over_time_levels_per_day_risks_checks_and_each_quasi_identifier():
    ms = [_manifest("2026-10-01", {"device_model": "generalize_device(level=0)"}, 100, 10, left=4),
          _manifest("2026-10-02", {"device_model": "generalize_device(level=1)"}, 100, 10, left=4),
          _manifest("2026-10-03", {"device_model": "suppress"}, 100, 10, left=4)]
    page = release_page(SUMMARY, ms, INDEX)
    # the levels grid: one cell per day, each saying its level
    assert _cells(page) == [("2026-10-01", "as declared"), ("2026-10-02", "coarser: generalize_device(level=1)"),
                            ("2026-10-03", "hidden")]
    # rows over time: each day's released, suppressed and left-out rows as stacked columns
    assert "2026-10-02: 100 released" in page and "2026-10-02: 10 suppressed" in page and "2026-10-02: 4 left out" in page
    # the risks ARX reports, worst day and mean; every check passes
    assert "prosecutor, highest</td><td>0.1667" in page and "marketer" in page and "journalist" in page
    assert page.count('class="pass"') == 5 and 'class="fail"' not in page
    # each quasi-identifier as declared and as released: shares of rows, distinct values (counts only)
    assert "<td>device_model</td><td>generalize_device(level=0)</td><td>33.3%</td><td>33.3%</td><td>33.3%</td>" \
           "<td>120</td><td>27</td>" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_a_failed_check_is_shown_as_failed():
    ms = [_manifest("2026-10-01", {}, 100, 0, leaks=[{"column": "note"}], linked=0.2, k_reached=3)]
    page = release_page(SUMMARY, ms, INDEX)
    fails = [html.unescape(f) for f in re.findall(r"<tr><td>([^<]+)</td><td class=\"fail\">fail</td></tr>", page)]
    assert fails == ["every group has at least k = 5 rows", "no direct identifier found by the re-scan",
                     "rows linkable to another release's at most 5%"]
