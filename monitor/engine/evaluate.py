"""evaluate(): rules x observations -> alerts, vectorised over every series and month.

The observation table becomes one dense series x months matrix (``panel.py``); each rule selects
rows, its condition returns a fired matrix, and only the fired cells become Alert objects. The
loop is over rules and condition members, never over series or periods.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from monitor.engine.aggregates import Aggregate
from monitor.engine.conditions import EVALUATORS, Labels, Result, Totals, View
from monitor.engine.conditions.base import MirrorSide
from monitor.engine.derived import MIRROR_FLOWS, derive, mirror_rows
from monitor.engine.panel import GROUP_KEY, Panel, build_panel, period_bounds
from monitor.engine.rules import Condition, Rule, RuleSet
from monitor.engine.spec import CONDITIONS
from monitor.model import SERIES_KEY, Alert, month_to_period, period_to_month

# Cells per block of rows: bounds every condition's temporaries (~10 float arrays of a block).
# 256k cells (2 MB per array) keeps them small against the observations even for small frames.
CHUNK_CELLS = 262_144
# A months-major panel (a few target months) is read by gathering rows per look-back month, so
# it takes bigger blocks: temporaries there are rows x (<= 12) targets anyway.
COLUMN_CHUNK_CELLS = 4_000_000


def _isin(col: pd.Series, values: Iterable[str]) -> np.ndarray:
    """``col.isin(values)`` as a bool array; a categorical column is tested per category and
    then looked up by code, so a million series cost one small gather."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        hit = np.append(col.cat.categories.isin(list(values)), False)  # code -1 -> False
        return hit[col.cat.codes.to_numpy()]
    return col.isin(values).to_numpy()


def select_rows(
    keys: pd.DataFrame,
    rule: Rule,
    cache: dict[tuple[str, frozenset[str]], np.ndarray] | None = None,
) -> np.ndarray:
    """Row numbers of the series a rule watches (select, minus exclude).

    ``cache`` shares the per-key masks between the rules of one evaluation (packs repeat
    their defaults' selectors in every rule).
    """
    memo = {} if cache is None else cache

    def hit(name: str, values: Iterable[str]) -> np.ndarray:
        key = (name, frozenset(values))
        if key not in memo:
            memo[key] = _isin(keys[name], values)
        return memo[key]

    mask = np.ones(len(keys), dtype=bool)
    for name, values in rule.select.items():
        if values is not None:
            mask &= hit(name, values)
    for name, values in rule.exclude.items():
        mask &= ~hit(name, values)
    return np.flatnonzero(mask)


def _run(view: View, cond: Condition) -> Result:
    if cond.type in ("all", "any"):
        results = [_run(view, m) for m in cond.members]
        fired = results[0].fired.copy()
        context: dict[str, Any] = {}
        period_keys: set[str] = set()
        for r in results:
            fired = (fired & r.fired) if cond.type == "all" else (fired | r.fired)
            for k, v in r.context.items():
                context.setdefault(k, v)  # the first member wins a clash
            period_keys |= r.period_keys
        return Result(fired, context, frozenset(period_keys))
    return EVALUATORS[cond.type](view, cond)


