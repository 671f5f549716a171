"""The bundled rare-earth magnet pack over the real GACC figures (monitor/data, see PROVENANCE)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from monitor.engine import evaluate, load_rules
from monitor.model import Alert
from monitor.resources import bundled_path


@pytest.fixture
def alerts(magnets: pd.DataFrame) -> list[Alert]:
    return evaluate(magnets, load_rules([str(bundled_path("rules"))]))


def find(alerts: list[Alert], rule: str, period: str, partner: str) -> Alert:
    hits = [a for a in alerts if (a.rule_id, a.period, a.partner) == (rule, period, partner)]
    assert len(hits) == 1, f"expected one {rule} alert for {partner} in {period}, got {hits}"
    return hits[0]


def test_world_six_month_high_in_july_2025(alerts):
    """2025-07 WORLD 5,577 t is a six-month high with May and June known (3 of 6)."""
    a = find(alerts, "magnets-six-month-high", "2025-07", "WORLD")
    assert a.value == 5_577_000
    assert a.context["months_known"] == 3
    assert a.context["window"] == 6
    assert a.context["window_start"] == "2025-02"
    assert a.context["prior_max"] == 3_188_000
    assert a.context["prior_max_period"] == "2025-06"
    assert a.context["rank"] is None


def test_us_six_month_high_in_july_2025(alerts):
    """2025-07 US 619 t is a six-month high over May (46 t) and June (353 t)."""
    a = find(alerts, "magnets-six-month-high", "2025-07", "US")
    assert a.value == 619_000
    assert a.context["months_known"] == 3
    assert (a.context["prior_max"], a.context["prior_max_period"]) == (353_000, "2025-06")
    assert a.context["rank"] == 2  # Germany (1,116 t) took more that month
    assert a.context["partners_ranked"] == 2


def test_us_month_on_month_jump_in_june_2025(alerts):
    """2025-06 US rose ~667% month on month (46 t -> 353 t)."""
    a = find(alerts, "magnets-monthly-jump", "2025-06", "US")
    assert a.context["pct"] == pytest.approx((353 / 46 - 1) * 100)
    assert round(a.context["pct"]) == 667
    assert (a.context["base_value"], a.context["base_period"]) == (46_000, "2025-05")
    assert a.context["periods"] == 1


def test_us_six_month_high_in_october_2025(alerts):
    """2025-10 US 656 t is a six-month high with May-September all known."""
    a = find(alerts, "magnets-six-month-high", "2025-10", "US")
    assert a.value == 656_000
    assert a.context["months_known"] == 6
    assert (a.context["prior_max"], a.context["prior_max_period"]) == (619_000, "2025-07")


def test_us_share_up_in_october_2025(alerts):
    """2025-10 US share of China's total rose ~4.7 points (7.3% -> 12.0%)."""
    a = find(alerts, "magnets-share-shift", "2025-10", "US")
    assert a.context["share"] == pytest.approx(656 / 5473 * 100)
    assert a.context["share_before"] == pytest.approx(420 / 5774 * 100)
    assert round(a.context["share_before"], 1) == 7.3
    assert round(a.context["share"], 1) == 12.0
    assert round(a.context["shift_points"], 1) == 4.7
    assert a.context["share_before_period"] == "2025-09"
    assert (a.context["total"], a.context["total_basis"]) == (5_473_000, "WORLD")


def test_no_share_alert_for_world(alerts):
    """The WORLD series is never evaluated by the share-shift rule."""
    assert not [a for a in alerts if a.rule_id == "magnets-share-shift" and a.partner == "WORLD"]


def test_alerts_sorted_by_period_rule_series(alerts):
    """Alerts come out ordered by period, then rule, then series."""
    keys = [(a.period, a.rule_id, a.reporter, a.partner) for a in alerts]
    assert keys == sorted(keys)


def test_context_is_json_plain(alerts):
    """Every context value is a plain JSON type (no numpy scalars, no NaN)."""
    for a in alerts:
        for value in a.context.values():
            assert value is None or type(value) in (int, float, str, bool)
        json.dumps(a.to_dict(), allow_nan=False)


def test_alert_source_is_that_months_row(alerts):
    """The alert's source is the source of the observation it fired on."""
    a = find(alerts, "magnets-six-month-high", "2025-10", "US")
    assert a.source == "magnets"


def test_newest_month_equals_backtest_slice(magnets, alerts):
    """Evaluating one period alone gives exactly the backtest's alerts for that period."""
    rules = load_rules([str(bundled_path("rules"))])
    for period in ("2025-06", "2025-07", "2025-10"):
        alone = evaluate(magnets, rules, [period])
        assert alone == [a for a in alerts if a.period == period]


def test_later_data_does_not_change_earlier_period(magnets):
    """Evaluating 2025-07 ignores every row after it ("only data up to t")."""
    rules = load_rules([str(bundled_path("rules"))])
    cut = magnets[magnets["period"] <= "2025-07"]
    assert evaluate(magnets, rules, ["2025-07"]) == evaluate(cut, rules, ["2025-07"])


def test_several_periods_at_once(magnets, alerts):
    """Evaluating a non-contiguous set of periods gives the backtest's alerts for them."""
    rules = load_rules([str(bundled_path("rules"))])
    wanted = {"2025-06", "2025-10"}
    assert evaluate(magnets, rules, sorted(wanted)) == [a for a in alerts if a.period in wanted]


def test_missing_release_for_the_bundled_pack(magnets):
    """With December 2025 published, January 2026 is late after 22 Feb 2026 (Shanghai)."""
    from datetime import UTC, datetime

    from monitor.engine import check_missing

    rules = load_rules([str(bundled_path("rules"))])
    assert check_missing(magnets, rules, datetime(2026, 2, 22, 12, tzinfo=UTC)) == []
    late = check_missing(magnets, rules, datetime(2026, 2, 23, 1, tzinfo=UTC))
    assert [(a.rule_id, a.period, a.partner) for a in late] == [
        ("magnets-release-missing", "2026-01", "WORLD")
    ]
    assert late[0].context["last_period"] == "2025-12"


def test_categorical_columns_give_the_same_alerts(magnets, alerts):
    """A frame with categorical string columns (as a store may hand it) evaluates the same."""
    rules = load_rules([str(bundled_path("rules"))])
    cat = magnets.astype({c: "category" for c in magnets.columns if c != "value"})
    assert evaluate(cat, rules) == alerts
    assert evaluate(cat, rules, ["2025-10"]) == [a for a in alerts if a.period == "2025-10"]
