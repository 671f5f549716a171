"""The observation table as a dense series x months matrix (NaN = missing, never zero).

Conditions are whole-array operations on this matrix, so evaluating a million series costs a few
numpy passes. Only the months a run needs are materialised: evaluating one new month builds a
``series x (max lookback + 1)`` matrix no matter how long the history is.

Per observation row, building the panel costs a handful of passes over small integer codes: one
gather to cut the months (on the period's category codes, never its text), a gather per key
column that has more than one value, one scatter of the values and one of the source codes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from monitor.model import SERIES_KEY, WORLD, month_to_period, period_to_month

GROUP_KEY = ["reporter", "commodity", "flow", "measure"]  # what a partner's share is taken of

# Up to this many target months the panel is stored months-major (Fortran order): evaluating
# the newest month then reads each look-back month as one contiguous column instead of one
# cache line per series. Backtests (many targets) keep series-major rows for their blocks.
COLUMN_MAJOR_TARGETS = 12


@dataclass
class Panel:
    """Observations as a series x months matrix, with each series' key, share group and the
    source of each cell; a derived panel also carries its members' coverage."""

    keys: pd.DataFrame  # one row per series: SERIES_KEY + unit (categorical columns)
    values: np.ndarray  # (n_series, n_months) float64, NaN where no observation
    month0: int  # month number (see monitor.model.period_to_month) of column 0
    group: np.ndarray  # (n_series,) int: id of (reporter, commodity, flow, measure)
    group_starts: np.ndarray  # first row of each group (rows are sorted by group)
    is_world: np.ndarray  # (n_series,) bool: partner == WORLD
    # Source of each cell as a code into ``source_names`` (-1 none); None when every
    # observation has the same source (``source_names[0]``), the usual case for one store.
    source_codes: np.ndarray | None
    source_names: np.ndarray  # object array of source strings
    series_rank: np.ndarray  # position of each series in (reporter, partner, ...) order
    # Derived panels (derived.py) only: partner-group rows, which like WORLD are aggregates over
    # partners (no rank, not in the partner sum), and per cell how many members reported and
    # how many were expected ("n of m codes reported").
    is_bloc: np.ndarray | None = None
    reported: np.ndarray | None = None
    expected: np.ndarray | None = None
    members_noun: str = ""

    @functools.cached_property
    def aggregate_partner(self) -> np.ndarray:
        """Rows that are aggregates over partners: WORLD and partner groups."""
        return self.is_world if self.is_bloc is None else self.is_world | self.is_bloc

    @property
    def n_months(self) -> int:
        """Columns of ``values``: consecutive months from ``month0``."""
        return int(self.values.shape[1])

    def key_values(self, name: str, series: np.ndarray) -> list[str]:
        """The ``name`` key (or unit) of the given series, as plain strings."""
        col = self.keys[name].array
        names: list[str] = np.asarray(col.categories, dtype=object)[col.codes[series]].tolist()
        return names

    def take(self, series: np.ndarray) -> Panel:
        """The given series only (ascending rows), every per-series array cut alike: what a
        partition sends back of a panel is the rows its alerts fired on."""
        group = self.group[series]
        change = np.r_[True, group[1:] != group[:-1]] if len(series) else np.zeros(0, bool)

        def rows(matrix: np.ndarray | None) -> np.ndarray | None:
            return None if matrix is None else matrix[series]

        return Panel(
            keys=self.keys.iloc[series].reset_index(drop=True),
            values=self.values[series],
            month0=self.month0,
            group=np.cumsum(change) - 1,
            group_starts=np.flatnonzero(change),
            is_world=self.is_world[series],
            source_codes=rows(self.source_codes),
            source_names=self.source_names,
            series_rank=self.series_rank[series],
            is_bloc=rows(self.is_bloc),
            reported=rows(self.reported),
            expected=rows(self.expected),
            members_noun=self.members_noun,
        )

    def source_at(self, series: np.ndarray, cols: np.ndarray) -> list[str]:
        """The source of the observation behind each (series, column) cell ("" when none)."""
        if self.source_codes is None:
            idx = np.where(np.isnan(self.values[series, cols]), -1, 0)
        else:
            idx = self.source_codes[series, cols].astype(np.int64)
        names = np.append(self.source_names, "")  # code -1 -> ""
        sources: list[str] = names[idx].tolist()
        return sources


