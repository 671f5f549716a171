"""Quantities in rules convert to the measure's base unit, or fail clearly."""

from __future__ import annotations

import pytest

from monitor.engine.units import UnitError, parse_percent, parse_quantity


@pytest.mark.parametrize(
    ("raw", "measure", "expected"),
    [
        ("500 t", "net_weight_kg", 500_000),
        ("1.5 kt", "net_weight_kg", 1_500_000),
        ("2 Mt", "net_weight_kg", 2e9),
        ("750 kg", "net_weight_kg", 750),
        ("2 million USD", "value_usd", 2_000_000),
        ("$3.5 bn", "value_usd", 3.5e9),
        ("1,200 EUR", "value_eur", 1200),
        (1234, None, 1234),
        ("42", None, 42),
    ],
)
def test_parse_quantity(raw, measure, expected):
    """Every supported spelling converts to base units."""
    assert parse_quantity(raw, measure) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("raw", "measure", "needle"),
    [
        ("500 t", "value_usd", "does not fit measure 'value_usd'"),
        ("5 USD", "net_weight_kg", "does not fit"),
        ("5 furlongs", "net_weight_kg", "unknown unit 'furlongs'"),
        ("lots", "net_weight_kg", "cannot read quantity"),
        ("2 m", "value_usd", "ambiguous"),
        (True, "value_usd", "expected a number"),
    ],
)
def test_parse_quantity_errors(raw, measure, needle):
    """Units that do not fit, unknown units and unreadable text are refused with a reason."""
    with pytest.raises(UnitError, match=needle):
        parse_quantity(raw, measure)


def test_parse_percent():
    """Percent accepts numbers and '50%'."""
    assert parse_percent("50%") == 50 and parse_percent(-30) == -30
    with pytest.raises(UnitError):
        parse_percent("half")
