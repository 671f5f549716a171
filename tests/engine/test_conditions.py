"""The exact meaning of every condition, on small hand-made series (values in kg)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from engine_helpers import fired, frame, months, pack

from monitor.engine import check_missing, evaluate


def rules(tmp_path, condition: str, select: str = '{partner: "*"}'):
    return pack(tmp_path, f"  - id: r\n    select: {select}\n    condition: {condition}\n")


# threshold ----------------------------------------------------------------------------------


def test_threshold_bounds_are_inclusive(tmp_path):
    """value >= above and value <= below both fire at exactly the bound."""
    obs = frame({"US": months("2025-01", [500_000, 499_999, 100_000, 100_001])})
    rs = rules(tmp_path, "{type: threshold, above: 500 t, below: 100 t}")
    assert fired(evaluate(obs, rs)) == [("2025-01", "US"), ("2025-03", "US")]


def test_threshold_units_convert_to_base(tmp_path):
    """'1.5 kt' is 1,500,000 kg."""
    obs = frame({"US": months("2025-01", [1_499_999, 1_500_000])})
    a = evaluate(obs, rules(tmp_path, "{type: threshold, above: 1.5 kt}"))
    assert fired(a) == [("2025-02", "US")]
    assert a[0].context["above"] == 1_500_000


# period_high / period_low -------------------------------------------------------------------


def test_period_high_needs_strictly_above(tmp_path):
    """A value equal to the window's prior max is not a new high."""
    obs = frame({"US": months("2025-01", [5, 3, 5])})
    assert fired(evaluate(obs, rules(tmp_path, "{type: period_high, window: 3}"))) == []


def test_period_high_gaps_are_not_zero(tmp_path):
    """Missing months neither count as known nor as zero: min_periods counts real values."""
    obs = frame({"US": months("2025-01", [None, 2, None, 3])})
    strict = rules(tmp_path, "{type: period_high, window: 4, min_periods: 3}")
    assert fired(evaluate(obs, strict)) == []
    loose = rules(tmp_path, "{type: period_high, window: 4, min_periods: 2}")
    a = evaluate(obs, loose)
    assert fired(a) == [("2025-04", "US")]
    assert a[0].context["months_known"] == 2


def test_period_high_needs_another_month(tmp_path):
    """A lone value is never a high, even with min_periods 1."""
    obs = frame({"US": months("2025-01", [None, None, 7])})
    assert (
        fired(evaluate(obs, rules(tmp_path, "{type: period_high, window: 3, min_periods: 1}")))
        == []
    )


def test_period_high_window_ends_at_t(tmp_path):
    """A higher value just outside the W-month window does not block the high."""
    obs = frame({"US": months("2025-01", [10, 1, 2, 3])})
    a = evaluate(obs, rules(tmp_path, "{type: period_high, window: 3}"))
    assert fired(a) == [("2025-04", "US")]
    assert a[0].context["window_start"] == "2025-02"
    assert a[0].context["prior_max_period"] == "2025-03"


def test_period_low_mirrors_high(tmp_path):
    """period_low fires on a value strictly below every other value of the window."""
    obs = frame({"US": months("2025-01", [4, 3, 2, 2])})
    a = evaluate(obs, rules(tmp_path, "{type: period_low, window: 3}"))
    assert fired(a) == [("2025-03", "US")]
    assert (a[0].context["prior_min"], a[0].context["prior_min_period"]) == (3, "2025-02")


# pct_change ---------------------------------------------------------------------------------


def test_pct_change_compares_exactly_k_months_back(tmp_path):
    """With t-k missing there is no alert, even when an older month exists."""
    obs = frame({"US": months("2024-01", [100, *([None] * 11), 300, 100])})
    a = evaluate(obs, rules(tmp_path, "{type: pct_change, periods: 12, above: 100}"))
    assert fired(a) == [("2025-01", "US")]
    assert a[0].context["base_period"] == "2024-01"
    assert a[0].context["pct"] == pytest.approx(200)


def test_pct_change_bounds_inclusive(tmp_path):
    """pct >= above and pct <= below fire at exactly the bound."""
    obs = frame({"US": months("2025-01", [100, 150, 105])})
    a = evaluate(obs, rules(tmp_path, "{type: pct_change, above: 50, below: -30}"))
    assert fired(a) == [("2025-02", "US"), ("2025-03", "US")]


def test_pct_change_zero_base_no_alert(tmp_path):
    """A base of 0 gives no percentage and no alert."""
    obs = frame({"US": months("2025-01", [0, 100])})
    assert evaluate(obs, rules(tmp_path, "{type: pct_change, above: 10}")) == []


# share / share_shift ------------------------------------------------------------------------