def _plain(value: Any, is_period: bool) -> Any:
    """JSON-safe plain Python values (no numpy scalars, NaN becomes None)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return month_to_period(int(value)) if is_period else value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return month_to_period(value) if is_period else value
    return value


RANK_CELLS = 2_000_000


def _ranks(
    panel: Panel, rows: np.ndarray, cols: np.ndarray, batch_cells: int = RANK_CELLS
) -> tuple[np.ndarray, np.ndarray]:
    """Ranks of fired cells. Each (group, month) block holding a fired cell is ranked once,
    however many of its cells fired, and blocks are taken in batches of ~RANK_CELLS panel
    cells: the cost is O(n log n) in the partners of the blocks concerned."""
    if not len(rows):
        return np.array([], dtype=float), np.array([], dtype=float)
    n_cols = panel.values.shape[1]
    pairs, inverse = np.unique(panel.group[rows] * n_cols + cols, return_inverse=True)
    bounds = np.r_[panel.group_starts, len(panel.group)]
    group = pairs // n_cols
    sizes = bounds[group + 1] - bounds[group]
    batch = np.cumsum(sizes) // batch_cells
    if batch[-1] == 0:
        return _ranks_batch(panel, rows, cols)
    rank = np.empty(len(rows))
    count = np.empty(len(rows))
    edges = np.flatnonzero(np.diff(batch)) + 1
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, len(pairs)], strict=True):
        sel = (inverse >= lo) & (inverse < hi)
        rank[sel], count[sel] = _ranks_batch(panel, rows[sel], cols[sel])
    return rank, count


def _ranks_batch(panel: Panel, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank (1 = largest, ties share the best rank, WORLD excluded) among the partners of the
    same reporter/commodity/flow/measure at each (row, col), and how many partners were ranked.

    Only the (group, month) blocks that hold a fired cell are gathered and sorted, so the cost
    follows the alerts, not the size of the panel.
    """
    if not len(rows):
        return np.array([], dtype=float), np.array([], dtype=float)
    n_cols = panel.values.shape[1]
    group = panel.group[rows]
    pair_key, inverse = np.unique(group * n_cols + cols, return_inverse=True)
    pair_group, pair_col = pair_key // n_cols, pair_key % n_cols
    starts = panel.group_starts[pair_group]
    ends = np.r_[panel.group_starts[1:], len(panel.group)][pair_group]
    sizes = ends - starts
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    # Every row of every block, as one flat gather: row = block start + position in block.
    pair_of_cell = np.repeat(np.arange(len(pair_key)), sizes)
    cell_rows = starts[pair_of_cell] + np.arange(sizes.sum()) - offsets[pair_of_cell]
    vals = panel.values[cell_rows, pair_col[pair_of_cell]]
    valid = ~np.isnan(vals) & ~panel.aggregate_partner[cell_rows]
    ranked = np.bincount(pair_of_cell[valid], minlength=len(pair_key))
    sort_vals = np.where(valid, -vals, np.inf)  # invalid cells sort last
    order = np.lexsort((sort_vals, pair_of_cell))
    s_pair, s_val = pair_of_cell[order], sort_vals[order]
    position = np.arange(len(order))
    new_run = np.r_[True, (s_pair[1:] != s_pair[:-1]) | (s_val[1:] != s_val[:-1])]
    run_start = np.maximum.accumulate(np.where(new_run, position, 0))
    rank_sorted = run_start - offsets[s_pair] + 1
    rank_cell = np.empty(len(order), dtype=np.float64)
    rank_cell[order] = np.where(np.isfinite(s_val), rank_sorted, np.nan)
    mine = offsets[inverse] + rows - starts[inverse]
    return rank_cell[mine], ranked[inverse].astype(np.float64)


@dataclass
class _Fired:
    """One rule's fired cells as columns (nothing per alert until asked for)."""

    rule: Rule
    panel: Panel  # the panel the rows belong to (the observations', or a derived one)
    rows: np.ndarray  # panel rows of the series
    months: np.ndarray  # month numbers
    context: dict[str, Any]  # name -> per-cell array, Labels cut to the cells, or a scalar
    period_keys: frozenset[str]
    rank: np.ndarray  # float, NaN = not ranked
    partners: np.ndarray  # float
    sort: np.ndarray  # int64: month | rule | series order

    def __len__(self) -> int:
        return len(self.rows)


def _cut(data: Any, ri: np.ndarray, ti: np.ndarray) -> Any:
    """A context field for the fired cells only."""
    if isinstance(data, Coverage):
        return Coverage(data.reported[ri, ti], data.expected[ri, ti], data.noun)
    if isinstance(data, Labels):
        return Labels(data.codes[ri, ti], data.labels)
    if isinstance(data, np.ndarray) and data.ndim == 2:
        return data[ri, ti]
    return data


def _fired(rule: Rule, panel: Panel, view: View, result: Result, order_key: int) -> _Fired | None:
    ri, ti = np.nonzero(result.fired)
    if not len(ri):
        return None
    rows = view.rows[ri]
    months = view.months[ti]
    rank, partners = _ranks(panel, rows, months - panel.month0)
    # month | rule (16 bits) | series (32 bits): one layout for every panel of an evaluation.
    sort = (months.astype(np.int64) << 48) + (order_key << 32) + panel.series_rank[rows]
    return _Fired(
        rule=rule,
        panel=panel,
        rows=rows,
        months=months.astype(np.int64),
        context={name: _cut(data, ri, ti) for name, data in result.context.items()},
        period_keys=result.period_keys,
        rank=rank,
        partners=partners,
        sort=sort,
    )


