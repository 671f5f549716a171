"""A series' recent months from the observation table, for charts and sparklines.

``history_for`` reads the alerted series itself; ``share_history_for`` the partner's share of the
reporter's total, computed as the engine does (monitor/engine/conditions/shares.py: the WORLD row
where published, else the sum over partners), so a share alert is charted in percent, not in
tonnes. ``attach_history`` gives a list of notices both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pandas as pd

from monitor.model import SERIES_KEY, WORLD, Alert, month_to_period, period_to_month
from monitor.notice import Notice

#: months of a series shown with an alert (its chart in messages, reports and the console)
HISTORY_MONTHS = 24
SHARE_CONDITIONS = ("share", "share_shift")
#: what a share total is computed over: one reporter's commodity, flow and measure
GROUP_KEY = ["reporter", "commodity", "flow", "measure"]

History = tuple[tuple[str, float | None], ...]


def _months(alert: Alert, months: int) -> list[str]:
    end = period_to_month(alert.period)
    return [month_to_period(m) for m in range(end - months + 1, end + 1)]


def _series_mask(observations: pd.DataFrame, alert: Alert, keys: Iterable[str]) -> pd.Series:
    mask = pd.Series(True, index=observations.index)
    for key in keys:
        mask &= observations[key] == getattr(alert, key)
    return mask


def history_for(alert: Alert, observations: pd.DataFrame, months: int = HISTORY_MONTHS) -> History:
    """The series' last ``months`` months ending at the alert's period (gaps as None)."""
    rows = observations[_series_mask(observations, alert, SERIES_KEY)]
    values = dict(zip(rows["period"], rows["value"], strict=True))
    out = []
    for p in _months(alert, months):
        v = values.get(p)
        out.append((p, None if v is None or not np.isfinite(v) else float(v)))
    return tuple(out)


def share_history_for(
    alert: Alert, observations: pd.DataFrame, months: int = HISTORY_MONTHS
) -> History:
    """The partner's share (percent) of the reporter's total over the same months."""
    wanted = _months(alert, months)
    group = observations[
        _series_mask(observations, alert, GROUP_KEY) & observations["period"].isin(wanted)
    ]
    world = group[group["partner"] == WORLD].groupby("period")["value"].sum(min_count=1)
    partners = group[group["partner"] != WORLD].groupby("period")["value"].sum(min_count=1)
    own = group[group["partner"] == alert.partner].set_index("period")["value"]
    out: list[tuple[str, float | None]] = []
    for p in wanted:
        total = world.get(p)
        if total is None or pd.isna(total):
            total = partners.get(p)
        value = own.get(p)
        if value is None or total is None or pd.isna(value) or pd.isna(total) or total <= 0:
            out.append((p, None))
        else:
            out.append((p, float(value) / float(total) * 100.0))
    return tuple(out)


def attach_history(
    notices: Iterable[Notice], observations: pd.DataFrame, months: int = HISTORY_MONTHS
) -> list[Notice]:
    """Each notice with its series' history (and its share history for share alerts)."""
    out = []
    for n in notices:
        history = history_for(n.alert, observations, months)
        shares: History = ()
        if n.alert.context.get("condition") in SHARE_CONDITIONS:
            shares = share_history_for(n.alert, observations, months)
        out.append(replace(n, history=history, share_history=shares))
    return out