def test_share_uses_world_when_present(tmp_path):
    """The total is the WORLD row where published."""
    obs = frame({"WORLD": {"2025-01": 1000}, "US": {"2025-01": 250}, "DE": {"2025-01": 100}})
    a = evaluate(obs, rules(tmp_path, "{type: share, above: 25}"))
    assert fired(a) == [("2025-01", "US")]
    assert (a[0].context["share"], a[0].context["total_basis"]) == (25.0, "WORLD")


def test_share_falls_back_to_partner_sum(tmp_path):
    """Without a WORLD row the total is the sum over the partners present."""
    obs = frame({"US": {"2025-01": 300}, "DE": {"2025-01": 100}})
    a = evaluate(obs, rules(tmp_path, "{type: share, above: 75}"))
    assert fired(a) == [("2025-01", "US")]
    assert (a[0].context["total"], a[0].context["total_basis"]) == (400, "sum")


def test_share_never_evaluates_world(tmp_path):
    """WORLD is 100% of itself, but share conditions skip it."""
    obs = frame({"WORLD": {"2025-01": 1000}, "US": {"2025-01": 10}})
    assert fired(evaluate(obs, rules(tmp_path, "{type: share, above: 50}"))) == []


def test_share_shift_direction(tmp_path):
    """direction: down fires on a fall of at least P points only."""
    obs = frame(
        {"WORLD": months("2025-01", [100, 100, 100]), "US": months("2025-01", [10, 20, 10])}
    )
    a = evaluate(obs, rules(tmp_path, "{type: share_shift, points: 10, direction: down}"))
    assert fired(a) == [("2025-03", "US")]
    assert a[0].context["shift_points"] == pytest.approx(-10)


def test_share_shift_points_inclusive_any_direction(tmp_path):
    """|shift| >= P fires in both directions by default."""
    obs = frame(
        {"WORLD": months("2025-01", [100, 100, 100]), "US": months("2025-01", [10, 13, 10.5])}
    )
    a = evaluate(obs, rules(tmp_path, "{type: share_shift, points: 2.5}"))
    assert fired(a) == [("2025-02", "US"), ("2025-03", "US")]
    assert fired(evaluate(obs, rules(tmp_path, "{type: share_shift, points: 3}"))) == [
        ("2025-02", "US")
    ]


# streak -------------------------------------------------------------------------------------


def test_streak_needs_n_plus_one_consecutive_months(tmp_path):
    """Three rises need four consecutive months with values; a gap breaks the streak."""
    obs = frame(
        {
            "US": months("2025-01", [1, 2, 3, 4, None, 5, 6, 7]),
            "DE": months("2025-01", [4, 3, 3, 2, 1, 0.5, 0.2, 0.1]),
        }
    )
    a = evaluate(obs, rules(tmp_path, "{type: streak, direction: up, length: 3}"))
    assert fired(a) == [("2025-04", "US")]
    down = evaluate(obs, rules(tmp_path, "{type: streak, direction: down, length: 3}"))
    assert fired(down) == [("2025-06", "DE"), ("2025-07", "DE"), ("2025-08", "DE")]


# anomaly ------------------------------------------------------------------------------------


def test_anomaly_uses_sample_std_of_prior_window(tmp_path):
    """z = (value - mean) / sample std of the W months before t."""
    obs = frame({"US": months("2025-01", [10, 12, 14, 30])})
    a = evaluate(obs, rules(tmp_path, "{type: anomaly, window: 3, z: 3}"))
    assert fired(a) == [("2025-04", "US")]
    assert (a[0].context["mean"], a[0].context["std"]) == (12.0, 2.0)
    assert a[0].context["z"] == 9.0
    assert a[0].context["history_months"] == 3


def test_anomaly_flat_history_never_fires(tmp_path):
    """std 0 gives no alert, however far the value moves."""
    obs = frame({"US": months("2025-01", [0.1, 0.1, 0.1, 50])})
    assert evaluate(obs, rules(tmp_path, "{type: anomaly, window: 3, z: 1}")) == []


def test_anomaly_min_periods(tmp_path):
    """Fewer than min_periods history values: no alert."""
    obs = frame({"US": months("2025-01", [10, None, 14, 30])})
    assert evaluate(obs, rules(tmp_path, "{type: anomaly, window: 3, z: 1}")) == []
    a = evaluate(obs, rules(tmp_path, "{type: anomaly, window: 3, z: 1, min_periods: 2}"))
    assert fired(a) == [("2025-04", "US")]


# all / any ----------------------------------------------------------------------------------


