"""Share conditions: share, share_shift. The WORLD series itself is never evaluated."""

from __future__ import annotations

import numpy as np

from monitor.engine.conditions.base import Labels, Result, View
from monitor.engine.rules import Condition


def _share(view: View, months_back: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    total, from_world = view.total(months_back)
    v = view.lag(months_back)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, v / total * 100.0, np.nan)
    share[view.panel.is_world[view.rows]] = np.nan
    return share, total, from_world


def _basis(from_world: np.ndarray, total: np.ndarray) -> Labels:
    """The total's basis, "WORLD" or "sum" (None when no total), as codes into three labels."""
    codes = from_world.astype(np.int8)  # 1 = WORLD, 0 = sum
    codes[np.isnan(total)] = 2
    return Labels(codes, ("sum", "WORLD", None))


def share(view: View, cond: Condition) -> Result:
    """The series' percent of its group total at t (WORLD, else the partners' sum), fired at
    >= ``above`` or <= ``below``; never for the WORLD row itself or a total of 0."""
    s, total, from_world = _share(view, 0)
    above, below = cond.params.get("above"), cond.params.get("below")
    fired = np.zeros(view.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        if above is not None:
            fired |= s >= above
        if below is not None:
            fired |= s <= below
    return Result(fired, {"share": s, "total": total, "total_basis": _basis(from_world, total)})


def share_shift(view: View, cond: Condition) -> Result:
    """Share at t less the share ``periods`` months before, in points; fired when it moved at
    least ``points`` in ``direction`` (``up``, ``down``, or ``any``: either way)."""
    k, points, direction = (cond.params["periods"], cond.params["points"], cond.params["direction"])
    s, total, from_world = _share(view, 0)
    before, _, _ = _share(view, k)
    shift = s - before
    with np.errstate(invalid="ignore"):
        if direction == "up":
            fired = shift >= points
        elif direction == "down":
            fired = shift <= -points
        else:
            fired = np.abs(shift) >= points
    return Result(
        fired,
        {
            "share": s,
            "share_before": before,
            "share_before_period": view.month_matrix(k),
            "shift_points": shift,
            "total": total,
            "total_basis": _basis(from_world, total),
        },
        period_keys=frozenset({"share_before_period"}),
    )
