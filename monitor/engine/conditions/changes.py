"""Change conditions: pct_change, streak, anomaly."""

from __future__ import annotations

import numpy as np

from monitor.engine.conditions.base import Result, View
from monitor.engine.rules import Condition


def pct_change(view: View, cond: Condition) -> Result:
    """Percent change from value(t-periods) to value(t), fired at >= ``above`` or <= ``below``;
    nothing when either value is missing or the base is 0."""
    k = cond.params["periods"]
    v, base = view.lag(0), view.lag(k)
    valid = ~np.isnan(v) & ~np.isnan(base) & (base != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(valid, (v / base - 1.0) * 100.0, np.nan)
    fired = np.zeros(view.shape, dtype=bool)
    above, below = cond.params.get("above"), cond.params.get("below")
    with np.errstate(invalid="ignore"):
        if above is not None:
            fired |= valid & (pct >= above)
        if below is not None:
            fired |= valid & (pct <= below)
    return Result(
        fired,
        {"periods": k, "base_value": base, "base_period": view.month_matrix(k), "pct": pct},
        period_keys=frozenset({"base_period"}),
    )


def streak(view: View, cond: Condition) -> Result:
    """The last ``length`` month-on-month moves ending at t all strictly up (down, per
    ``direction``); a missing month breaks the streak."""
    n, up = cond.params["length"], cond.params["direction"] == "up"
    fired = np.ones(view.shape, dtype=bool)
    later = view.lag(0)
    for lag in range(1, n + 1):
        earlier = view.lag(lag)
        with np.errstate(invalid="ignore"):
            fired &= (later > earlier) if up else (later < earlier)  # NaN compares False
        later = earlier
    return Result(fired, {"streak_length": n, "direction": cond.params["direction"]})


def anomaly(view: View, cond: Condition) -> Result:
    """value(t) at least ``z`` sample standard deviations from the mean of the ``window`` months
    before t; needs ``min_periods`` of them known, and a flat history never fires."""
    window, z_min, min_periods = (
        cond.params["window"],
        cond.params["z"],
        cond.params["min_periods"],
    )
    count = np.zeros(view.shape, dtype=np.int16)
    total = np.zeros(view.shape)
    hi = np.full(view.shape, -np.inf)
    lo = np.full(view.shape, np.inf)
    present = np.empty(view.shape, dtype=bool)
    # Two in-place passes over the W months before t: sums first, then squared deviations
    # (more accurate than sum-of-squares when values are large and close together).
    for lag in range(1, window + 1):
        x = view.lag(lag)
        np.isnan(x, out=present)
        np.logical_not(present, out=present)
        count += present
        np.add(total, x, out=total, where=present)
        np.fmax(hi, x, out=hi)
        np.fmin(lo, x, out=lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / count
        squares = np.zeros(view.shape)
        dev = np.empty(view.shape)
        for lag in range(1, window + 1):
            x = view.lag(lag)
            np.subtract(x, mean, out=dev)
            np.multiply(dev, dev, out=dev)
            np.add(squares, dev, out=squares, where=~np.isnan(dev))
        std = np.sqrt(squares / (count - 1))
        v = view.lag(0)
        z = (v - mean) / std
        # A flat history has std 0: nothing is anomalous against it. Comparing max and min
        # avoids the rounding residue a computed std can carry when every value is equal.
        fired = (count >= min_periods) & ~np.isnan(v) & (hi > lo) & (np.abs(z) >= z_min)
    return Result(fired, {"mean": mean, "std": std, "z": z, "history_months": count})
