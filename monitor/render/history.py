"""A series' recent months from the observation table, for charts and sparklines."""

from __future__ import annotations

import pandas as pd

from monitor.model import SERIES_KEY, Alert, month_to_period, period_to_month

HISTORY_MONTHS = 24


def history_for(
    alert: Alert, observations: pd.DataFrame, months: int = HISTORY_MONTHS
) -> tuple[tuple[str, float | None], ...]:
    """The series' last ``months`` months ending at the alert's period (gaps as None)."""
    mask = pd.Series(True, index=observations.index)
    for key in SERIES_KEY:
        mask &= observations[key] == getattr(alert, key)
    values = dict(
        zip(observations.loc[mask, "period"], observations.loc[mask, "value"], strict=True)
    )
    end = period_to_month(alert.period)
    out = []
    for m in range(end - months + 1, end + 1):
        p = month_to_period(m)
        v = values.get(p)
        out.append((p, None if v is None else float(v)))
    return tuple(out)
