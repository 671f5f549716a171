"""The series chart of the console: every month as published now, and what was first published.

Bars are the current figures (as ``monitor.render.chart`` draws an alert's history, with the
same scale: tonnes, US$ million); a month revised since its first publication also shows the
first figure as a hollow marker joined to the bar's top, so "what was first published and what
it became" reads at a glance. Months an alert fired on are drawn in the alert colour.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.figure import Figure

from monitor.model import month_to_period, period_to_month
from monitor.render.chart import style_axes, unit_scale
from monitor.web.queries import MonthHistory

ALERT_COLOUR = "#d70015"
BAR_COLOUR = "#8e8e93"
FIRST_COLOUR = "#0071e3"


def vintage_chart_png(
    months: Sequence[MonthHistory],
    *,
    alert_periods: frozenset[str] = frozenset(),
    unit: str = "",
    title: str = "",
    width: float = 7.2,
    height: float = 3.0,
    dpi: int = 150,
) -> bytes:
    """A PNG of ``months`` (oldest first); months without a figure between them are gaps."""
    factor, unit_label = unit_scale(unit)
    fig = Figure(figsize=(width, height), dpi=dpi)
    ax = fig.add_subplot()
    if months:
        lo, hi = period_to_month(months[0].period), period_to_month(months[-1].period)
        periods = [month_to_period(m) for m in range(lo, hi + 1)]
    else:
        periods = []
    at = {p: i for i, p in enumerate(periods)}
    xs = [at[m.period] for m in months]
    now = [m.current.value / factor for m in months]
    colours = [ALERT_COLOUR if m.period in alert_periods else BAR_COLOUR for m in months]
    if months:
        ax.bar(xs, now, color=colours, width=0.7, label="now")
    revised = [(at[m.period], m.first.value / factor, m.current.value / factor) for m in months]
    revised = [r for r, m in zip(revised, months, strict=True) if m.revised]
    if revised:
        ax.vlines(
            [r[0] for r in revised],
            [min(r[1], r[2]) for r in revised],
            [max(r[1], r[2]) for r in revised],
            color=FIRST_COLOUR,
            lw=1,
        )
        ax.plot(
            [r[0] for r in revised],
            [r[1] for r in revised],
            linestyle="none",
            marker="o",
            markerfacecolor="white",
            markeredgecolor=FIRST_COLOUR,
            label="first published",
        )
    style_axes(ax, periods, unit_label, title, dates=8)
    if revised:
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.subplots_adjust(left=0.1, right=0.98, top=0.88 if title else 0.95, bottom=0.14)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
