"""Observations become columnar: series dictionaries, Parquet segments and month state.

Converts the text-keyed rows of schema 1-2 in one transaction, streaming (bounded memory):
every vintage becomes a vintage segment of its release and month, the current values of each
month a snapshot segment, then the old tables are dropped. A crash mid-way leaves schema 2
intact; the next start converts again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from monitor.model import SERIES_KEY
from monitor.store import schema
from monitor.store.observations import SNAPSHOT, VINTAGE, insert_segment, month_codes
from monitor.store.segments import Rows, encode_series
from monitor.store.series import SeriesDictionary

log = logging.getLogger(__name__)

VERSION = 3
tables = [schema.series_blocks, schema.segments, schema.month_state]
_BATCH = 200_000


def upgrade(conn: sa.Connection) -> None:
    """Create the columnar tables, convert each source's text-keyed rows, drop the old tables.

    A new store has the old tables empty (0001 creates them): they are just dropped."""
    for table in tables:
        table.create(conn)
    if conn.dialect.name == "postgresql":
        # Segments are compressed already: TOAST compression would only cost CPU.
        for name in ("segments", "series_blocks"):
            conn.execute(sa.text(f"ALTER TABLE {name} ALTER COLUMN data SET STORAGE EXTERNAL"))
    inspector = sa.inspect(conn)
    if inspector.has_table("observation_vintages"):
        sources = [
            r[0]
            for r in conn.execute(
                sa.select(schema.observation_vintages.c.source).distinct().order_by("source")
            )
        ]
        for source in sources:
            _convert(conn, source)
        schema.observation_vintages.drop(conn)
    if inspector.has_table("observations"):
        schema.observations.drop(conn)


def _convert(conn: sa.Connection, source: str) -> None:
    dictionary = SeriesDictionary()
    units: list[str] = [""]
    v = schema.observation_vintages
    key = [v.c[c] for c in SERIES_KEY]
    query = (
        sa.select(*key, v.c.period, v.c.value, v.c.unit, v.c.release_id)
        .where(v.c.source == source)
        .order_by(v.c.release_id, v.c.period, v.c.id)
    )
    vintages = _groups(conn, query, ["release_id", "period"], dictionary, units)
    count = 0
    for (release_id, month), rows, _ in vintages:
        insert_segment(conn, source, month, release_id, VINTAGE, rows)
        count += len(rows)
    o = schema.observations
    current = (
        sa.select(*[o.c[c] for c in SERIES_KEY], o.c.period, o.c.value, o.c.unit, o.c.release_id)
        .where(o.c.source == source)
        .order_by(o.c.period)
    )
    for (month,), rows, release_id in _groups(conn, current, ["period"], dictionary, units):
        snapshot_id = insert_segment(conn, source, month, None, SNAPSHOT, rows)
        conn.execute(
            schema.month_state.insert().values(
                source=source,
                period=month,
                snapshot_id=snapshot_id,
                rows=len(rows),
                payload_digest=None,  # unknown: the next payload is diffed row by row
                release_id=release_id,
                updated_at=pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            )
        )
    if len(dictionary):
        conn.execute(
            schema.series_blocks.insert().values(
                source=source,
                first_id=0,
                count=len(dictionary),
                release_id=None,
                data=encode_series(0, dictionary.frame()),
            )
        )
    log.info("source %s: %d vintages of %d series converted", source, count, len(dictionary))


def _groups(
    conn: sa.Connection,
    query: sa.Select[Any],
    by: list[str],
    dictionary: SeriesDictionary,
    units: list[str],
) -> Iterator[tuple[tuple[int, ...], Rows, int]]:
    """Yield ((group values...), Rows, newest release id) per run of equal ``by`` values."""
    pending: list[pd.DataFrame] = []
    result = conn.execution_options(yield_per=_BATCH).execute(query)
    columns = list(result.keys())
    for batch in result.partitions():
        frame = pd.DataFrame(batch, columns=columns)
        frame["period"] = month_codes(frame["period"])
        for _, part in frame.groupby(by, sort=False):
            if pending and _key(pending[0], by) != _key(part, by):
                yield _rows_of(pending, by, dictionary, units)
                pending = []
            pending.append(part)
    if pending:
        yield _rows_of(pending, by, dictionary, units)


def _key(frame: pd.DataFrame, by: list[str]) -> tuple[int, ...]:
    return tuple(int(frame[c].iloc[0]) for c in by)


def _rows_of(
    parts: list[pd.DataFrame], by: list[str], dictionary: SeriesDictionary, units: list[str]
) -> tuple[tuple[int, ...], Rows, int]:
    frame = pd.concat(parts, ignore_index=True)
    ids = dictionary.ids_for(frame[SERIES_KEY])
    for u in frame["unit"].unique():
        if u not in units:
            units.append(str(u))
    position = {u: i for i, u in enumerate(units)}
    order = np.argsort(ids, kind="stable")
    rows = Rows(
        ids[order],
        frame["value"].to_numpy(dtype=np.float64)[order],
        np.array([position[u] for u in frame["unit"]], dtype=np.int16)[order],
        list(units),
    )
    return _key(frame, by), rows, int(frame["release_id"].max())
