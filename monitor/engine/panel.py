"""The observation table as a dense series x months matrix (NaN = missing, never zero).

Conditions are whole-array operations on this matrix, so evaluating a million series costs a few
numpy passes. Only the months a run needs are materialised: evaluating one new month builds a
``series x (max lookback + 1)`` matrix no matter how long the history is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.model import SERIES_KEY, WORLD, month_to_period, period_to_month

GROUP_KEY = ["reporter", "commodity", "flow", "measure"]  # what a partner's share is taken of


@dataclass
class Panel:
    keys: pd.DataFrame  # one row per series: SERIES_KEY + unit (categorical columns)
    values: np.ndarray  # (n_series, n_months) float64, NaN where no observation
    month0: int  # month number (see monitor.model.period_to_month) of column 0
    group: np.ndarray  # (n_series,) int: id of (reporter, commodity, flow, measure)
    group_starts: np.ndarray  # first row of each group (rows are sorted by group)
    is_world: np.ndarray  # (n_series,) bool: partner == WORLD
    row_of: np.ndarray  # (n_series, n_months) int: row in ``rows`` of each cell, -1 none
    rows: pd.DataFrame  # the observations the panel was built from (for their source)
    series_rank: np.ndarray  # position of each series in (reporter, partner, ...) order

    @property
    def n_months(self) -> int:
        return self.values.shape[1]

    def key_values(self, name: str, series: np.ndarray) -> list[str]:
        """The ``name`` key (or unit) of the given series, as plain strings."""
        col = self.keys[name].array
        return np.asarray(col.categories, dtype=object)[col.codes[series]].tolist()

    def source_at(self, series: np.ndarray, cols: np.ndarray) -> list[str]:
        """The source of the observation behind each (series, column) cell."""
        idx = self.row_of[series, cols]
        if not len(self.rows):
            return [""] * len(idx)
        taken = self.rows["source"].take(np.clip(idx, 0, None)).astype(str).tolist()
        return [s if i >= 0 else "" for s, i in zip(taken, idx.tolist(), strict=True)]


def _codes(col: pd.Series, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (of ``rows`` only, when given) whose order is the values' text order, and
    the sorted values.

    Categorical columns are free (their codes are re-ranked); others are hashed once.
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        uniques = np.asarray(col.cat.categories.astype(str), dtype=object)
        codes = col.cat.codes.to_numpy()
        if len(uniques) == 1:  # one value (a single reporter, flow...): nothing to rank
            return np.zeros(len(codes) if rows is None else len(rows), np.int64), uniques
        codes = (codes if rows is None else codes[rows]).astype(np.int64)
    else:
        if rows is not None:
            col = col.iloc[rows]
        raw, idx = pd.factorize(col, sort=False)
        codes, uniques = raw.astype(np.int64), np.asarray(idx.astype(str), dtype=object)
    order = np.argsort(uniques.astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes] if len(codes) else codes, uniques[order]


def month_numbers(periods: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """'YYYY-MM' strings -> month numbers, parsing each distinct period once."""
    codes, uniques = _codes(periods, rows)
    lookup = np.array([period_to_month(p) for p in uniques], dtype=np.int64)
    return lookup[codes] if len(lookup) else np.zeros(len(periods), np.int64)


def period_bounds(observations: pd.DataFrame) -> tuple[int, int] | None:
    if observations.empty:
        return None
    p = observations["period"]
    if isinstance(p.dtype, pd.CategoricalDtype):
        codes = p.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(p.cat.categories)) > 0
        present = p.cat.categories[used]
        months = [period_to_month(x) for x in present]
        return min(months), max(months)
    return period_to_month(p.min()), period_to_month(p.max())


def _radix(parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Mixed-radix number of several code arrays: sorts like the tuple of codes."""
    out = np.zeros(len(parts[0][0]), dtype=np.int64)
    for codes, size in parts:
        if size > 1:  # a one-value column adds nothing to the number
            out *= size
            out += codes
    return out


