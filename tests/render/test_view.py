"""The view every template sees: ordering and facts never trip over a value that is not finite."""

from __future__ import annotations

import math
from dataclasses import replace

from monitor.notify.base import Notice
from monitor.render.checks import sample_alert
from monitor.render.view import facts, sort_notices


def test_notices_with_nan_or_inf_values_sort_deterministically() -> None:
    """Known values first (largest first); NaN and inf count as nothing and keep key order."""
    values = {"US": math.nan, "DE": 5.0, "FR": math.inf, "JP": 7.0}
    notices = [Notice(replace(sample_alert(partner=p), value=v)) for p, v in values.items()]
    assert [n.alert.partner for n in sort_notices(notices)] == ["JP", "DE", "FR", "US"]
    assert sort_notices(notices) == sort_notices(list(reversed(notices)))


def test_facts_leave_out_figures_that_are_not_finite() -> None:
    """A NaN previous high or an infinite change is left out rather than printed as nan/inf."""
    context = {"pct": math.inf, "prior_max": math.nan, "window": 6, "months_known": 3}
    assert facts(context, "kg") == ["3 of 6 months known"]
