"""Derived panels: the sums an aggregate defines, built from a panel as whole-array operations.

Every (member series, derived series) pair is one entry of a flat table made at the level of
distinct codes (prefix matches and group memberships are worked out once per commodity or
partner code, never per row) and expanded to the panel's rows with ``np.repeat``. Sums, counts
of members reported and counts of members expected are then ``np.add.reduceat`` over the pairs
sorted by derived series, in blocks of rows, so no Python loop runs per series or per month.

The derived panel holds, besides the sums a rule watches, the series needed to read them as a
published series is read: summing over commodity codes keeps every partner (WORLD included), so
shares and ranks of a prefix sum work; a partner group adds its row beside the individual
partners, and, like WORLD, a group row is an aggregate over partners: it takes no rank and is
left out of the partner sum that stands in for a missing WORLD total.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.engine.aggregates import Aggregate
from monitor.engine.groups import NO_BOUND_HIGH, NO_BOUND_LOW
from monitor.engine.panel import Panel
from monitor.model import SERIES_KEY, WORLD

log = logging.getLogger(__name__)

BLOCK_CELLS = 262_144  # member cells per block of the sums (bounds the temporaries)
MIRROR_FLOWS = {"export": "import", "import": "export"}


def _isin(col: pd.Series, values: tuple[str, ...]) -> np.ndarray:
    cat = col.array
    hit = np.append(np.asarray(cat.categories.isin(list(values)), dtype=bool), False)
    codes: np.ndarray = cat.codes
    return hit.take(codes)


def _categories(keys: pd.DataFrame, name: str) -> np.ndarray:
    return np.asarray(keys[name].array.categories, dtype=object)


def _codes(keys: pd.DataFrame, name: str) -> np.ndarray:
    codes: np.ndarray = keys[name].array.codes
    return codes.astype(np.int64)


def _expand(
    rows: np.ndarray, cat_of_row: np.ndarray, pair_cat: np.ndarray, n_cats: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each row repeated once per pair of its category: (row, pair index) for every match.

    ``pair_cat`` lists the category of each pair; pairs of one category are found through a
    count and a start per category (one bincount, one cumsum, one repeat)."""
    order = np.argsort(pair_cat, kind="stable")
    count = np.bincount(pair_cat, minlength=n_cats)
    start = np.cumsum(count) - count
    per_row = count[cat_of_row]
    rep = np.repeat(rows, per_row)
    position = np.arange(len(rep)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    return rep, order[start[np.repeat(cat_of_row, per_row)] + position]


@dataclass
class _Pairs:
    src: np.ndarray  # base panel row of each member, sorted by derived series
    lo: np.ndarray  # first month the member counts
    hi: np.ndarray  # last month the member counts
    starts: np.ndarray  # first pair of each derived series
    number: np.ndarray  # the derived series' key numbers (sorted, unique)


def derive(panel: Panel, agg: Aggregate) -> Panel:
    """The derived series of ``agg`` over the months of ``panel`` (same columns)."""
    keys = panel.keys
    mask = np.ones(len(keys), dtype=bool)
    for name, values in agg.base_select:
        if values is not None:
            mask &= _isin(keys[name], values)
    excluded = dict(agg.member_exclude)

    # Commodity: (category, derived code) pairs, over distinct codes only.
    ccats = _categories(keys, "commodity")
    if agg.commodity is not None:
        c_cat, c_out = agg.commodity.pairs(ccats)
    else:
        c_cat, c_out = np.arange(len(ccats)), ccats.copy()
    if "commodity" in excluded and len(c_cat):
        keep = ~np.isin(ccats[c_cat].astype(str), list(excluded["commodity"]))
        c_cat, c_out = c_cat[keep], c_out[keep]
    c_names, c_code = np.unique(c_out.astype(str), return_inverse=True)

    # Partner: every partner as itself, plus each group's members at their months.
    pcats = _categories(keys, "partner")
    position = {str(code): i for i, code in enumerate(pcats)}
    p_cat = [np.arange(len(pcats))]
    p_out = [pcats.astype(str)]
    p_lo = [np.full(len(pcats), NO_BOUND_LOW, dtype=np.int64)]
    p_hi = [np.full(len(pcats), NO_BOUND_HIGH, dtype=np.int64)]
    left_out = set(excluded.get("partner", ()))
    for g in agg.groups:
        spans = [m for m in g.members if m.code in position and m.code not in left_out]
        p_cat.append(np.array([position[m.code] for m in spans], dtype=np.int64))
        p_out.append(np.full(len(spans), g.name, dtype=object))
        p_lo.append(np.array([m.first for m in spans], dtype=np.int64))
        p_hi.append(np.array([m.last for m in spans], dtype=np.int64))
    p_names, p_code = np.unique(np.concatenate(p_out).astype(str), return_inverse=True)
    p_cat_all = np.concatenate(p_cat)
    p_lo_all, p_hi_all = np.concatenate(p_lo), np.concatenate(p_hi)
    blocs = {g.name for g in agg.groups}

    rows = np.flatnonzero(mask)
    crow = _codes(keys, "commodity")[rows]
    rows, c_pair = _expand(rows, crow, c_cat, len(ccats)) if len(rows) else (rows, rows)
    prow = _codes(keys, "partner")[rows]
    rows_c = np.arange(len(rows))
    idx, p_pair = _expand(rows_c, prow, p_cat_all, len(pcats)) if len(rows) else (rows, rows)
    src, c_pair = rows[idx], c_pair[idx]

    sizes = {
        "reporter": max(len(_categories(keys, "reporter")), 1),
        "commodity": max(len(c_names), 1),
        "flow": max(len(_categories(keys, "flow")), 1),
        "measure": max(len(_categories(keys, "measure")), 1),
        "partner": max(len(p_names), 1),
    }
    if np.prod([float(s) for s in sizes.values()]) >= 2.0**62:  # pragma: no cover
        raise OverflowError("too many distinct derived series key values")
    parts = {
        "reporter": _codes(keys, "reporter")[src],
        "commodity": c_code[c_pair],
        "flow": _codes(keys, "flow")[src],
        "measure": _codes(keys, "measure")[src],
        "partner": p_code[p_pair],
    }
    number = np.zeros(len(src), dtype=np.int64)
    for name in ("reporter", "commodity", "flow", "measure", "partner"):  # share group, partner
        number *= sizes[name]
        number += parts[name]
    order = np.argsort(number, kind="stable")
    number = number[order]
    new = np.r_[True, number[1:] != number[:-1]] if len(number) else np.zeros(0, bool)
    pairs = _Pairs(
        src=src[order],
        lo=p_lo_all[p_pair][order],
        hi=p_hi_all[p_pair][order],
        starts=np.flatnonzero(new),
        number=number[new],
    )
    return _panel(panel, agg, pairs, sizes, c_names, p_names, blocs)


def _panel(
    panel: Panel,
    agg: Aggregate,
    pairs: _Pairs,
    sizes: dict[str, int],
    c_names: np.ndarray,
    p_names: np.ndarray,
    blocs: set[str],
) -> Panel:
    keys = panel.keys
    n_der, n_cols = len(pairs.number), panel.values.shape[1]
    months = panel.month0 + np.arange(n_cols)
    values = np.full((n_der, n_cols), np.nan)
    reported = np.zeros((n_der, n_cols), dtype=np.int32)
    expected = np.zeros((n_der, n_cols), dtype=np.int32)
    ends = np.r_[pairs.starts[1:], len(pairs.src)]
    unit_codes = _codes(keys, "unit")[pairs.src]
    unit = np.zeros(n_der, dtype=np.int64)
    mixed = np.zeros(n_der, dtype=bool)
    if n_der:
        unit = np.minimum.reduceat(unit_codes, pairs.starts)
        mixed = np.maximum.reduceat(unit_codes, pairs.starts) != unit
    sources = None
    if panel.source_codes is not None:
        sources = np.full((n_der, n_cols), -1, dtype=panel.source_codes.dtype)
    window = agg.expect_within + 1  # t and the expect_within months before it
    per_block = max(1, BLOCK_CELLS // max(n_cols, 1))
    block_of = pairs.starts // per_block
    cuts: list[int] = (
        np.flatnonzero(np.r_[True, block_of[1:] != block_of[:-1]]).tolist() if n_der else []
    )
    for d0, d1 in itertools.pairwise([*cuts, n_der]):
        p0, p1 = int(pairs.starts[d0]), int(ends[d1 - 1])
        vals = panel.values[pairs.src[p0:p1]]
        lo, hi = pairs.lo[p0:p1], pairs.hi[p0:p1]
        dated = np.flatnonzero((lo > NO_BOUND_LOW) | (hi < NO_BOUND_HIGH))
        inside = None
        if len(dated):
            inside = np.ones(vals.shape, dtype=bool)
            inside[dated] = (months >= lo[dated, None]) & (months <= hi[dated, None])
            vals[~inside] = np.nan
        present = ~np.isnan(vals)
        local = pairs.starts[d0:d1] - p0
        sums = np.add.reduceat(np.where(present, vals, 0.0), local, axis=0)
        count = np.add.reduceat(present, local, axis=0, dtype=np.int32)
        # Expected: members with a value at t or in the expect_within months before it (and
        # belonging to the group at t): a running count over the months, one cumsum.
        running = np.cumsum(present, axis=1, dtype=np.int32)
        recent = running.copy()
        recent[:, window:] -= running[:, :-window]
        seen = recent > 0
        if inside is not None:
            seen &= inside
        expected[d0:d1] = np.add.reduceat(seen, local, axis=0, dtype=np.int32)
        reported[d0:d1] = count
        values[d0:d1] = np.where(count > 0, sums, np.nan)
        if sources is not None and panel.source_codes is not None:
            codes = panel.source_codes[pairs.src[p0:p1]].astype(np.int64)
            codes[~present] = -1
            sources[d0:d1] = np.maximum.reduceat(codes, local, axis=0)
    if mixed.any():
        # Summing kilograms with pieces means nothing: such a derived series has no values.
        values[mixed] = np.nan
        log.warning(
            "%d derived series mix units across their members and are left without values",
            int(mixed.sum()),
        )
    if agg.incomplete == "skip":
        values[reported < expected] = np.nan

    # Keys back from the numbers (partner is the last digit, then measure, flow, commodity...).
    key_codes: dict[str, np.ndarray] = {}
    rest = pairs.number.copy()
    for name in ("partner", "measure", "flow", "commodity", "reporter"):
        key_codes[name] = rest % sizes[name]
        rest //= sizes[name]
    categories = {
        "reporter": _categories(keys, "reporter"),
        "partner": p_names.astype(object),
        "commodity": c_names.astype(object),
        "flow": _categories(keys, "flow"),
        "measure": _categories(keys, "measure"),
        "unit": _categories(keys, "unit"),
    }
    key_codes["unit"] = unit
    frame = pd.DataFrame(
        {
            name: pd.Categorical.from_codes(
                key_codes[name], categories=pd.Index(categories[name], dtype=object)
            )
            for name in [*SERIES_KEY, "unit"]
        }
    )
    group_number = pairs.number // sizes["partner"]
    change = np.r_[True, group_number[1:] != group_number[:-1]] if n_der else np.zeros(0, bool)
    partner_names = categories["partner"][key_codes["partner"]] if n_der else np.array([], object)
    is_bloc = np.isin(partner_names.astype(str), list(blocs)) if n_der else np.zeros(0, bool)
    is_world = (partner_names == WORLD) & ~is_bloc if n_der else np.zeros(0, bool)
    rank_number = np.zeros(n_der, dtype=np.int64)
    rank_sizes = {**sizes}
    for name in SERIES_KEY:
        rank_number *= rank_sizes[name]
        rank_number += key_codes[name]
    series_rank = np.empty(n_der, dtype=np.int64)
    series_rank[np.argsort(rank_number, kind="stable")] = np.arange(n_der)
    return Panel(
        keys=frame,
        values=values,
        month0=panel.month0,
        group=np.cumsum(change) - 1,
        group_starts=np.flatnonzero(change),
        is_world=is_world,
        source_codes=sources,
        source_names=panel.source_names,
        series_rank=series_rank,
        is_bloc=is_bloc,
        reported=reported,
        expected=expected,
        members_noun=agg.noun,
    )


def mirror_rows(panel: Panel, mirror: Panel, flow: str | None) -> np.ndarray:
    """For each row of ``panel``: the row of ``mirror`` holding its mirror series (reporter and
    partner swapped, the opposite flow, same commodity, measure and unit), -1 when none."""
    out = np.full(len(panel.keys), -1, dtype=np.int64)
    if not len(panel.keys) or not len(mirror.keys):
        return out

    def text(frame: pd.DataFrame, name: str) -> np.ndarray:
        col = frame[name].array
        codes: np.ndarray = col.codes
        return np.asarray(col.categories, dtype=object).take(codes)

    k, m = panel.keys, mirror.keys
    flows = text(k, "flow")
    wanted_flow = (
        np.full(len(flows), flow, dtype=object)
        if flow is not None
        else np.array([MIRROR_FLOWS.get(str(f), "") for f in flows], dtype=object)
    )
    index = pd.MultiIndex.from_arrays(
        [text(m, n) for n in ("reporter", "partner", "commodity", "flow", "measure")]
    )
    found = index.get_indexer(
        pd.MultiIndex.from_arrays(
            [
                text(k, "partner"),
                text(k, "reporter"),
                text(k, "commodity"),
                wanted_flow,
                text(k, "measure"),
            ]
        )
    )
    same_unit = np.zeros(len(found), dtype=bool)
    hit = found >= 0
    same_unit[hit] = text(m, "unit")[found[hit]] == text(k, "unit")[hit]
    out[hit & same_unit] = found[hit & same_unit]
    return out