@dataclass
class Coverage:
    """Members reported and expected per cell, shown as "n of m codes reported"."""

    reported: np.ndarray
    expected: np.ndarray
    noun: str

    def text(self) -> list[str]:
        """Each cell's "n of m codes reported"; m is shown as at least n (an unexpected member
        may report)."""
        return [
            f"{n} of {max(m, n)} {self.noun} reported"
            for n, m in zip(self.reported.tolist(), self.expected.tolist(), strict=True)
        ]


def _plain_column(data: Any, n: int, is_period: bool) -> list[Any]:
    """One context field as JSON-safe plain Python values."""
    if isinstance(data, Coverage):
        return data.text()
    if isinstance(data, Labels):
        return [data.labels[c] for c in data.codes.tolist()]
    if not isinstance(data, np.ndarray):
        return [_plain(data, is_period)] * n
    if is_period:
        return [month_to_period(int(m)) for m in data.tolist()]
    if data.dtype.kind == "f":
        return [None if x != x or x in (math.inf, -math.inf) else x for x in data.tolist()]
    plain: list[Any] = data.tolist()
    return plain


class AlertTable:
    """Every alert of an evaluation as columns; Alert objects only when asked for.

    ``len()`` and ``counts()`` cost nothing per alert; ``batches()`` materializes in the
    engine's order (period, rule, series) a batch at a time, so a backtest can stream millions.
    """

    def __init__(self, panel: Panel | None, fired: list[_Fired]) -> None:
        self.panel = panel  # the observations' panel (fired cells may be in derived ones)
        self._fired = fired
        self._order: np.ndarray | None = None

    def __len__(self) -> int:
        return sum(len(f) for f in self._fired)

    def counts(self) -> dict[str, int]:
        """Alerts per rule id, only rules that fired; no Alert is made."""
        out: dict[str, int] = {}
        for f in self._fired:
            out[f.rule.id] = out.get(f.rule.id, 0) + len(f)
        return out

    def periods(self) -> list[str]:
        """The periods (``YYYY-MM``) with at least one alert, sorted; no Alert is made."""
        months = {int(m) for f in self._fired for m in np.unique(f.months).tolist()}
        return [month_to_period(m) for m in sorted(months)]

    def _sorted(self) -> np.ndarray:
        """(block, index in block) of every alert, in the engine's order."""
        if self._order is None:
            block = (
                np.concatenate(
                    [np.full(len(f), i, dtype=np.int64) for i, f in enumerate(self._fired)]
                )
                if self._fired
                else np.empty(0, np.int64)
            )
            index = (
                np.concatenate([np.arange(len(f), dtype=np.int64) for f in self._fired])
                if self._fired
                else np.empty(0, np.int64)
            )
            sort = np.concatenate([f.sort for f in self._fired]) if self._fired else index
            order = np.argsort(sort, kind="stable")
            self._order = np.stack([block[order], index[order]])
        return self._order

    def batches(self, size: int = 50_000) -> Iterator[list[Alert]]:
        """The alerts in the engine's order, ``size`` at a time; each batch is made only when
        the iteration reaches it."""
        order = self._sorted()
        for start in range(0, order.shape[1], size):
            blocks, index = order[0, start : start + size], order[1, start : start + size]
            out: list[Alert | None] = [None] * len(blocks)
            for b in np.unique(blocks).tolist():
                where = np.flatnonzero(blocks == b)
                made = self._materialize(self._fired[b], index[where])
                for position, alert in zip(where.tolist(), made, strict=True):
                    out[position] = alert
            yield out  # type: ignore[misc]

    def __iter__(self) -> Iterator[Alert]:
        for batch in self.batches():
            yield from batch

    def alerts(self) -> list[Alert]:
        """Every alert, in the engine's order, made all at once (a backtest uses ``batches``)."""
        return list(self)

    def compact(self) -> AlertTable:
        """The same alerts, each panel cut to the series that fired (a partition evaluated
        elsewhere sends back this much, not its whole panels)."""
        used: dict[int, np.ndarray] = {}
        small: dict[int, Panel] = {}
        for f in self._fired:
            key = id(f.panel)
            used[key] = np.union1d(used.get(key, np.empty(0, np.int64)), f.rows)
        for f in self._fired:
            key = id(f.panel)
            if key not in small:
                small[key] = f.panel.take(used[key])
        fired = [
            replace(f, panel=small[id(f.panel)], rows=np.searchsorted(used[id(f.panel)], f.rows))
            for f in self._fired
        ]
        return AlertTable(None, fired)

    def _materialize(self, f: _Fired, idx: np.ndarray) -> list[Alert]:
        panel = f.panel
        n = len(idx)
        rows, months = f.rows[idx], f.months[idx]
        columns = {
            name: _plain_column(_cut1(data, idx), n, name in f.period_keys)
            for name, data in f.context.items()
        }
        columns["rank"] = [None if x != x else int(x) for x in f.rank[idx].tolist()]
        columns["partners_ranked"] = [0 if x != x else int(x) for x in f.partners[idx].tolist()]
        values = panel.values[rows, months - panel.month0].tolist()
        keys = {name: panel.key_values(name, rows) for name in [*SERIES_KEY, "unit"]}
        sources = panel.source_at(rows, months - panel.month0)
        periods = [month_to_period(m) for m in months.tolist()]
        names = list(columns)
        rule = f.rule
        ctype = rule.condition.type
        labels = dict(rule.labels)
        out = []
        for i in range(n):
            context = {"condition": ctype}
            for k in names:
                context[k] = columns[k][i]
            out.append(
                Alert(
                    rule_id=rule.id,
                    period=periods[i],
                    reporter=keys["reporter"][i],
                    partner=keys["partner"][i],
                    commodity=keys["commodity"][i],
                    flow=keys["flow"][i],
                    measure=keys["measure"][i],
                    value=values[i],
                    unit=keys["unit"][i],
                    severity=rule.severity,
                    summary=rule.summary,
                    labels=dict(labels),
                    context=context,
                    source=sources[i],
                    template=rule.template,
                )
            )
        return out


