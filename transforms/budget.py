"""Privacy-budget arithmetic over the ledger's spending (epsilon by day): pure, and light enough for commands that
only list releases. The spending itself is what OpenDP accounted for each published day
(:mod:`transforms.aggregates`); here it is only added up over windows of days."""

from __future__ import annotations


def worst_window(spent: dict[int, float], days: list[int], window_days: int) -> tuple[float, int]:
    """The largest total of ``spent`` (epsilon by day, as proleptic ordinals) over ``window_days`` consecutive days
    that include one of ``days``, and the last day of that window (0 when nothing is spent)."""
    worst, at = 0.0, 0
    for d in sorted(set(days)):
        for end in range(d, d + window_days):
            total = sum(v for k, v in spent.items() if end - window_days < k <= end)
            if total > worst:
                worst, at = total, end
    return worst, at


def left_in_window(spent: dict[int, float], today: int, window_days: int, per_window: float) -> float:
    """Epsilon that may still be spent in the window of ``window_days`` ending ``today``."""
    return per_window - sum(v for k, v in spent.items() if today - window_days < k <= today)