def build_panel(observations: pd.DataFrame, first: int, last: int) -> Panel:
    """Series x months [first, last] from canonical observations (rows outside are ignored)."""
    obs = observations
    p = obs["period"]
    lo, hi = month_to_period(first), month_to_period(last)
    # "YYYY-MM" sorts like the months it names, so the cut needs no parsing of every row.
    if isinstance(p.dtype, pd.CategoricalDtype):
        cats = np.asarray(p.cat.categories.astype(str), dtype=object)
        keep_cat = (cats >= lo) & (cats <= hi)
        codes = p.cat.codes.to_numpy()
        wanted = np.flatnonzero(keep_cat)
        if len(wanted) and wanted[-1] - wanted[0] + 1 == len(wanted):
            # The wanted periods are a run of codes (categories in period order): two integer
            # compares per row instead of a lookup.
            mask = (codes >= wanted[0]) & (codes <= wanted[-1])
        else:
            mask = np.append(keep_cat, False)[codes]  # code -1 (missing) maps to False
    else:
        mask = ((p >= lo) & (p <= hi)).to_numpy(dtype=bool)
    # Only the rows of the wanted months are touched from here on (no copy of the frame).
    rows = None if mask.all() else np.flatnonzero(mask)
    n_cols = last - first + 1
    n_obs = len(obs) if rows is None else len(rows)

    # Series identity from order-preserving codes in (group..., partner) order, so sorting the
    # series numbers sorts by share group and then partner.
    coded = {name: _codes(obs[name], rows) for name in [*SERIES_KEY, "unit"]}
    sizes = {name: max(len(u), 1) for name, (_, u) in coded.items()}
    if np.prod([float(sizes[n]) for n in SERIES_KEY]) >= 2.0**62:  # pragma: no cover
        raise OverflowError("too many distinct series key values")
    order_cols = [*GROUP_KEY, "partner"]
    number = _radix([(coded[n][0], sizes[n]) for n in order_cols])
    capacity = int(np.prod([sizes[n] for n in order_cols], dtype=np.float64))
    if capacity <= max(4 * n_obs, 1 << 20):
        # Dense key space: mark the numbers present and count them (no hashing, no sort).
        present = np.zeros(capacity, dtype=bool)
        present[number] = True
        uniques = np.flatnonzero(present)
        series_code = (np.cumsum(present) - 1)[number]
    else:
        series_code, found = pd.factorize(number, sort=True)
        uniques = np.asarray(found, dtype=np.int64)
    n_series = len(uniques)

    # Decode each series' key codes back from its number.
    key_codes: dict[str, np.ndarray] = {}
    rest = uniques.copy()
    for name in reversed(order_cols):
        key_codes[name] = rest % sizes[name]
        rest //= sizes[name]
    first_row = np.zeros(n_series, dtype=np.int64)
    first_row[series_code[::-1]] = np.arange(n_obs - 1, -1, -1)
    key_codes["unit"] = coded["unit"][0][first_row] if n_obs else first_row
    keys = pd.DataFrame(
        {
            name: pd.Categorical.from_codes(
                key_codes[name], categories=pd.Index(coded[name][1], dtype=object)
            )
            for name in [*SERIES_KEY, "unit"]
        }
    )

    values = np.full((n_series, n_cols), np.nan)
    row_dtype = np.int32 if len(obs) < 2**31 else np.int64
    row_of = np.full((n_series, n_cols), -1, dtype=row_dtype)
    if n_obs:
        # One flat cell index per observation, used for both scatters.
        cell = series_code * n_cols
        cell += month_numbers(obs["period"], rows) - first
        value = obs["value"].to_numpy(dtype=np.float64)
        values.ravel()[cell] = value if rows is None else value[rows]
        row_of.ravel()[cell] = np.arange(n_obs) if rows is None else rows

    group_number = uniques // sizes["partner"]
    change = np.r_[True, group_number[1:] != group_number[:-1]] if n_series else np.array([], bool)
    group = np.cumsum(change) - 1
    report_order = np.argsort(
        _radix([(key_codes[n], sizes[n]) for n in SERIES_KEY])
        if n_series
        else np.array([], np.int64),
        kind="stable",
    )
    series_rank = np.empty(n_series, dtype=np.int64)
    series_rank[report_order] = np.arange(n_series)
    world_code = np.flatnonzero(coded["partner"][1] == WORLD)
    is_world = np.isin(key_codes["partner"], world_code)
    return Panel(
        keys=keys,
        values=values,
        month0=first,
        group=group,
        group_starts=np.flatnonzero(change),
        is_world=is_world,
        row_of=row_of,
        rows=obs if "source" in obs.columns else obs.assign(source=""),
        series_rank=series_rank,
    )
