"""What every condition function receives and returns.

A condition looks at the selected series (rows) at the target months (columns T) and returns a
boolean ``fired`` matrix (rows x T) plus context matrices of the same shape. It reads earlier
months through ``View.lag(L)``: the values L months before each target month, all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.engine.panel import Panel

BLOCK_CELLS = 262_144  # cells per block of temporaries (see Totals._compute)


@dataclass
class Result:
    """What a condition returns: ``fired`` and context by name; ``period_keys`` names the
    context holding month numbers (an alert shows them as periods)."""

    fired: np.ndarray  # (rows, T) bool
    context: dict[str, Any] = field(default_factory=dict)  # name -> (rows, T) array or scalar
    period_keys: frozenset[str] = frozenset()  # context holding month numbers


@dataclass
class Labels:
    """A context matrix of text held as small codes (``labels[code]``): turned into strings only
    for the fired cells, never for the whole rows x T matrix."""

    codes: np.ndarray  # (rows, T) int8
    labels: tuple[str | None, ...]


class Totals:
    """Per share group and month: the WORLD value where present, else the sum over partners.

    Computed only for the months asked for (t, t-k), once per evaluation.
    """

    def __init__(self, panel: Panel) -> None:
        self.panel = panel
        self._cache: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def at(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(total, from_world), each (n_groups, len(cols)); NaN where nothing is known."""
        key = tuple(cols.tolist())
        if key not in self._cache:
            self._cache[key] = self._compute(cols)
        return self._cache[key]

    def _compute(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        panel = self.panel
        n_groups = len(panel.group_starts)
        total = np.full((n_groups, len(cols)), np.nan)
        from_world = np.zeros((n_groups, len(cols)), dtype=bool)
        if not n_groups:
            return total, from_world
        # Whole groups at a time, ~BLOCK_CELLS cells each, so the temporaries stay small
        # however many series and months there are (a backtest asks for every month at once).
        bounds = np.r_[panel.group_starts, panel.values.shape[0]]
        per_group = max(1, BLOCK_CELLS // max(len(cols), 1))
        series_per_group = max(1, panel.values.shape[0] // n_groups)
        step = max(1, per_group // series_per_group)
        for g0 in range(0, n_groups, step):
            g1 = min(g0 + step, n_groups)
            self._block(cols, g0, g1, bounds, total, from_world)
        return total, from_world

    def _block(
        self,
        cols: np.ndarray,
        g0: int,
        g1: int,
        bounds: np.ndarray,
        total: np.ndarray,
        from_world: np.ndarray,
    ) -> None:
        """Totals of groups [g0, g1) into ``total`` / ``from_world`` rows g0..g1."""
        panel = self.panel
        r0, r1 = int(bounds[g0]), int(bounds[g1])
        valid = cols >= 0
        vals = np.full((r1 - r0, len(cols)), np.nan)
        vals[:, valid] = panel.values[r0:r1, cols[valid]]
        is_world = panel.is_world[r0:r1]
        partner = ~panel.aggregate_partner[r0:r1, None] & ~np.isnan(vals)
        starts = bounds[g0:g1] - r0
        sums = np.add.reduceat(np.where(partner, vals, 0.0), starts, axis=0)
        counts = np.add.reduceat(partner, starts, axis=0, dtype=np.int32)
        world = np.full((g1 - g0, len(cols)), np.nan)
        world[panel.group[r0:r1][is_world] - g0] = vals[is_world]
        has_world = ~np.isnan(world)
        from_world[g0:g1] = has_world
        total[g0:g1] = np.where(has_world, world, np.where(counts > 0, sums, np.nan))


@dataclass
class MirrorSide:
    """The other side of a mirror comparison: a panel over the same months and, for each row
    of the evaluated panel, the row of its mirror series there (-1: none)."""

    values: np.ndarray  # (mirror series, months), same columns as the evaluated panel
    row_of: np.ndarray  # (evaluated panel rows,) int64
    source: str  # where the mirror figures come from ("" = the same observations)
    flow: str | None  # the mirror's flow when the rule fixes it (None: the opposite flow)
    reported: np.ndarray | None = None  # members reported, when the mirror is an aggregate
    expected: np.ndarray | None = None
    noun: str = ""

    def cells(self, view: View, matrix: np.ndarray, months_back: int) -> np.ndarray:
        """``matrix`` (mirror rows x months) at each view row's mirror, months_back before each
        target month; NaN (or 0) where there is no mirror or no such month."""
        mine = self.row_of[view.rows]
        cols = view.targets - months_back
        if not matrix.shape[0]:
            return np.full(view.shape, np.nan if matrix.dtype.kind == "f" else 0, matrix.dtype)
        out: np.ndarray = matrix[np.clip(mine, 0, None)][:, np.clip(cols, 0, None)]
        missing = np.nan if out.dtype.kind == "f" else 0
        out[mine < 0] = missing
        out[:, cols < 0] = missing
        return out


class View:
    """The selected rows of the panel, seen from each target month."""

    def __init__(
        self,
        panel: Panel,
        rows: np.ndarray | None,
        targets: np.ndarray,
        totals: Totals | None = None,
        mirrors: dict[int, MirrorSide] | None = None,
    ) -> None:
        self.panel = panel
        self.mirrors = mirrors or {}
        self.rows = rows if rows is not None else np.arange(panel.values.shape[0])
        # A months-major panel (few targets) is read column by column: a subset of rows is
        # gathered per look-back month (rows x T, T small) rather than copied whole up front.
        self._gather = rows is not None and not panel.values.flags.c_contiguous
        self.values = panel.values if rows is None or self._gather else panel.values[rows]
        self.targets = targets  # column indices of the target months
        self.months = panel.month0 + targets  # month numbers of the target months
        self._contiguous = bool(len(targets)) and bool(np.all(np.diff(targets) == 1))
        self._totals = totals

    @property
    def shape(self) -> tuple[int, int]:
        """(selected rows, target months): the shape of ``fired`` and of each context matrix."""
        return (len(self.rows), len(self.targets))

    def lag(self, months_back: int, values: np.ndarray | None = None) -> np.ndarray:
        """Values ``months_back`` months before each target month (NaN before the panel)."""
        src = self.values if values is None else values
        gather = self._gather and values is None
        first = int(self.targets[0]) - months_back if len(self.targets) else 0
        if self._contiguous and first >= 0:
            out = src[:, first : first + len(self.targets)]
            return out[self.rows] if gather else out
        cols = self.targets - months_back
        out = src[:, np.clip(cols, 0, None)]
        if gather:
            out = out[self.rows]
        if (cols < 0).any():
            out = out.copy()
            out[:, cols < 0] = np.nan if out.dtype.kind == "f" else 0
        return out

    @property
    def totals(self) -> Totals:
        """The panel's share totals: those the evaluation passed (shared by its views), else
        made on first use."""
        if self._totals is None:
            self._totals = Totals(self.panel)
        return self._totals

    def total(self, months_back: int) -> tuple[np.ndarray, np.ndarray]:
        """Each row's share total and whether it is the WORLD row, months_back before t."""
        g = self.panel.group[self.rows]
        total, world = self.totals.at(self.targets - months_back)
        return total[g], world[g]

    def cells(self, matrix: np.ndarray, months_back: int = 0) -> np.ndarray:
        """A panel-shaped ``matrix`` (e.g. members reported) at the view's rows, months_back
        before each target month."""
        cols = self.targets - months_back
        out = matrix[self.rows][:, np.clip(cols, 0, None)]
        out[:, cols < 0] = np.nan if out.dtype.kind == "f" else 0
        return out

    def mirror(self, cond: object) -> MirrorSide:
        """The mirror side prepared for this condition object (by identity); KeyError if none."""
        return self.mirrors[id(cond)]

    def month_matrix(self, months_back: int = 0) -> np.ndarray:
        """Month numbers ``months_back`` before each target month, as a read-only (rows x T)
        broadcast: context for a key in ``period_keys``."""
        return np.broadcast_to(self.months - months_back, self.shape)
