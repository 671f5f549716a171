"""Level conditions: threshold, period_high, period_low."""

from __future__ import annotations

import numpy as np

from monitor.engine.conditions.base import Result, View
from monitor.engine.rules import Condition


def threshold(view: View, cond: Condition) -> Result:
    """value(t) >= ``above`` or <= ``below`` (base units, inclusive); no value, no alert."""
    v = view.lag(0)
    above, below = cond.params.get("above"), cond.params.get("below")
    fired = np.zeros(view.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        if above is not None:
            fired |= v >= above
        if below is not None:
            fired |= v <= below
    return Result(fired, {"above": above, "below": below})


def period_extreme(view: View, cond: Condition) -> Result:
    """period_high / period_low: value(t) strictly beyond every other known value of the window."""
    high = cond.type == "period_high"
    window, min_periods = cond.params["window"], cond.params["min_periods"]
    v = view.lag(0)
    best = np.full(view.shape, np.nan)
    best_lag = np.zeros(view.shape, dtype=np.int16)
    known = np.zeros(view.shape, dtype=np.int16)
    better = np.empty(view.shape, dtype=bool)
    present = np.empty(view.shape, dtype=bool)
    beats = np.greater if high else np.less
    keep = np.fmax if high else np.fmin  # fmax/fmin ignore NaN (a missing month)
    # One in-place pass per month of the window (not per series or per period). Only a
    # strictly better value replaces the running best, so the most recent month wins a tie.
    with np.errstate(invalid="ignore"):
        for lag in range(1, window):
            x = view.lag(lag)
            np.isnan(x, out=present)
            np.logical_not(present, out=present)
            known += present
            beats(x, best, out=better)
            better |= present & np.isnan(best)
            np.copyto(best_lag, lag, where=better)
            keep(best, x, out=best)
        has_value = ~np.isnan(v)
        beyond = beats(v, best)
    months_known = known + has_value
    fired = has_value & (known >= 1) & (months_known >= min_periods) & beyond
    name = "prior_max" if high else "prior_min"
    return Result(
        fired,
        {
            "window": window,
            "months_known": months_known,
            "window_start": view.month_matrix(window - 1),
            name: best,
            f"{name}_period": view.month_matrix(0) - best_lag,
        },
        period_keys=frozenset({"window_start", f"{name}_period"}),
    )