def _small_int(n: int) -> type[np.signedinteger]:
    """The narrowest signed integer type holding 0..n (and -1)."""
    for dtype in (np.int8, np.int16, np.int32):
        if n < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _codes(col: pd.Series, rows: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray]:
    """Integer codes of ``rows`` (all when None) whose order is the values' text order, and the
    sorted distinct values. Codes are None when the column can hold only one value.

    Categorical columns are free: their codes are used as they are when the categories are
    already sorted (the usual case), else re-ranked through a small lookup. Others are hashed.
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        uniques = np.asarray(col.cat.categories.astype(str), dtype=object)
        if len(uniques) <= 1:  # one value (a single reporter, flow...): nothing to rank
            return None, uniques
        codes = col.cat.codes.to_numpy()
        if rows is not None:
            codes = codes[rows]
    else:
        if rows is not None:
            col = col.iloc[rows]
        raw, idx = pd.factorize(col, sort=False)
        uniques = np.asarray(idx.astype(str), dtype=object)
        codes = raw.astype(_small_int(len(uniques)), copy=False)
    order = np.argsort(uniques.astype(str), kind="stable")
    if np.array_equal(order, np.arange(len(order))):
        return codes, uniques
    rank = np.empty(len(order), dtype=_small_int(len(order)))
    rank[order] = np.arange(len(order))
    return rank[codes], uniques[order]


def month_numbers(periods: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """'YYYY-MM' strings -> month numbers, parsing each distinct period once."""
    codes, uniques = _codes(periods, rows)
    lookup = np.array([period_to_month(p) for p in uniques], dtype=np.int64)
    if codes is None:
        n = len(periods) if rows is None else len(rows)
        return np.full(n, lookup[0] if len(lookup) else 0, dtype=np.int64)
    return lookup[codes] if len(lookup) else np.zeros(len(codes), np.int64)


def period_bounds(observations: pd.DataFrame) -> tuple[int, int] | None:
    """(first, last) month numbers of the periods present (unused categories ignored); None
    for no observations."""
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


def _month_columns(p: pd.Series, first: int, n_cols: int) -> tuple[np.ndarray | None, np.ndarray]:
    """(rows of the months [first, first + n_cols), their column numbers).

    Rows is None when every row is wanted. A categorical period costs one gather of a
    per-category column table (unwanted categories map to -1) and one compare per row;
    categories all inside the range need no per-row test at all.
    """
    if isinstance(p.dtype, pd.CategoricalDtype):
        cats = p.cat.categories
        col_of = np.array([period_to_month(c) - first for c in cats], dtype=np.int64)
        col_of[(col_of < 0) | (col_of >= n_cols)] = -1
        table = np.append(col_of, -1).astype(_small_int(n_cols))  # code -1 (missing) -> -1
        column = table[p.cat.codes.to_numpy()]
        if (col_of >= 0).all():
            return None, column
        kept = np.flatnonzero(column >= 0)
        return (None, column) if len(kept) == len(column) else (kept, column[kept])
    lo, hi = month_to_period(first), month_to_period(first + n_cols - 1)
    # "YYYY-MM" sorts like the months it names, so the cut needs no parsing of every row.
    mask = ((p >= lo) & (p <= hi)).to_numpy(dtype=bool)
    rows: np.ndarray | None = None if mask.all() else np.flatnonzero(mask)
    return rows, month_numbers(p, rows) - first


def _radix(
    parts: list[tuple[np.ndarray | None, int]], n: int, dtype: type = np.int64
) -> np.ndarray:
    """Mixed-radix number of several code arrays: sorts like the tuple of codes."""
    out: np.ndarray = np.zeros(n, dtype=dtype)
    for codes, size in parts:
        if size > 1 and codes is not None:  # a one-value column adds nothing to the number
            out *= size
            out += codes
    return out


def build_panel(
    observations: pd.DataFrame, first: int, last: int, n_targets: int | None = None
) -> Panel:
    """Series x months [first, last] from canonical observations (rows outside are ignored).

    ``n_targets`` (how many months will be evaluated) picks the memory layout; None = all.
    """
    obs = observations
    n_cols = last - first + 1
    rows, column = _month_columns(obs["period"], first, n_cols)
    # Only the rows of the wanted months are touched from here on (no copy of the frame).
    n_obs = len(obs) if rows is None else len(rows)

    # Series identity from order-preserving codes in (group..., partner) order, so sorting the
    # series numbers sorts by share group and then partner.
    coded = {name: _codes(obs[name], rows) for name in [*SERIES_KEY, "unit"]}
    sizes = {name: max(len(u), 1) for name, (_, u) in coded.items()}
    if np.prod([float(sizes[n]) for n in SERIES_KEY]) >= 2.0**62:  # pragma: no cover
        raise OverflowError("too many distinct series key values")
    order_cols = [*GROUP_KEY, "partner"]
    capacity = int(np.prod([sizes[n] for n in order_cols], dtype=np.float64))
    # int32 per-row numbers when the key space allows: half the memory of the widest arrays.
    number_dtype = np.int32 if capacity < 2**31 else np.int64
    number = _radix([(coded[n][0], sizes[n]) for n in order_cols], n_obs, number_dtype)
    if capacity <= max(4 * n_obs, 1 << 20):
        # Dense key space: mark the numbers present and count them (no hashing, no sort).
        present = np.zeros(capacity, dtype=bool)
        present[number] = True
        uniques = np.flatnonzero(present)
        if len(uniques) == capacity:  # every number present: it is the series code already
            series_code = number
        else:
            code_of: np.ndarray = np.cumsum(present, dtype=number_dtype)
            code_of -= 1
            series_code = code_of[number]
            del code_of
        del present
    else:
        series_code, found = pd.factorize(number, sort=True)
        uniques = np.asarray(found, dtype=np.int64)
    del number
    n_series = len(uniques)

    # Decode each series' key codes back from its number.
    key_codes: dict[str, np.ndarray] = {}
    rest = uniques.copy()
    for name in reversed(order_cols):
        key_codes[name] = rest % sizes[name]
        rest //= sizes[name]
    unit_codes = coded["unit"][0]
    if unit_codes is None or not n_obs:
        key_codes["unit"] = np.zeros(n_series, dtype=np.int64)
    else:
        first_row = np.zeros(n_series, dtype=np.int64)
        first_row[series_code[::-1]] = np.arange(n_obs - 1, -1, -1)
        key_codes["unit"] = unit_codes[first_row]
    for name in (*SERIES_KEY, "unit"):
        coded[name] = (None, coded[name][1])  # free the per-row codes early
    keys = pd.DataFrame(
        {
            name: pd.Categorical.from_codes(
                key_codes[name], categories=pd.Index(coded[name][1], dtype=object)
            )
            for name in [*SERIES_KEY, "unit"]
        }
    )

    order: Literal["C", "F"] = (
        "F" if n_targets is not None and n_targets <= COLUMN_MAJOR_TARGETS else "C"
    )
    values = np.full((n_series, n_cols), np.nan, order=order)
    # One flat cell index per observation, used for both scatters (layout-aware).
    cell = (column if order == "F" else series_code).astype(np.int64)
    cell *= n_series if order == "F" else n_cols
    cell += series_code if order == "F" else column
    del series_code, column
    # Two observations for one cell would silently keep one: count the cells filled (a bool per
    # cell, no sort) and name the first duplicate only when there is one.
    filled = np.zeros(values.size, dtype=bool)
    filled[cell] = True
    if int(np.count_nonzero(filled)) != len(cell):
        raise DuplicateObservation(_first_duplicate(obs, rows, cell))
    del filled
    value = obs["value"].to_numpy(dtype=np.float64)
    values.ravel(order="K")[cell] = value if rows is None else value[rows]
    source_codes, source_names = _sources(obs, rows, cell, values.shape, order)
    del cell, rows

    group_number = uniques // sizes["partner"]
    change = np.r_[True, group_number[1:] != group_number[:-1]] if n_series else np.array([], bool)
    group = np.cumsum(change) - 1
    report_order = np.argsort(
        _radix([(key_codes[n], sizes[n]) for n in SERIES_KEY], n_series)
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
        source_codes=source_codes,
        source_names=source_names,
        series_rank=series_rank,
    )


class DuplicateObservation(ValueError):
    """The observations give one series two values for one month."""


def _first_duplicate(obs: pd.DataFrame, rows: np.ndarray | None, cell: np.ndarray) -> str:
    order = np.argsort(cell, kind="stable")
    twice = np.flatnonzero(cell[order][1:] == cell[order][:-1])
    at = int(order[twice[0] + 1])
    row = obs.iloc[at if rows is None else int(rows[at])]
    key = ", ".join(f"{k}={row[k]}" for k in [*SERIES_KEY, "period"])
    return f"duplicate observation for {key}"


def _sources(
    obs: pd.DataFrame,
    rows: np.ndarray | None,
    cell: np.ndarray,
    shape: tuple[int, int],
    order: Literal["C", "F"],
) -> tuple[np.ndarray | None, np.ndarray]:
    """Each cell's source as a small code matrix, or None when there is only one source.

    A matrix of 1-2 byte codes replaces a matrix of row numbers: alerts only need the source
    string, and one store usually has one or a few sources.
    """
    if "source" not in obs.columns:
        return None, np.array([""], dtype=object)
    codes, names = _codes(obs["source"], rows)
    if codes is None or len(names) <= 1:
        return None, names if len(names) else np.array([""], dtype=object)
    out = np.full(shape, -1, dtype=_small_int(len(names)), order=order)
    out.ravel(order="K")[cell] = codes
    return out, names
