"""The data plane: observations and every vintage, columnar and integer-coded.

Per source: a series dictionary (``series_blocks``), and per month one *vintage* segment per
release that changed it (the rows it added or revised) plus the month's *current* content
(``month_state.snapshot_id``: the first vintage itself, or a snapshot segment written when a
later release revised the month). Segments are Parquet blobs in the same SQL database as the
control plane, so a release's data and its release row commit in one transaction on SQLite and
on PostgreSQL alike (the HA pair shares them with nothing more to set up).

An ingest runs in two phases:
1. ``prepare`` reads the payload chunk by chunk (no transaction held): maps each row to its series
   id and groups rows by month in a ``MonthBuffer`` (bounded memory, spills to disk);
2. ``write`` runs inside the caller's write transaction, month by month: a month whose payload
   digest equals the stored one is skipped unread; otherwise its current segment is read and
   diffed with one ``searchsorted``, and only what changed is written.
Neither phase reads the source's history: memory and time follow the payload, not the store.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.model import (
    COLUMNS,
    SERIES_KEY,
    WORLD,
    combine_codes,
    month_to_period,
    period_to_month,
)
from monitor.store import schema as s
from monitor.store.buffer import DEFAULT_BUDGET, DuplicateRows, MonthBuffer
from monitor.store.segments import (
    Rows,
    decode_rows,
    decode_series,
    diff,
    digest,
    encode_rows,
    encode_series,
)
from monitor.store.series import SeriesDictionary

log = logging.getLogger(__name__)

VINTAGE = "vintage"
SNAPSHOT = "snapshot"


class IngestError(ValueError):
    """A payload the data plane refuses (e.g. one series given twice for a month)."""


@dataclass
class Prepared:
    """Phase 1 of an ingest: the payload's rows by month, ids from ``dictionary``."""

    source: str
    dictionary: SeriesDictionary  # a private copy, with the payload's new series appended
    blocks_seen: int  # the newest series block the dictionary was loaded from
    buffer: MonthBuffer
    rows: int = 0

    def close(self) -> None:
        """Free the month buffer and its spill files; once the ingest committed or failed."""
        self.buffer.close()


@dataclass
class Written:
    """What phase 2 changed."""

    new_periods: list[str] = field(default_factory=list)
    revised_periods: list[str] = field(default_factory=list)
    observations: int = 0  # rows added or revised
    initial: bool = False  # the source had no data before


def month_codes(period: pd.Series) -> np.ndarray:
    """Month numbers of a canonical period column, parsing each distinct period once."""
    if isinstance(period.dtype, pd.CategoricalDtype):
        codes, cats = period.cat.codes.to_numpy(), period.cat.categories
    else:
        codes, cats = pd.factorize(period)
    lookup = np.array([period_to_month(str(p)) for p in cats] + [-1], dtype=np.int64)
    return lookup[codes]


def _unit_codes(unit: pd.Series) -> tuple[np.ndarray, list[str]]:
    if isinstance(unit.dtype, pd.CategoricalDtype):
        return unit.cat.codes.to_numpy().astype(np.int16), [str(u) for u in unit.cat.categories]
    codes, uniques = pd.factorize(unit.astype("str"))
    return codes.astype(np.int16), [str(u) for u in uniques]


