"""Mirror statistics: one country's reported figure against its partner's mirror figure.

China's exports to the US (GACC) and the US's imports from China (Census) describe the same
goods; they differ by valuation (imports CIF, exports FOB), timing (a ship leaves in one month
and arrives in the next), goods re-exported through a third economy (Hong Kong), and national
classification below HS6. Summing each side over N months absorbs the timing part.
"""

from __future__ import annotations

import numpy as np

from monitor.engine.conditions.base import Result, View
from monitor.engine.rules import Condition


def mirror_gap(view: View, cond: Condition) -> Result:
    """Both sides summed over the N months ending at t (every month present, and every sum
    complete, on both sides); gap = reported - mirror, gap_pct = gap / mirror * 100."""
    side = view.mirror(cond)
    n = cond.params["window"]
    own = np.zeros(view.shape)
    theirs = np.zeros(view.shape)
    complete = np.ones(view.shape, dtype=bool)
    own_counts = view.panel.reported, view.panel.expected
    for lag in range(n):
        a = view.lag(lag)
        b = side.cells(view, side.values, lag)
        complete &= ~np.isnan(a) & ~np.isnan(b)
        # A sum missing an expected member would make a gap of its own: such a month leaves
        # the window without a figure, on either side, whatever the incomplete policy.
        if own_counts[0] is not None and own_counts[1] is not None:
            complete &= view.cells(own_counts[0], lag) >= view.cells(own_counts[1], lag)
        if side.reported is not None and side.expected is not None:
            complete &= side.cells(view, side.reported, lag) >= side.cells(view, side.expected, lag)
        own += np.nan_to_num(a)
        theirs += np.nan_to_num(b)
    own[~complete] = np.nan
    theirs[~complete] = np.nan
    gap = own - theirs
    with np.errstate(divide="ignore", invalid="ignore"):
        gap_pct = np.where(theirs > 0, gap / theirs * 100.0, np.nan)
    direction = cond.params["direction"]
    fired = complete.copy()
    with np.errstate(invalid="ignore"):
        for name, measure in (("pct", gap_pct), ("absolute", gap)):
            bound = cond.params.get(name)
            if bound is None:
                continue
            if direction == "above":
                fired &= measure >= bound
            elif direction == "below":
                fired &= measure <= -bound
            else:
                fired &= np.abs(measure) >= bound
    context = {
        "mirror_window": n,
        "mirror_start": view.month_matrix(n - 1),
        "sum_reported": own,
        "sum_mirror": theirs,
        "gap": gap,
        "gap_pct": gap_pct,
        "mirror_source": side.source or None,
        "mirror_reasons": cond.params["reasons"],
    }
    if side.reported is not None and side.expected is not None:
        context["mirror_members_reported"] = side.cells(view, side.reported, 0)
        context["mirror_members_expected"] = side.cells(view, side.expected, 0)
    return Result(fired, context, period_keys=frozenset({"mirror_start"}))
