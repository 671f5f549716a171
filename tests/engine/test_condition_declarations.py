"""Each condition type is declared once, in engine.spec.CONDITIONS: its evaluator, look-back and
need for share totals are read from there (rule values below are written out by hand)."""

from __future__ import annotations

from monitor.engine.conditions import EVALUATORS
from monitor.engine.conditions.shares import share_shift
from monitor.engine.rules import Condition
from monitor.engine.spec import CONDITIONS


def test_every_evaluated_condition_has_its_declared_evaluator() -> None:
    """Every type but missing_release (decided by the daemon's clock) names an evaluator, and
    EVALUATORS is exactly those functions."""
    assert set(EVALUATORS) == set(CONDITIONS) - {"missing_release"}
    assert EVALUATORS["share_shift"] is share_shift


def test_lookback_follows_the_declaration() -> None:
    """A condition reads as many months back as its declaration says for its parameters."""
    assert Condition("threshold", {"above": 5.0}).lookback == 0
    assert Condition("period_high", {"window": 6}).lookback == 5
    assert Condition("pct_change", {"periods": 12}).lookback == 12
    assert Condition("streak", {"direction": "up", "length": 3}).lookback == 3
    assert Condition("anomaly", {"window": 24, "z": 3.0}).lookback == 24
    assert Condition("mirror_gap", {"window": 3, "pct": 10.0}).lookback == 2


def test_a_combination_reads_as_far_back_as_its_furthest_member() -> None:
    """all/any read the largest look-back of their members."""
    both = Condition(
        "all",
        members=(Condition("pct_change", {"periods": 1}), Condition("period_low", {"window": 9})),
    )
    assert both.lookback == 8


def test_share_conditions_declare_they_need_totals() -> None:
    """Only the share conditions ask the engine for share totals."""
    assert {n for n, spec in CONDITIONS.items() if spec.needs_totals} == {"share", "share_shift"}