def test_all_needs_every_member_and_merges_context(tmp_path):
    """all fires where every member fires; contexts merge with the first member winning."""
    cond = "{all: [{type: period_high, window: 2}, {type: pct_change, periods: 12, above: 200}]}"
    # 2025-01 is up 200% on a year before but has no prior month: only 2025-02 has both.
    obs = frame({"US": months("2024-01", [1, 1, *([None] * 10), 3, 4])})
    b = evaluate(obs, rules(tmp_path, cond))
    assert fired(b) == [("2025-02", "US")]
    ctx = b[0].context
    assert ctx["condition"] == "all"
    assert ctx["prior_max"] == 3 and ctx["pct"] == pytest.approx(300)


def test_any_fires_on_either_member(tmp_path):
    """any fires where at least one member fires."""
    obs = frame({"US": months("2025-01", [100, 200, 100])})
    cond = "{any: [{type: threshold, above: 200}, {type: pct_change, below: -50}]}"
    assert fired(evaluate(obs, rules(tmp_path, cond))) == [("2025-02", "US"), ("2025-03", "US")]


# selection ----------------------------------------------------------------------------------


def test_select_and_exclude(tmp_path):
    """A list selects those partners; exclude removes partners from "*"."""
    obs = frame({p: {"2025-01": 10} for p in ("US", "DE", "JP", "WORLD")})
    listed = rules(tmp_path, "{type: threshold, above: 1}", "{partner: [US, JP]}")
    assert fired(evaluate(obs, listed)) == [("2025-01", "JP"), ("2025-01", "US")]
    excl = rules(
        tmp_path, "{type: threshold, above: 1}", '{partner: "*", exclude: {partner: [WORLD, DE]}}'
    )
    assert fired(evaluate(obs, excl)) == [("2025-01", "JP"), ("2025-01", "US")]


def test_partner_no_is_norway(tmp_path):
    """partner: NO selects Norway, not False."""
    obs = frame({"NO": {"2025-01": 10}, "US": {"2025-01": 10}})
    rs = rules(tmp_path, "{type: threshold, above: 1}", "{partner: NO}")
    assert fired(evaluate(obs, rs)) == [("2025-01", "NO")]


def test_series_are_independent(tmp_path):
    """Each commodity is its own series: values never mix across them."""
    a = frame({"US": months("2025-01", [1, 5])})
    b = frame({"US": months("2025-01", [9, 2])}, commodity="85051190")
    import pandas as pd

    obs = pd.concat([a, b], ignore_index=True)
    rs = pack(
        tmp_path,
        '  - id: r\n    select: {partner: US, commodity: "*"}\n'
        "    condition: {type: period_high, window: 2}\n",
    )
    out = evaluate(obs, rs)
    assert [(x.period, x.commodity) for x in out] == [("2025-02", "85051110")]


# missing_release ----------------------------------------------------------------------------


def test_missing_release_after_deadline_only(tmp_path):
    """The June figure is due by July 20 + 2 days (Shanghai); before that nothing fires."""
    obs = frame({"WORLD": months("2025-04", [1, 2])})  # April, May known
    rs = rules(
        tmp_path,
        "{type: missing_release, expected_day: 20, grace_days: 2, timezone: Asia/Shanghai}",
        "{partner: WORLD}",
    )
    on_time = datetime(2025, 7, 22, 15, 59, tzinfo=UTC)  # 23:59 July 22 in Shanghai
    assert check_missing(obs, rs, on_time) == []
    late = datetime(2025, 7, 22, 16, 0, tzinfo=UTC)  # 00:00 July 23 in Shanghai
    a = check_missing(obs, rs, late)
    assert [(x.period, x.partner) for x in a] == [("2025-06", "WORLD")]
    assert a[0].context["expected_by"] == "2025-07-22"
    assert a[0].context["last_period"] == "2025-05"


def test_missing_release_not_evaluated_by_evaluate(tmp_path):
    """evaluate() leaves missing_release rules to the daemon's clock."""
    obs = frame({"WORLD": months("2020-01", [1])})
    rs = rules(tmp_path, "{type: missing_release, expected_day: 20}", "{partner: WORLD}")
    assert evaluate(obs, rs) == []


# rank ---------------------------------------------------------------------------------------


def test_rank_among_partners_ties_share_best(tmp_path):
    """rank 1 = largest partner that month; ties share the best rank; WORLD is not ranked."""
    obs = frame(
        {
            "WORLD": {"2025-01": 100},
            "US": {"2025-01": 30},
            "DE": {"2025-01": 30},
            "JP": {"2025-01": 40},
        }
    )
    a = evaluate(obs, rules(tmp_path, "{type: threshold, above: 1}"))
    ranks = {x.partner: (x.context["rank"], x.context["partners_ranked"]) for x in a}
    assert ranks == {"JP": (1, 3), "US": (2, 3), "DE": (2, 3), "WORLD": (None, 3)}
