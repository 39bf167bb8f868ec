"""The register of the requests people make about their data (privacy policy, section 十: "we reply within thirty
days of verifying your identity"): erasures, objections, withdrawals. Pure: the register's lines in, each request's
state, due date and days left out.

A line is one thing that happened to a request: ``planned`` (a plan was printed), ``started`` (an execution began),
``executed``, or ``partly done`` (an execution ended with problems; ``why`` says which). A request's state is the
furthest it got (an execution that was ``started`` and never ended reads ``partly done``: interrupted); it is
received on the earliest date any of its lines gives.
"""

from __future__ import annotations

from datetime import date, timedelta

#: Days the policy gives to answer a request, from the date the requester's identity was verified.
ANSWER_DAYS = 30
_RANK = {"planned": 0, "started": 1, "partly done": 2, "executed": 3}
STATES = tuple(_RANK)


def fold(lines: list[dict], today: date) -> list[dict]:
    """Each request (by ``request_id``) as it stands on ``today``: kind, received, state, why, due, days left,
    overdue (not executed and past due). Oldest received first."""
    out: dict[str, dict] = {}
    for line in lines:
        r = out.setdefault(line["request_id"], {"request_id": line["request_id"], "kind": line["kind"],
                                                "received": line["received"], "state": line["state"],
                                                "why": line.get("why", ""), "subjects": line.get("subjects"),
                                                "last_event": line["at"]})
        r["received"] = min(r["received"], line["received"])
        r["last_event"] = max(r["last_event"], line["at"])
        if _RANK[line["state"]] >= _RANK[r["state"]]:
            r["state"], r["why"] = line["state"], line.get("why", "")
    for r in out.values():
        if r["state"] == "started":
            r["state"], r["why"] = "partly done", "interrupted: its execution never ended; run it again"
        due = date.fromisoformat(r["received"]) + timedelta(days=ANSWER_DAYS)
        r["due"] = due.isoformat()
        r["days_left"] = (due - today).days
        r["overdue"] = r["state"] != "executed" and r["days_left"] < 0
    return sorted(out.values(), key=lambda r: (r["received"], r["request_id"]))
