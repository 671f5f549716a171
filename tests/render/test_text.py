"""alert_text: an alert's summary and figures from its dict, as status and backtest print them."""

from __future__ import annotations

from monitor.engine import evaluate, load_rules
from monitor.render import filters
from monitor.render.text import alert_text
from monitor.resources import bundled_path
from tests.notify.realdata import value_of


def _fired(frame, rule: str, partner: str, period: str):
    rules = load_rules([str(bundled_path("rules"))])
    [a] = [
        a for a in evaluate(frame, rules, [period]) if a.rule_id == rule and a.partner == partner
    ]
    return a


def test_summary_is_rendered_from_the_dict_not_the_template(frame) -> None:
    """The stored/backtest dict's summary is the rule's template; alert_text renders it."""
    data = _fired(frame, "magnets-six-month-high", "US", "2025-07").to_dict()
    assert "{{" in data["summary"]
    text = alert_text(data)
    assert text.summary == (
        "China's rare-earth magnet exports to the United States hit a six-month high in July 2025"
    )


def test_why_is_in_the_rules_units(frame) -> None:
    """The previous high prints in tonnes (the kg figure was 4.31e+05 in the table)."""
    data = _fired(frame, "magnets-six-month-high", "US", "2025-07").to_dict()
    june = value_of(frame, "US", "2025-06")
    text = alert_text(data)
    assert text.why == f"previous high {filters.tonnes(june)} in June 2025; 3 of 6 months known"
    assert text.value == filters.tonnes(value_of(frame, "US", "2025-07"))


def test_share_shift_why_gives_both_shares_and_the_points(frame) -> None:
    """A share shift: the share before and after, in percent, and the move in points."""
    a = _fired(frame, "magnets-share-shift", "US", "2025-10")
    before = value_of(frame, "US", "2025-09") / value_of(frame, "WORLD", "2025-09") * 100
    after = value_of(frame, "US", "2025-10") / value_of(frame, "WORLD", "2025-10") * 100
    assert alert_text(a.to_dict()).why == (
        f"share {before:.1f}% -> {after:.1f}% ({after - before:+.1f} pp vs September 2025)"
    )


def test_two_partners_read_differently(frame) -> None:
    """The same rule for two partners gives two different summaries (status showed the same
    raw template for both)."""
    world = alert_text(_fired(frame, "magnets-six-month-high", "WORLD", "2025-07").to_dict())
    us = alert_text(_fired(frame, "magnets-six-month-high", "US", "2025-07").to_dict())
    assert "to the world hit" in world.summary and "to the United States hit" in us.summary
