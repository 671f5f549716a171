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


@dataclass
class Result:
    fired: np.ndarray  # (rows, T) bool
    context: dict[str, Any] = field(default_factory=dict)  # name -> (rows, T) array or scalar
    period_keys: frozenset[str] = frozenset()  # context holding month numbers


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
        valid = cols >= 0
        vals = np.full((panel.values.shape[0], len(cols)), np.nan)
        vals[:, valid] = panel.values[:, cols[valid]]
        if not n_groups:
            empty = np.full((0, len(cols)), np.nan)
            return empty, empty.astype(bool)
        partner = ~panel.is_world[:, None] & ~np.isnan(vals)
        sums = np.add.reduceat(np.where(partner, vals, 0.0), panel.group_starts, axis=0)
        counts = np.add.reduceat(partner.astype(np.int32), panel.group_starts, axis=0)
        world = np.full((n_groups, len(cols)), np.nan)
        world[panel.group[panel.is_world]] = vals[panel.is_world]
        from_world = ~np.isnan(world)
        total = np.where(from_world, world, np.where(counts > 0, sums, np.nan))
        return total, from_world


class View:
    """The selected rows of the panel, seen from each target month."""

    def __init__(
        self,
        panel: Panel,
        rows: np.ndarray | None,
        targets: np.ndarray,
        totals: Totals | None = None,
    ) -> None:
        self.panel = panel
        self.rows = rows if rows is not None else np.arange(panel.values.shape[0])
        self.values = panel.values if rows is None else panel.values[rows]
        self.targets = targets  # column indices of the target months
        self.months = panel.month0 + targets  # month numbers of the target months
        self._contiguous = bool(len(targets)) and bool(np.all(np.diff(targets) == 1))
        self._totals = totals

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), len(self.targets))

    def lag(self, months_back: int, values: np.ndarray | None = None) -> np.ndarray:
        """Values ``months_back`` months before each target month (NaN before the panel)."""
        src = self.values if values is None else values
        first = int(self.targets[0]) - months_back if len(self.targets) else 0
        if self._contiguous and first >= 0:
            return src[:, first : first + len(self.targets)]
        cols = self.targets - months_back
        out = src[:, np.clip(cols, 0, None)]
        if (cols < 0).any():
            out = out.copy()
            out[:, cols < 0] = np.nan if out.dtype.kind == "f" else 0
        return out

    @property
    def totals(self) -> Totals:
        if self._totals is None:
            self._totals = Totals(self.panel)
        return self._totals

    def total(self, months_back: int) -> tuple[np.ndarray, np.ndarray]:
        """Each row's share total and whether it is the WORLD row, months_back before t."""
        g = self.panel.group[self.rows]
        total, world = self.totals.at(self.targets - months_back)
        return total[g], world[g]

    def month_matrix(self, months_back: int = 0) -> np.ndarray:
        return np.broadcast_to(self.months - months_back, self.shape)
