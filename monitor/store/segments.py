"""Columnar blobs of the data plane: Parquet bytes of integer-coded observations.

A *segment* holds the observations of one source and one month: ``series`` (int32, the id in the
source's series dictionary), ``value`` (float64, in the canonical unit) and ``unit``
(dictionary-encoded text). Rows are sorted by series id, so finding what changed between two
segments is one ``searchsorted`` and never a row-by-row comparison in Python.

A *series block* holds part of a source's series dictionary: ``id`` plus the five key columns.

Parquet (zstd) rather than rows in SQL: measured on 4.4M observations it writes 15-20x faster
than integer-keyed SQL rows, reads a month window 15-30x faster and takes a third of the space
(docs/data-plane.md), and it is a stable, documented format any tool can read.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from monitor.model import SERIES_KEY

_COMPRESSION = "zstd"


@dataclass
class Rows:
    """Observations of one month as parallel arrays, sorted by series id (ids unique)."""

    ids: np.ndarray  # int32
    values: np.ndarray  # float64
    units: np.ndarray  # int16 codes into ``unit_names``
    unit_names: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls) -> Rows:
        """No rows; the unit table is ``[""]`` (code 0: no unit), as every table starts."""
        return cls(np.empty(0, np.int32), np.empty(0, np.float64), np.empty(0, np.int16), [""])

    def take(self, index: np.ndarray) -> Rows:
        """The rows at ``index`` (positions or a mask) with the same unit table; sorted by id
        only if ``index`` keeps their order."""
        return Rows(self.ids[index], self.values[index], self.units[index], self.unit_names)

    def unit_text(self) -> np.ndarray:
        """Each row's unit as text (an object array), decoded through ``unit_names``."""
        return np.asarray(self.unit_names, dtype=object).take(self.units)

    def recoded(self, unit_names: list[str]) -> Rows:
        """The same rows with unit codes into ``unit_names`` (which must hold every unit used)."""
        if unit_names == self.unit_names:
            return self
        position = {u: i for i, u in enumerate(unit_names)}
        lookup = np.array([position.get(u, -1) for u in self.unit_names], dtype=np.int16)
        if len(self.units) and (lookup[self.units] < 0).any():
            raise ValueError("unit table does not hold every unit of the rows")
        return Rows(self.ids, self.values, lookup[self.units], unit_names)


def encode_rows(rows: Rows) -> bytes:
    """A segment's Parquet bytes (zstd): ``series``, ``value`` and dictionary-encoded ``unit``."""
    units = pa.DictionaryArray.from_arrays(
        pa.array(rows.units, type=pa.int16()), pa.array(rows.unit_names, type=pa.string())
    )
    table = pa.table(
        {
            "series": pa.array(rows.ids, type=pa.int32()),
            "value": pa.array(rows.values, type=pa.float64()),
            "unit": units,
        }
    )
    return _write(table, dictionary=["unit"])


def decode_rows(blob: bytes) -> Rows:
    """The rows of a segment written by ``encode_rows``, unit codes and table as stored."""
    table = pq.read_table(io.BytesIO(blob), read_dictionary=["unit"])
    unit = table.column("unit").combine_chunks()
    if isinstance(unit, pa.ChunkedArray):  # an empty table has no chunk to combine
        unit = pa.DictionaryArray.from_arrays(pa.array([], pa.int16()), pa.array([""]))
    names = unit.dictionary.to_pylist() or [""]
    return Rows(
        ids=table.column("series").to_numpy().astype(np.int32, copy=False),
        values=table.column("value").to_numpy().astype(np.float64, copy=False),
        units=unit.indices.to_numpy(zero_copy_only=False).astype(np.int16, copy=False),
        unit_names=names,
    )


def encode_series(first_id: int, keys: pd.DataFrame) -> bytes:
    """A block of the series dictionary: ids first_id.. for the rows of ``keys``."""
    columns = {"id": pa.array(np.arange(first_id, first_id + len(keys), dtype=np.int32))}
    for name in SERIES_KEY:
        columns[name] = pa.array(keys[name].astype("str").to_numpy(dtype=object), pa.string())
    return _write(pa.table(columns), dictionary=list(SERIES_KEY))


def decode_series(blob: bytes) -> pd.DataFrame:
    """A series block as a frame: ``id`` and the SERIES_KEY columns as categoricals."""
    table = pq.read_table(io.BytesIO(blob), read_dictionary=list(SERIES_KEY))
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _write(table: pa.Table, *, dictionary: list[str]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=_COMPRESSION, use_dictionary=dictionary)
    return sink.getvalue()


def digest(rows: Rows) -> str:
    """A content digest of one month's payload (rows sorted by id): equal digests mean the
    payload brings nothing new, so the month is skipped without reading what is stored."""
    h = hashlib.blake2b(digest_size=20)
    h.update(np.ascontiguousarray(rows.ids, dtype="<i4").tobytes())
    h.update(np.ascontiguousarray(rows.values, dtype="<f8").tobytes())
    used = sorted(set(np.asarray(rows.unit_names, dtype=object)[np.unique(rows.units)]))
    rank = {u: i for i, u in enumerate(used)}
    lookup = np.array([rank.get(u, -1) for u in rows.unit_names], dtype="<i2")
    h.update(lookup[rows.units].tobytes() if len(rows) else b"")
    h.update("\x00".join(used).encode())
    return h.hexdigest()


@dataclass
class Change:
    """What a payload changes in one month: the rows to append as a vintage and the month's new
    current content, and how many rows are new series in the month and how many revised."""

    delta: Rows
    current: Rows
    added: int
    revised: int


def diff(stored: Rows | None, incoming: Rows) -> Change:
    """New and changed rows of ``incoming`` against ``stored`` (both sorted by id, one unit
    table). Rows ``incoming`` does not mention are kept: a payload is a view, not a deletion."""
    if stored is None or not len(stored):
        return Change(incoming, incoming, len(incoming), 0)
    pos = np.searchsorted(stored.ids, incoming.ids)
    found = pos < len(stored)
    found[found] = stored.ids[pos[found]] == incoming.ids[found]
    at = pos[found]
    # The same tolerance as before: a value re-sent with float noise is not a revision.
    same = np.isclose(incoming.values[found], stored.values[at], rtol=1e-9, atol=0.0) & (
        incoming.units[found] == stored.units[at]
    )
    revised = np.zeros(len(incoming), dtype=bool)
    revised[np.flatnonzero(found)[~same]] = True
    added = ~found
    changed = revised | added
    if not changed.any():
        return Change(incoming.take(np.empty(0, np.int64)), stored, 0, 0)
    delta = incoming.take(np.flatnonzero(changed))
    values, units = stored.values.copy(), stored.units.copy()
    values[at[~same]] = incoming.values[found][~same]
    units[at[~same]] = incoming.units[found][~same]
    ids = np.concatenate([stored.ids, incoming.ids[added]])
    order = np.argsort(ids, kind="stable")
    current = Rows(
        ids[order],
        np.concatenate([values, incoming.values[added]])[order],
        np.concatenate([units, incoming.units[added]])[order],
        stored.unit_names,
    )
    return Change(delta, current, int(added.sum()), int(revised.sum()))