class ObservationStore:
    """Reads and writes the data plane through connections the SqlStore hands it."""

    def __init__(self, *, spill_dir: str | Path | None = None, budget: int = DEFAULT_BUDGET):
        self.spill_dir = spill_dir
        self.budget = budget
        # source -> (newest block id loaded, dictionary): reloading is one small query when
        # nothing was added, and only the new blocks otherwise.
        self._cache: dict[str, tuple[int, SeriesDictionary]] = {}

    # -- the series dictionary ---------------------------------------------------------------
    def dictionary(self, conn: Connection, source: str) -> tuple[int, SeriesDictionary]:
        """(newest block id, the source's series dictionary); callers must not modify it."""
        t = s.series_blocks
        newest = conn.execute(sa.select(sa.func.max(t.c.id)).where(t.c.source == source))
        top = newest.scalar() or 0
        seen, cached = self._cache.get(source, (0, None))
        if cached is not None and seen == top:
            return seen, cached
        query = sa.select(t.c.data).where(t.c.source == source).order_by(t.c.first_id)
        if cached is not None and seen < top:
            query = query.where(t.c.id > seen)
        blocks = [decode_series(row.data) for row in conn.execute(query)]
        if cached is not None and seen < top:
            blocks.insert(0, cached.frame())
        keys = pd.concat(blocks, ignore_index=True) if blocks else None
        dictionary = SeriesDictionary(keys)
        self._cache[source] = (top, dictionary)
        return top, dictionary

    def forget(self, source: str) -> None:
        """Drop the cached dictionary of ``source``: the next ``dictionary()`` reads it whole."""
        self._cache.pop(source, None)

    # -- ingest, phase 1 ---------------------------------------------------------------------
    def prepare(
        self,
        source: str,
        chunks: Iterable[pd.DataFrame],
        dictionary: tuple[int, SeriesDictionary],
    ) -> Prepared:
        """Map every row of the payload to a series id and group the rows by month.

        ``dictionary``: (newest block id, dictionary) as ``dictionary()`` returned them; no
        connection is held while the payload is read."""
        seen, committed = dictionary
        prepared = Prepared(
            source=source,
            dictionary=copy.deepcopy(committed),
            blocks_seen=seen,
            buffer=MonthBuffer(self.spill_dir, self.budget),
        )
        try:
            for chunk in chunks:
                if not len(chunk):
                    continue
                ids = prepared.dictionary.ids_for(chunk)
                units, unit_names = _unit_codes(chunk["unit"])
                prepared.buffer.add(
                    month_codes(chunk["period"]),
                    ids,
                    chunk["value"].to_numpy(dtype=np.float64),
                    units,
                    unit_names,
                )
                prepared.rows += len(chunk)
        except BaseException:
            prepared.close()
            raise
        return prepared

    # -- ingest, phase 2 ---------------------------------------------------------------------
    def write(
        self,
        conn: Connection,
        prepared: Prepared,
        *,
        release_id: int,
        stamp: str,
    ) -> Written:
        """Inside the caller's write transaction: store what changed, month by month."""
        source = prepared.source
        remap = self._remap_if_moved(conn, prepared)
        states = {
            row.period: row
            for row in conn.execute(
                sa.select(s.month_state).where(s.month_state.c.source == source)
            )
        }
        written = Written(initial=not states)
        for month in prepared.buffer.months():
            try:
                rows = prepared.buffer.rows(month)
            except DuplicateRows as exc:
                raise IngestError(self._duplicate_message(prepared, exc)) from None
            if remap is not None:
                rows = _remapped(rows, remap)
            written_here = self._write_month(
                conn, source, month, rows, states.get(month), release_id, stamp
            )
            if written_here is None:
                continue
            added, revised = written_here
            written.observations += added + revised
            if added:
                written.new_periods.append(month_to_period(month))
            elif revised:
                written.revised_periods.append(month_to_period(month))
        dictionary = prepared.dictionary
        if len(dictionary) > dictionary.stored and written.observations:
            conn.execute(
                s.series_blocks.insert().values(
                    source=source,
                    first_id=dictionary.stored,
                    count=len(dictionary) - dictionary.stored,
                    release_id=release_id,
                    data=encode_series(dictionary.stored, dictionary.new_keys()),
                )
            )
        return written

    def committed(self, prepared: Prepared) -> None:
        """After the transaction (committed or not): drop the source's cached dictionary, so the
        next read loads what the database now holds."""
        self._cache.pop(prepared.source, None)

    def _remap_if_moved(self, conn: Connection, prepared: Prepared) -> np.ndarray | None:
        """Another writer added series to this source since phase 1: give this payload's new
        series their final ids (theirs where the other writer added the same key)."""
        t = s.series_blocks
        newest = conn.execute(sa.select(sa.func.max(t.c.id)).where(t.c.source == prepared.source))
        if (newest.scalar() or 0) == prepared.blocks_seen:
            return None
        self.forget(prepared.source)
        seen, now = self.dictionary(conn, prepared.source)
        mine = prepared.dictionary
        fresh = copy.deepcopy(now)
        new_ids = fresh.ids_for(mine.new_keys())
        remap = np.arange(len(mine), dtype=np.int32)
        remap[mine.stored :] = new_ids
        # The dictionary written at the end must extend the one now stored.
        prepared.dictionary = fresh
        prepared.blocks_seen = seen
        log.info(
            "source %s: series added by another writer meanwhile; ids remapped", prepared.source
        )
        return remap

    def _write_month(
        self,
        conn: Connection,
        source: str,
        month: int,
        rows: Rows,
        state: Any,
        release_id: int,
        stamp: str,
    ) -> tuple[int, int] | None:
        """Store one month's changes; (rows added, rows revised), None when nothing changed."""
        payload_digest = digest(rows)
        if state is not None and state.payload_digest == payload_digest:
            return None
        stored = None
        if state is not None:
            blob = conn.execute(
                sa.select(s.segments.c.data).where(s.segments.c.id == state.snapshot_id)
            ).scalar_one()
            stored = decode_rows(blob)
            rows = rows.recoded(_union(stored.unit_names, rows.unit_names))
            stored = stored.recoded(rows.unit_names)
        else:
            rows = rows.recoded(_used_units(rows))
        change = diff(stored, rows)
        if not len(change.delta):
            conn.execute(
                s.month_state.update()
                .where(s.month_state.c.source == source, s.month_state.c.period == month)
                .values(payload_digest=payload_digest)
            )
            return None
        vintage_id = insert_segment(conn, source, month, release_id, VINTAGE, change.delta)
        if stored is None:
            snapshot_id = vintage_id  # a month's first vintage is its whole content
        else:
            snapshot_id = insert_segment(conn, source, month, release_id, SNAPSHOT, change.current)
            # A superseded snapshot is derived data (its rows live on in the vintages).
            conn.execute(
                s.segments.delete().where(
                    s.segments.c.id == state.snapshot_id, s.segments.c.kind == SNAPSHOT
                )
            )
        values = {
            "snapshot_id": snapshot_id,
            "rows": len(change.current),
            "payload_digest": payload_digest,
            "release_id": release_id,
            "updated_at": stamp,
        }
        if state is None:
            conn.execute(s.month_state.insert().values(source=source, period=month, **values))
        else:
            conn.execute(
                s.month_state.update()
                .where(s.month_state.c.source == source, s.month_state.c.period == month)
                .values(**values)
            )
        return change.added, change.revised

    @staticmethod
    def _duplicate_message(prepared: Prepared, exc: DuplicateRows) -> str:
        keys = prepared.dictionary.frame(exc.ids[:1].astype(np.int64))
        first = ", ".join(f"{k}={keys[k].iloc[0]}" for k in SERIES_KEY)
        more = f" (and {len(exc.ids) - 1} more series)" if len(exc.ids) > 1 else ""
        return (
            f"duplicate observation for {first}, period={month_to_period(exc.month)}{more}: "
            "the payload gives two values for one observation"
        )

    # -- reads -------------------------------------------------------------------------------
    def months(self, conn: Connection, source: str) -> list[int]:
        """The month numbers ``source`` has data for, oldest first."""
        t = s.month_state
        return [
            int(r[0])
            for r in conn.execute(
                sa.select(t.c.period).where(t.c.source == source).order_by(t.c.period)
            )
        ]

    def sources(self, conn: Connection) -> list[str]:
        """Every source with stored observations, by name."""
        t = s.month_state
        return [r[0] for r in conn.execute(sa.select(t.c.source).distinct().order_by(t.c.source))]

    def current(
        self, conn: Connection, source: str, first: int | None = None, last: int | None = None
    ) -> Iterator[tuple[int, Rows]]:
        """(month, current rows) of the months in [first, last], oldest first, one at a time."""
        t, g = s.month_state, s.segments
        query = (
            sa.select(t.c.period, g.c.data)
            .join(g, g.c.id == t.c.snapshot_id)
            .where(t.c.source == source)
            .order_by(t.c.period)
        )
        if first is not None:
            query = query.where(t.c.period >= first)
        if last is not None:
            query = query.where(t.c.period <= last)
        # One month decoded at a time: the blobs are fetched lazily, in order.
        for row in conn.execution_options(yield_per=1).execute(query):
            yield int(row.period), decode_rows(row.data)

    def window(
        self, conn: Connection, source: str, first: int | None = None, last: int | None = None
    ) -> pd.DataFrame:
        """Current observations of months [first, last] in the canonical layout, text columns
        categorical (a gather of small codes per column; no text is built per row)."""
        _, dictionary = self.dictionary(conn, source)
        months, parts = [], []
        for month, rows in self.current(conn, source, first, last):
            months.append(month)
            parts.append(rows)
        return _frame(source, dictionary, months, parts)

    def history(
        self,
        conn: Connection,
        source: str,
        keys: pd.DataFrame,
        first: int,
        last: int,
        *,
        totals: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Values of the series in ``keys`` (SERIES_KEY columns) for months [first, last], as a
        (series x months) matrix, NaN where nothing was published; with ``totals``, also each
        series' share total those months (the group's WORLD value where published, else the
        sum over its partners, as the engine's share conditions take it)."""
        n_months = last - first + 1
        out = np.full((len(keys), n_months), np.nan)
        total = np.full((len(keys), n_months), np.nan) if totals else None
        if not len(keys):
            return out, total
        _, dictionary = self.dictionary(conn, source)
        ids = dictionary.ids_for(keys, add=False) if len(dictionary) else np.full(len(keys), -1)
        known = ids >= 0
        if totals:
            group, is_world, n_groups = _groups(dictionary)
            key_group = np.where(known, group[np.maximum(ids, 0)], -1)
        for month, rows in self.current(conn, source, first, last):
            col = month - first
            pos = np.searchsorted(rows.ids, ids)
            hit = known & (pos < len(rows))
            hit[hit] = rows.ids[pos[hit]] == ids[hit]
            out[hit, col] = rows.values[pos[hit]]
            if total is not None:
                g, world = group[rows.ids], is_world[rows.ids]
                sums = np.bincount(g[~world], weights=rows.values[~world], minlength=n_groups)
                counts = np.bincount(g[~world], minlength=n_groups)
                month_total = np.where(counts > 0, sums, np.nan)
                month_total[g[world]] = rows.values[world]  # WORLD, where published, wins
                total[key_group >= 0, col] = month_total[key_group[key_group >= 0]]
        return out, total

    def latest(self, conn: Connection, source: str) -> pd.DataFrame:
        """Per series: its newest month with a value, that value's unit (SERIES_KEY, unit,
        period, source). Reads months newest first and stops once every series is placed."""
        _, dictionary = self.dictionary(conn, source)
        n = len(dictionary)
        last = np.full(n, -1, dtype=np.int64)
        unit = np.zeros(n, dtype=np.int64)
        names: list[str] = [""]
        remaining = n
        for month in reversed(self.months(conn, source)):
            if not remaining:
                break
            for _, rows in self.current(conn, source, month, month):
                fresh = rows.ids[last[rows.ids] < 0]
                if not len(fresh):
                    continue
                names = _union(names, rows.unit_names)
                rows = rows.recoded(names)
                at = np.searchsorted(rows.ids, fresh)
                last[fresh] = month
                unit[fresh] = rows.units[at]
                remaining -= len(fresh)
        placed = np.flatnonzero(last >= 0)
        frame = dictionary.frame(placed)
        frame["unit"] = np.asarray(names, dtype=object)[unit[placed]]
        frame["period"] = [month_to_period(int(m)) for m in last[placed]]
        frame["source"] = source
        return frame

    def vintages(self, conn: Connection, source: str) -> pd.DataFrame:
        """Every vintage of the source: canonical columns plus release_id and recorded_at."""
        _, dictionary = self.dictionary(conn, source)
        g, r = s.segments, s.releases
        query = (
            sa.select(g.c.period, g.c.release_id, g.c.data, r.c.detected_at)
            .outerjoin(r, r.c.id == g.c.release_id)
            .where(g.c.source == source, g.c.kind == VINTAGE)
            .order_by(g.c.release_id, g.c.period)
        )
        frames = []
        for row in conn.execution_options(yield_per=1).execute(query):
            part = _frame(source, dictionary, [int(row.period)], [decode_rows(row.data)])
            part["release_id"] = row.release_id
            part["recorded_at"] = row.detected_at
            frames.append(part)
        if not frames:
            return pd.DataFrame(columns=[*COLUMNS, "release_id", "recorded_at"])
        return pd.concat(frames, ignore_index=True)


def insert_segment(
    conn: Connection, source: str, month: int, release_id: int | None, kind: str, rows: Rows
) -> int:
    """Write one segment; its id."""
    result = conn.execute(
        s.segments.insert().values(
            source=source,
            period=month,
            release_id=release_id,
            kind=kind,
            rows=len(rows),
            data=encode_rows(rows),
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _groups(dictionary: SeriesDictionary) -> tuple[np.ndarray, np.ndarray, int]:
    """Per series id: its share group (reporter, commodity, flow, measure) and whether it is
    the WORLD row; and how many groups."""
    parts = [dictionary.codes[k] for k in ("reporter", "commodity", "flow", "measure")]
    sizes = [len(dictionary.values[k]) for k in ("reporter", "commodity", "flow", "measure")]
    group, uniques = pd.factorize(combine_codes(parts, sizes))
    world = np.flatnonzero(np.asarray(dictionary.values["partner"] == WORLD))
    is_world = np.isin(dictionary.codes["partner"], world)
    return group.astype(np.int64), is_world, len(uniques)


def _frame(
    source: str, dictionary: SeriesDictionary, months: list[int], parts: list[Rows]
) -> pd.DataFrame:
    names: list[str] = [""]
    for rows in parts:
        names = _union(names, rows.unit_names)
    parts = [rows.recoded(names) for rows in parts]
    ids = np.concatenate([p.ids for p in parts]) if parts else np.empty(0, np.int32)
    lengths = [len(p) for p in parts]
    period_codes = np.repeat(np.arange(len(parts), dtype=np.int32), lengths)
    data: dict[str, Any] = {
        "period": pd.Categorical.from_codes(
            period_codes, categories=pd.Index([month_to_period(m) for m in months], dtype="str")
        )
    }
    for name in SERIES_KEY:
        data[name] = dictionary.column(name, ids)
    data["value"] = np.concatenate([p.values for p in parts]) if parts else np.empty(0)
    unit_codes = np.concatenate([p.units for p in parts]) if parts else np.empty(0, np.int16)
    data["unit"] = pd.Categorical.from_codes(unit_codes, categories=_categories(names))
    data["source"] = pd.Categorical.from_codes(
        np.zeros(len(ids), dtype=np.int8), categories=pd.Index([source], dtype="str")
    )
    return pd.DataFrame(data)[COLUMNS]


def _categories(names: list[str]) -> pd.Index:
    return pd.Index(names, dtype="str")


def _union(first: list[str], second: list[str]) -> list[str]:
    if first == second:
        return first
    seen = dict.fromkeys(first)
    seen.update(dict.fromkeys(second))
    return list(seen)


def _used_units(rows: Rows) -> list[str]:
    """The units the rows use, in first-code order (a segment carries no unused names)."""
    used = np.unique(rows.units)
    names = [rows.unit_names[i] for i in used]
    return names or [""]


def _remapped(rows: Rows, remap: np.ndarray) -> Rows:
    ids = remap[rows.ids]
    order = np.argsort(ids, kind="stable")
    return Rows(ids[order], rows.values[order], rows.units[order], rows.unit_names)