def _cut1(data: Any, idx: np.ndarray) -> Any:
    if isinstance(data, Coverage):
        return Coverage(data.reported[idx], data.expected[idx], data.noun)
    if isinstance(data, Labels):
        return Labels(data.codes[idx], data.labels)
    if isinstance(data, np.ndarray):
        return data[idx]
    return data


def concat_tables(tables: Sequence[AlertTable]) -> AlertTable:
    """The alerts of evaluations over disjoint sets of series (partitions of one evaluation,
    same rules and periods) as one table, in the order one evaluation of all of them gives:
    period, rule, series.

    A series' place among the series is its key text order, the order ``series_rank`` follows
    inside one panel, so each block's sort key is rebuilt with a rank over every table.
    """
    fired = [f for t in tables for f in t._fired]
    if not fired:
        return AlertTable(None, [])
    panels: dict[int, Panel] = {}
    used: dict[int, np.ndarray] = {}
    for f in fired:
        key = id(f.panel)
        panels[key] = f.panel
        used[key] = np.union1d(used.get(key, np.empty(0, np.int64)), f.rows)
    keys = pd.concat(
        [
            pd.DataFrame({n: panels[k].key_values(n, rows) for n in SERIES_KEY}, dtype=object)
            for k, rows in used.items()
        ],
        ignore_index=True,
    )
    order = np.lexsort([keys[n].to_numpy(dtype=object) for n in reversed(SERIES_KEY)])
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys))
    offset = dict(
        zip(used, np.cumsum([0, *(len(r) for r in used.values())]).tolist(), strict=False)
    )
    out = []
    for f in fired:
        k = id(f.panel)
        series = rank[offset[k] + np.searchsorted(used[k], f.rows)]
        rule_and_month = f.sort & ~np.int64(0xFFFFFFFF)  # month | rule, as the partition set them
        out.append(replace(f, sort=rule_and_month + series))
    return AlertTable(None, out)


def _sort_key(a: Alert) -> tuple[str, ...]:
    return (a.period, a.rule_id, *(getattr(a, k) for k in SERIES_KEY))


