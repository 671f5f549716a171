"""One module per condition family; ``EVALUATORS`` maps a condition type to its function."""

from __future__ import annotations

from collections.abc import Callable

from monitor.engine.conditions.base import Labels, Result, Totals, View
from monitor.engine.conditions.changes import anomaly, pct_change, streak
from monitor.engine.conditions.levels import period_extreme, threshold
from monitor.engine.conditions.mirror import mirror_gap
from monitor.engine.conditions.shares import share, share_shift
from monitor.engine.rules import Condition

EVALUATORS: dict[str, Callable[[View, Condition], Result]] = {
    "threshold": threshold,
    "period_high": period_extreme,
    "period_low": period_extreme,
    "pct_change": pct_change,
    "share": share,
    "share_shift": share_shift,
    "streak": streak,
    "anomaly": anomaly,
    "mirror_gap": mirror_gap,
}

__all__ = ["EVALUATORS", "Labels", "Result", "Totals", "View"]
