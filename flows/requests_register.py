"""The requests register, ``state/requests/register.jsonl``: a line whenever an erasure, objection or withdrawal is
planned, started, executed or left partly done, with the date the request was received (keyed request ids and
counts only, never a subject id). :mod:`transforms.request_states` reads it; ``piiflow requests`` lists it."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

from configs.catalog import Catalog
from configs.errors import PiiflowError
from flows.storage import lake_fs
from transforms.request_states import fold


class RequestsOverdue(PiiflowError):
    """A request is past the policy's 30 days (the ``requests`` flow fails with it, for a monitor to page)."""


def register_path(catalog: Catalog) -> Path:
    return catalog.state_path / "requests" / "register.jsonl"


def record(catalog: Catalog, request_id: str, kind: str, received: date, state: str, *, subjects: int | None = None,
           why: str = "") -> None:
    """Append one event of a request (fsynced)."""
    line = {"request_id": request_id, "kind": kind, "received": received.isoformat(), "state": state,
            "subjects": subjects, "why": why, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    lake_fs(catalog).append_line(register_path(catalog), json.dumps(line, ensure_ascii=False) + "\n")


def requests(catalog: Catalog, today: date) -> list[dict]:
    """Every request as it stands on ``today`` (see :func:`transforms.request_states.fold`)."""
    return fold(lake_fs(catalog).records(register_path(catalog)), today)