def evaluate_table(
    observations: pd.DataFrame,
    rules: RuleSet,
    periods: Iterable[str] | None = None,
    mirrors: Mapping[str, pd.DataFrame] | None = None,
) -> AlertTable:
    """Alerts fired at each of ``periods`` (None = every period present), from data up to it,
    as an AlertTable (columns; see ``evaluate`` for Alert objects).

    ``mirrors``: observations of other sources by name, read by ``mirror_gap`` conditions that
    name a ``source`` (without it, or when the name is not given here, the mirror side is
    looked up in ``observations``, in the rows of that source when one is named).
    """
    active = [r for r in rules if r.condition.type != "missing_release"]
    if not active or observations.empty:
        return AlertTable(None, [])
    if periods is None:
        bounds = period_bounds(observations)
        assert bounds is not None
        targets = np.arange(bounds[0], bounds[1] + 1)
    else:
        targets = np.unique(np.array([period_to_month(p) for p in periods], dtype=np.int64))
        if not len(targets):
            return AlertTable(None, [])
    lookback = max(r.lookback for r in active)
    first, last = int(targets.min()) - lookback, int(targets.max())
    panel = build_panel(observations, first, last, len(targets))
    cols = targets - first
    # Rules on published series read the observations' panel; each distinct aggregate gets
    # one derived panel, shared by the rules that use it.
    panels: dict[Aggregate | None, list[Rule]] = {}
    for rule in active:
        panels.setdefault(rule.aggregate, []).append(rule)
    sides = _MirrorPanels(observations, mirrors or {}, panel, first, last, len(targets))
    fired: list[_Fired] = []
    rule_order = {rid: i for i, rid in enumerate(sorted(r.id for r in active))}
    for aggregate, members in panels.items():
        here = panel if aggregate is None else derive(panel, aggregate)
        totals = (
            Totals(here)
            if any(_needs_totals(c) for r in members for c in r.condition.walk())
            else None
        )
        # Rows are taken in blocks so the temporaries of a condition (a few rows x months
        # arrays) stay bounded (~CHUNK_CELLS cells each) however many series there are.
        cells = CHUNK_CELLS if here.values.flags.c_contiguous else COLUMN_CHUNK_CELLS
        chunk = max(1, cells // max(len(cols), 1))
        masks: dict[tuple[str, frozenset[str]], np.ndarray] = {}
        for rule in members:
            mirror_sides = {id(c): sides.side(rule, c, here) for c in rule.mirrors()}
            rows = select_rows(here.keys, rule, masks)
            for start in range(0, len(rows), chunk):
                block = rows[start : start + chunk]
                whole = len(block) == len(here.keys)
                view = View(here, None if whole else block, cols, totals, mirror_sides)
                result = _run(view, rule.condition)
                if aggregate is not None:
                    result.context.update(_coverage(view))
                found = _fired(rule, here, view, result, rule_order[rule.id])
                if found is not None:
                    fired.append(found)
    return AlertTable(panel, fired)


def _coverage(view: View) -> dict[str, Any]:
    """Members reported and expected at t, for a rule on a derived panel."""
    panel = view.panel
    assert panel.reported is not None and panel.expected is not None
    reported = view.cells(panel.reported)
    expected = view.cells(panel.expected)
    return {
        "members_reported": reported,
        "members_expected": expected,
        "complete": reported >= expected,
        "coverage": Coverage(reported, expected, panel.members_noun),
    }


class _MirrorPanels:
    """The other side of each mirror_gap: a panel of the mirror source over the same months
    (derived with the rule's commodity sum when it has one), built once per source and sum."""

    def __init__(
        self,
        observations: pd.DataFrame,
        mirrors: Mapping[str, pd.DataFrame],
        panel: Panel,
        first: int,
        last: int,
        n_targets: int,
    ) -> None:
        self.observations = observations
        self.mirrors = mirrors
        self.first, self.last, self.n_targets = first, last, n_targets
        self._base: dict[str, Panel | None] = {"": panel}
        self._derived: dict[tuple[str, Aggregate], Panel] = {}

    def _source_panel(self, source: str) -> Panel | None:
        if source not in self._base:
            if source in self.mirrors:
                frame = self.mirrors[source]
            elif "source" in self.observations.columns:
                frame = self.observations[(self.observations["source"] == source).to_numpy()]
            else:
                frame = self.observations.iloc[:0]
            self._base[source] = (
                None if frame.empty else build_panel(frame, self.first, self.last, self.n_targets)
            )
        return self._base[source]

    def side(self, rule: Rule, cond: Condition, here: Panel) -> MirrorSide:
        source = cond.params["source"] or ""
        flow = cond.params["flow"]
        base = self._source_panel(source)
        n_cols = here.values.shape[1]
        if base is None:
            return MirrorSide(
                np.full((0, n_cols), np.nan), np.full(len(here.keys), -1), source, flow
            )
        mirror = base
        agg = rule.aggregate
        if agg is not None:
            select = rule.select
            mirror_select: list[tuple[str, tuple[str, ...] | None]] = [
                ("reporter", select.get("partner")),
                ("partner", select.get("reporter")),
                ("measure", select.get("measure")),
            ]
            own_flow = select.get("flow")
            if flow is not None:
                mirror_select.append(("flow", (flow,)))
            elif own_flow is not None:
                flipped = tuple(MIRROR_FLOWS[f] for f in own_flow if f in MIRROR_FLOWS)
                mirror_select.append(("flow", flipped))
            twin = Aggregate(
                commodity=agg.commodity,
                groups=(),
                base_select=tuple(mirror_select),
                member_exclude=tuple(kv for kv in agg.member_exclude if kv[0] == "commodity"),
                incomplete=agg.incomplete,
                expect_within=agg.expect_within,
            )
            key = (source, twin)
            if key not in self._derived:
                self._derived[key] = derive(base, twin)
            mirror = self._derived[key]
        return MirrorSide(
            values=mirror.values,
            row_of=mirror_rows(here, mirror, flow),
            source=source,
            flow=flow,
            reported=mirror.reported,
            expected=mirror.expected,
            noun=mirror.members_noun,
        )


def evaluate(
    observations: pd.DataFrame,
    rules: RuleSet,
    periods: Iterable[str] | None = None,
    mirrors: Mapping[str, pd.DataFrame] | None = None,
) -> list[Alert]:
    """Alerts fired at each of ``periods`` (None = every period present), from data up to it."""
    return evaluate_table(observations, rules, periods, mirrors).alerts()


# --------------------------------------------------------------------------------------------
# missing_release: evaluated by the daemon against its clock


def _deadline(release_month: int, day: int, grace: int) -> date:
    year, month = release_month // 12, release_month % 12 + 1
    last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day, last_day)) + timedelta(days=grace)


