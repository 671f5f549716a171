"""Small PNG charts of a series: the history, the rule's window shaded, the fired point marked.

matplotlib's object API (``Figure`` rendered by its built-in Agg canvas): no display, no global
``pyplot`` state, so charts can be drawn from any thread and never open a window. Drawn at twice
the density they are shown at (``DPI`` for a 6.4-inch chart shown 560-640 px wide), so they stay
sharp on high-density screens. A value that is not a finite number is drawn as a gap.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from monitor.render import filters

PERIOD_VALUE = tuple[str, float | None]
DPI = 200  # 2x the 100 dpi a 6.4-inch chart is laid out at


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _label(value: float | None, unit: str) -> str:
    if unit == "%":
        return filters.MISSING if value is None else f"{value:.1f}%"
    return filters.quantity(value, unit)


def unit_scale(unit: str) -> tuple[float, str]:
    """``(divisor, axis label)`` for a chart in ``unit``: kg in tonnes, USD and EUR in millions,
    ``%`` as a share of the total; any other unit as it is."""
    # Analysts read weights in tonnes and money in millions.
    if unit == "kg":
        return 1000.0, "t"
    if unit in ("USD", "EUR"):
        return 1e6, f"{unit} million"
    if unit == "%":
        return 1.0, "share of total, %"
    return 1.0, unit


def chart_png(
    history: Sequence[PERIOD_VALUE],
    *,
    fired_period: str | None = None,
    window: int | None = None,
    unit: str = "",
    title: str = "",
    width: float = 6.4,
    height: float = 2.6,
    dpi: int = DPI,
) -> bytes:
    """A bar chart of ``history`` (oldest first; ``None`` = a gap, drawn as a hollow tick)."""
    factor, unit_label = unit_scale(unit)
    periods = [p for p, _ in history]
    raw = [_finite(v) for _, v in history]
    values = [None if v is None else v / factor for v in raw]
    fig = Figure(figsize=(width, height), dpi=dpi)
    ax = fig.add_subplot()
    xs = list(range(len(periods)))
    fired_idx = periods.index(fired_period) if fired_period in periods else None
    if window and fired_idx is not None:
        start = max(0, fired_idx - window + 1)
        ax.axvspan(
            start - 0.5,
            fired_idx + 0.5,
            color="#0071e3",
            alpha=0.08,
            lw=0,
            label=f"{window}-month window",
        )
    colors = ["#d70015" if i == fired_idx else "#8e8e93" for i in xs]
    known = [(x, v, c) for x, v, c in zip(xs, values, colors, strict=True) if v is not None]
    if known:
        ax.bar([k[0] for k in known], [k[1] for k in known], color=[k[2] for k in known], width=0.7)
    gaps = [x for x, v in zip(xs, values, strict=True) if v is None]
    if gaps:
        ax.plot(
            gaps,
            [0] * len(gaps),
            linestyle="none",
            marker="x",
            color="#c7c7cc",
            label="not published",
        )
    if fired_idx is not None and values[fired_idx] is not None:
        ax.annotate(
            _label(raw[fired_idx], unit),
            (fired_idx, values[fired_idx]),
            textcoords="offset points",
            xytext=(0, 3),
            ha="center",
            fontsize=8,
            color="#d70015",
        )
    # Few tick labels: text layout is most of a chart's cost, and 6 dates read fine.
    style_axes(ax, periods, unit_label, title, dates=6)
    if window or gaps:
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    # Fixed margins: tight_layout would draw the figure twice (half the cost of a chart).
    fig.subplots_adjust(left=0.1, right=0.98, top=0.88 if title else 0.95, bottom=0.16)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def style_axes(
    ax: Axes, periods: Sequence[str], unit_label: str, title: str, *, dates: int
) -> None:
    """The house style of a monthly bar chart (one bar per period at x = 0, 1, ...): room above
    the bars for a label, about ``dates`` month labels, four value ticks with thousands
    separators, the unit on the y axis, the title on the left, no top or right frame."""
    ax.margins(y=0.12)
    step = max(1, -(-len(periods) // dates))
    ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.set_xticks(list(range(len(periods)))[::step], list(periods[::step]), fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel(unit_label, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
