"""The canonical observation table and the Alert value."""

from __future__ import annotations

import pandas as pd
import pytest

from monitor.model import Alert, normalize, normalize_chunk, period_to_month


def frame(**overrides) -> pd.DataFrame:
    row = {
        "period": "2025-07",
        "reporter": "CN",
        "partner": "US",
        "commodity": "85051110",
        "flow": "export",
        "measure": "net_weight_t",
        "value": "619",
        "unit": "t",
        "source": "x",
    }
    row.update(overrides)
    return pd.DataFrame([row])


def test_tonnes_become_kilograms():
    """net_weight_t is stored as net_weight_kg, value x 1000."""
    out = normalize(frame())
    assert (out.measure[0], out.value[0], out.unit[0]) == ("net_weight_kg", 619_000.0, "kg")


def test_hundreds_of_kilograms_become_kilograms():
    """Eurostat's 100 kg unit is converted too."""
    out = normalize(frame(measure="net_weight_100kg", value="12.5"))
    assert out.value[0] == 1250.0


def test_commodity_codes_keep_leading_zeros():
    """Codes are strings: '0101' stays '0101'."""
    assert normalize(frame(commodity="0101")).commodity[0] == "0101"


def test_periods_are_normalised_to_year_month():
    """'202507' and '2025-07-01' both mean 2025-07."""
    assert normalize(frame(period="202507")).period[0] == "2025-07"
    assert normalize(frame(period="2025-07-01")).period[0] == "2025-07"


def test_bad_period_is_rejected():
    """A period that is not a month names the column."""
    with pytest.raises(ValueError, match="column period"):
        normalize(frame(period="2025-13"))


def test_a_rejected_period_leaves_no_category_behind():
    """The other rows keep only valid months among their categories (the store parses them)."""
    rows = pd.concat([frame(), frame(period="2025-13", partner="DE")], ignore_index=True)
    out = normalize_chunk(rows)
    assert [r.row for r in out.rejected] == [2]
    assert list(out.frame["period"].cat.categories) == ["2025-07"]


def test_an_infinite_value_is_quoted_as_written():
    """inf is reported as 'inf', the cell's text."""
    with pytest.raises(ValueError, match="column value: not a finite number: 'inf'"):
        normalize(frame(value="inf"))


def test_non_numeric_value_is_rejected_with_its_row():
    """A value that is not a number is named with its row."""
    with pytest.raises(ValueError, match="row 1, column value: not a number: 'n/a'"):
        normalize(frame(value="n/a"))


def test_unknown_flow_is_rejected():
    """Flows are export, import, re_export or re_import."""
    with pytest.raises(ValueError, match="unknown flow 'exports'"):
        normalize(frame(flow="exports"))


def test_duplicate_observations_are_rejected():
    """Two values for one observation key is an error, not a silent pick."""
    with pytest.raises(ValueError, match="duplicate observation"):
        normalize(pd.concat([frame(), frame(value="620")]))


def test_month_axis_is_dense():
    """December and the next January are one month apart."""
    assert period_to_month("2026-01") - period_to_month("2025-12") == 1


def test_alert_round_trips_through_its_dict():
    """Alert.from_dict(alert.to_dict()) is the same alert, context included."""
    alert = Alert(
        "r",
        "2025-07",
        "CN",
        "US",
        "85051110",
        "export",
        "net_weight_kg",
        619_000.0,
        "kg",
        labels={"desk": "magnets"},
        context={"months_known": 3, "pct": 75.4},
    )
    assert Alert.from_dict(alert.to_dict()) == alert


def test_fingerprint_changes_with_the_figures_only():
    """A revision of the value changes the fingerprint; the severity does not."""
    a = Alert("r", "2025-07", "CN", "US", "85051110", "export", "net_weight_kg", 1.0, "kg")
    b = Alert("r", "2025-07", "CN", "US", "85051110", "export", "net_weight_kg", 2.0, "kg")
    c = Alert(
        "r",
        "2025-07",
        "CN",
        "US",
        "85051110",
        "export",
        "net_weight_kg",
        1.0,
        "kg",
        severity="critical",
    )
    assert a.fingerprint() != b.fingerprint() and a.fingerprint() == c.fingerprint()
