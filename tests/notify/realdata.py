"""Alerts and notices built from the bundled real dataset (monitor/data/, provenance in
monitor/data/PROVENANCE.md: China's rare-earth magnet exports, GACC 85051110, as published).

The figures are read from the data, never typed in; only the rule ids, severities and summaries
are chosen here, as a rule pack would.
"""

from __future__ import annotations

import pandas as pd

from monitor.model import Alert, month_to_period, normalize, period_to_month
from monitor.notify.base import CHANGE_NEW, Digest, Notice
from monitor.resources import default_dataset

HISTORY_MONTHS = 12


def magnets() -> pd.DataFrame:
    return normalize(pd.read_csv(default_dataset(), dtype=str), source="magnets")


def value_of(frame: pd.DataFrame, partner: str, period: str) -> float:
    row = frame[(frame.partner == partner) & (frame.period == period)]
    return float(row["value"].iloc[0])


def history_of(
    frame: pd.DataFrame, partner: str, period: str, months: int = HISTORY_MONTHS
) -> tuple[tuple[str, float | None], ...]:
    series = frame[frame.partner == partner].set_index("period")["value"]
    end = period_to_month(period)
    out = []
    for m in range(end - months + 1, end + 1):
        p = month_to_period(m)
        out.append((p, float(series[p]) if p in series.index else None))
    return tuple(out)


def alert(
    frame: pd.DataFrame,
    partner: str,
    period: str,
    *,
    rule: str = "magnets-six-month-high",
    severity: str = "warning",
    summary: str = "China's rare-earth magnet exports to {{ partner_name }} hit a "
    "six-month high in {{ period_name }}",
    labels: dict[str, str] | None = None,
    template: str | None = None,
    context: dict | None = None,
) -> Alert:
    return Alert(
        rule_id=rule,
        period=period,
        reporter="CN",
        partner=partner,
        commodity="85051110",
        flow="export",
        measure="net_weight_kg",
        value=value_of(frame, partner, period),
        unit="kg",
        severity=severity,
        summary=summary,
        labels=dict(labels or {"desk": "magnets"}),
        context=dict(context or {"window": 6}),
        source="magnets",
        template=template,
    )


def notice(
    frame: pd.DataFrame,
    partner: str,
    period: str,
    *,
    change: str = CHANGE_NEW,
    previous: dict | None = None,
    **kwargs,
) -> Notice:
    return Notice(
        alert(frame, partner, period, **kwargs),
        change,
        history=history_of(frame, partner, period),
        previous=previous,
    )


def july_notices(frame: pd.DataFrame) -> list[Notice]:
    """What the July 2025 release fired in the news: highs to Germany, the US and the world."""
    return [notice(frame, p, "2025-07") for p in ("DE", "US", "WORLD")]


def digest(
    notices: list[Notice],
    *,
    release_id: int = 7,
    route: str = "default",
    test: bool = False,
    source_url: str | None = "https://stats.customs.gov.cn/",
) -> Digest:
    return Digest(
        source="magnets",
        release_id=release_id,
        release_date="2025-08-20",
        route=route,
        notices=tuple(notices),
        test=test,
        source_url=source_url,
    )
