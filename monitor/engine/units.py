"""Quantities in rules: ``500 t``, ``2 million USD``, ``1.5 kt``, ``50%`` or a plain number.

Rules compare against observations stored in base units (kg, USD, EUR; see monitor.model), so
every quantity is converted once at load time; a unit that does not fit the rule's measure is a
validation error rather than a silent mismatch of a thousand.
"""

from __future__ import annotations

import re

from monitor.model import MEASURE_UNITS

# unit spelling -> (base unit, factor)
UNITS: dict[str, tuple[str, float]] = {
    "g": ("kg", 0.001),
    "kg": ("kg", 1.0),
    "t": ("kg", 1000.0),
    "tonne": ("kg", 1000.0),
    "tonnes": ("kg", 1000.0),
    "kt": ("kg", 1e6),
    "mt": ("kg", 1e9),
    "usd": ("USD", 1.0),
    "$": ("USD", 1.0),
    "us$": ("USD", 1.0),
    "eur": ("EUR", 1.0),
    "€": ("EUR", 1.0),
}
MULTIPLIERS = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "m": 1e6,
    "mn": 1e6,
    "billion": 1e9,
    "bn": 1e9,
}

_QUANTITY_RE = re.compile(
    r"^\s*(?P<pre>\$|€|us\$)?\s*(?P<num>[-+]?(\d[\d_,]*)(\.\d+)?([eE][-+]?\d+)?)\s*"
    r"(?P<mult>thousand|million|billion|mn|bn|k|m)?\s*(?P<unit>[a-z$€]+)?\s*$",
    re.IGNORECASE,
)


class UnitError(ValueError):
    """A quantity that cannot be read, or whose unit does not fit the measure."""


def parse_quantity(raw: object, measure: str | None) -> float:
    """Convert a rule quantity to the measure's base unit.

    ``measure`` is the single measure the rule selects (None when it selects several or all);
    a unit is only allowed when the measure, and therefore the base unit, is known.
    """
    if isinstance(raw, bool):
        raise UnitError(f"expected a number, got {raw!r}")
    if isinstance(raw, int | float):
        return float(raw)
    if not isinstance(raw, str):
        raise UnitError(f"expected a number or a quantity like '500 t', got {raw!r}")
    m = _QUANTITY_RE.match(raw)
    if not m:
        raise UnitError(f"cannot read quantity {raw!r} (expected e.g. '500 t', '2 million USD')")
    number = float(m.group("num").replace(",", "").replace("_", ""))
    mult = m.group("mult")
    unit = (m.group("unit") or m.group("pre") or "").lower()
    # "2 m" is ambiguous (metre? million?): "m" / "mt" are only read as a multiplier/megatonne
    # when they are followed / used as a unit respectively, as the regex splits them.
    if mult and not unit and mult.lower() == "m":
        raise UnitError(f"ambiguous quantity {raw!r}: write 'million' explicitly")
    factor = MULTIPLIERS[mult.lower()] if mult else 1.0
    if not unit:
        return number * factor
    if unit not in UNITS:
        raise UnitError(f"unknown unit {unit!r} in {raw!r} (known: kg, t, kt, Mt, USD, EUR)")
    base, unit_factor = UNITS[unit]
    expected = MEASURE_UNITS.get(measure or "")
    if expected is None:
        raise UnitError(
            f"{raw!r} carries a unit but the rule does not select a single measure "
            f"with a known unit ({', '.join(sorted(MEASURE_UNITS))}); "
            f"select one measure or give the value in base units"
        )
    if base != expected:
        raise UnitError(
            f"unit {unit!r} ({base}) does not fit measure {measure!r} (stored in {expected})"
        )
    return number * factor * unit_factor


def parse_percent(raw: object) -> float:
    """``50``, ``-30``, ``"50%"`` -> 50.0 (percent or percentage points)."""
    if isinstance(raw, bool):
        raise UnitError(f"expected a number of percent, got {raw!r}")
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        text = raw.strip().removesuffix("%").removesuffix("pp").strip()
        try:
            return float(text)
        except ValueError:
            pass
    raise UnitError(f"expected a number of percent like 50 or '50%', got {raw!r}")