def expected_period(now: datetime, params: dict[str, Any]) -> tuple[int, date]:
    """The newest period whose release deadline (day D + G of its release month) has passed."""
    local = now.astimezone(ZoneInfo(params["timezone"])).date()
    release = local.year * 12 + local.month - 1
    while True:
        due = _deadline(release, params["expected_day"], params["grace_days"])
        if local > due:
            return release - params["lag_months"], due
        release -= 1


def check_missing(observations: pd.DataFrame, rules: RuleSet, now: datetime) -> list[Alert]:
    """One alert per watched series whose expected month has not arrived by its deadline.

    ``observations``: canonical observations, or one row per series with its newest month
    (``Store.latest()``: SERIES_KEY, unit, period, source), which is all this needs. A missing
    release has no figure: the alert's value is NaN and its context names the last month seen.
    """
    watching = [r for r in rules if r.condition.type == "missing_release"]
    if not watching or observations.empty:
        return []
    latest = (
        observations.groupby(SERIES_KEY, sort=True, observed=True)
        .agg(period=("period", "max"), unit=("unit", "first"), source=("source", "first"))
        .reset_index()
    )
    alerts = []
    for rule in watching:
        rows = select_rows(latest, rule)
        expected, due = expected_period(now, rule.condition.params)
        late = latest.iloc[rows]
        late = late[late["period"].astype(str) < month_to_period(expected)]
        for rec in late.to_dict("records"):
            alerts.append(
                Alert(
                    rule_id=rule.id,
                    period=month_to_period(expected),
                    **{k: str(rec[k]) for k in SERIES_KEY},
                    value=math.nan,
                    unit=str(rec["unit"]),
                    severity=rule.severity,
                    summary=rule.summary,
                    labels=dict(rule.labels),
                    context={
                        "condition": "missing_release",
                        "rank": None,
                        "partners_ranked": 0,
                        "expected_by": due.isoformat(),
                        "last_period": str(rec["period"]),
                    },
                    source=str(rec["source"]),
                    template=rule.template,
                )
            )
    alerts.sort(key=_sort_key)
    return alerts


__all__ = [
    "GROUP_KEY",
    "AlertTable",
    "check_missing",
    "concat_tables",
    "evaluate",
    "evaluate_table",
    "expected_period",
    "select_rows",
]


def _needs_totals(condition: Condition) -> bool:
    spec = CONDITIONS.get(condition.type)
    return spec is not None and spec.needs_totals
