"""Charts: drawn from any values, at twice the display density."""

from __future__ import annotations

import math
import struct

from monitor.render.chart import chart_png


def _size(png: bytes) -> tuple[int, int]:
    return struct.unpack(">II", png[16:24])


def test_chart_with_nan_and_inf_months_draws_them_as_gaps() -> None:
    """A poisoned month (inf, NaN) does not stop the chart; the fired month may be one."""
    history = [("2025-05", 46_000.0), ("2025-06", math.inf), ("2025-07", math.nan)]
    png = chart_png(history, fired_period="2025-07", window=6, unit="kg")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png != chart_png(history[:1], fired_period="2025-05", window=6, unit="kg")


def test_chart_is_twice_the_layout_density() -> None:
    """6.4 x 2.6 inches at 200 dpi: 1280 x 520 pixels."""
    assert _size(chart_png([("2025-07", 619_000.0)], unit="kg")) == (1280, 520)


def test_share_chart_labels_the_fired_value_in_percent() -> None:
    """A share chart (unit %) renders; its PNG differs from the same numbers in tonnes."""
    history = [("2025-09", 7.3), ("2025-10", 12.0)]
    assert chart_png(history, fired_period="2025-10", unit="%") != chart_png(
        history, fired_period="2025-10", unit="kg"
    )
