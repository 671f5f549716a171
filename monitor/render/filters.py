"""Jinja filters for what analysts read: tonnes, dollars, percentages, months, countries.

Every filter accepts ``None`` (a missing month is common in customs data), NaN, infinities and
values that are not numbers, and prints "n/a" rather than raising, so one gap or one bad value
never stops a whole digest from rendering.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Sequence
from typing import Any

from monitor.countries import country_name
from monitor.model import WORLD, normalize_period

MISSING = "n/a"

# Countries whose English name takes "the" in running text ("exports to the United States").
_WITH_ARTICLE = {
    "AE",
    "BS",
    "CD",
    "CF",
    "CG",
    "CK",
    "DO",
    "FK",
    "FO",
    "GB",
    "GM",
    "KM",
    "KY",
    "MH",
    "MV",
    "NL",
    "PH",
    "SB",
    "SC",
    "TC",
    "US",
    "VA",
    "VG",
    "VI",
}

# Commodity codes this project ships rules for; others print as "HS <code>".
COMMODITY_NAMES: dict[str, str] = {
    "85051110": "rare-earth permanent magnets",
    "85051190": "permanent magnets of other metals",
    "850511": "permanent magnets of metal",
    "8505110070": "sintered NdFeB magnets",
    "8505110050": "sintered SmCo magnets",
    "8505111000": "rare-earth permanent magnets",
}

SPARK_BARS = "▁▂▃▄▅▆▇█"
SPARK_GAP = "·"

_CURRENCY = {"USD": "US$", "EUR": "€"}


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _finite(value: Any) -> float | None:
    """``value`` as a finite float; None for None, NaN, inf and anything not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def _decimals(decimals: Any) -> int:
    # A template cannot ask for a billion decimals (a billion characters).
    try:
        return max(0, min(int(decimals), 12))
    except (TypeError, ValueError, OverflowError):
        return 0


def number(value: Any, decimals: int = 0) -> str:
    """``1116.0`` -> ``1,116``; ``None`` -> ``n/a``."""
    v = _finite(value)
    if v is None:
        return MISSING
    return f"{v:,.{_decimals(decimals)}f}"


def _smart(value: float) -> str:
    # Three significant figures for small numbers, whole numbers once they are large.
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def tonnes(value_kg: Any) -> str:
    """Kilograms as news quotes them: ``1116000`` -> ``1,116 t``."""
    v = _finite(value_kg)
    if v is None:
        return MISSING
    return f"{_smart(v / 1000.0)} t"


def money(value: Any, currency: str = "USD") -> str:
    """``17186505`` -> ``US$17.2 million``; smaller amounts in full (``US$342,673``)."""
    v = _finite(value)
    if v is None:
        return MISSING
    symbol = _CURRENCY.get(currency, f"{currency} ")
    sign = "-" if v < 0 else ""
    v = abs(v)
    for size, word in ((1e9, "billion"), (1e6, "million")):
        if v >= size:
            return f"{sign}{symbol}{v / size:,.1f} {word}"
    return f"{sign}{symbol}{v:,.0f}"


def quantity(value: Any, unit: str = "") -> str:
    """A value in its canonical unit as an analyst reads it (kg -> t, USD -> US$ million)."""
    if unit == "kg":
        return tonnes(value)
    if unit in _CURRENCY:
        return money(value, unit)
    v = _finite(value)
    if v is None:
        return MISSING
    return f"{_smart(v)} {unit}".strip()


def pct(value: Any, decimals: int = 1) -> str:
    """A change given in percent: ``75.53`` -> ``+75.5%``."""
    v = _finite(value)
    if v is None:
        return MISSING
    return f"{v:+,.{_decimals(decimals)}f}%"


def pp(value: Any, decimals: int = 1) -> str:
    """A change of a share given in percentage points: ``4.71`` -> ``+4.7 pp``."""
    v = _finite(value)
    if v is None:
        return MISSING
    return f"{v:+,.{_decimals(decimals)}f} pp"


def month_name(period: Any) -> str:
    """``2025-07`` -> ``July 2025``."""
    if _is_missing(period):
        return MISSING
    try:
        text = normalize_period(period)
    except ValueError:
        return str(period)
    return f"{calendar.month_name[int(text[5:7])]} {text[:4]}"


def country(code: Any, world: str = "the world") -> str:
    """ISO alpha-2 -> name (``US`` -> ``the United States``); ``WORLD`` -> ``the world``."""
    if _is_missing(code):
        return MISSING
    text = str(code).strip().upper()
    if text == WORLD:
        return world
    name = country_name(text)
    return f"the {name}" if text in _WITH_ARTICLE else name


def country_title(code: Any, world: str = "All destinations") -> str:
    """Like ``country`` but capitalised for the start of a line (``The United States``)."""
    name = country(code, world=world)
    return name[:1].upper() + name[1:]


def commodity(code: Any) -> str:
    """``85051110`` -> ``rare-earth permanent magnets``; a code not in ``COMMODITY_NAMES``
    -> ``HS <code>``."""
    if _is_missing(code):
        return MISSING
    text = str(code).strip()
    return COMMODITY_NAMES.get(text, f"HS {text}")


def sparkline(values: Iterable[Any]) -> str:
    """Unicode bars scaled between the series' min and max; missing months (and values that are
    not finite numbers) show as ``·``."""
    items: Sequence[Any] = [v[1] if isinstance(v, tuple | list) else v for v in values]
    numbers = [_finite(v) for v in items]
    known = [v for v in numbers if v is not None]
    if not known:
        return SPARK_GAP * len(items)
    low, high = min(known), max(known)
    span = high - low
    out = []
    for v in numbers:
        if v is None:
            out.append(SPARK_GAP)
        elif span == 0 or not math.isfinite(span):
            out.append(SPARK_BARS[len(SPARK_BARS) // 2])
        else:
            idx = round((v - low) / span * (len(SPARK_BARS) - 1))
            out.append(SPARK_BARS[min(max(idx, 0), len(SPARK_BARS) - 1)])
    return "".join(out)


def mrkdwn(value: Any) -> str:
    """Escape the three characters Slack's mrkdwn treats as markup (``& < >``)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


FILTERS = {
    "number": number,
    "tonnes": tonnes,
    "money": money,
    "quantity": quantity,
    "pct": pct,
    "pp": pp,
    "month_name": month_name,
    "country": country,
    "country_title": country_title,
    "commodity": commodity,
    "sparkline": sparkline,
    "mrkdwn": mrkdwn,
}
