"""Observations split into Parquet pieces, one per partition, in a scratch folder.

Workers read their own piece from the folder (shared storage on a real cluster), so the client
never ships a frame to them. A data file is read twice chunk by chunk (counting the atoms, then
writing each chunk's rows to their pieces), so the client never holds the whole file either.
The folder is the caller's to remove (``Pieces.remove``); the user's files are only read.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from monitor.engine.cluster.partition import Atom, PartitionKey, merge_counts, plan_partitions
from monitor.model import COLUMNS

#: every piece has this schema (text dictionary-encoded, read back as categoricals)
SCHEMA = pa.schema(
    [(c, pa.float64() if c == "value" else pa.dictionary(pa.int32(), pa.string())) for c in COLUMNS]
)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """A canonical frame as a table of SCHEMA, text columns from their category codes (no
    string per row); a frame without sources has one unnamed source."""
    arrays = []
    for name in COLUMNS:
        if name == "value":
            arrays.append(pa.array(frame["value"].to_numpy(dtype=np.float64)))
            continue
        col = pd.Categorical(frame[name] if name in frame.columns else [""] * len(frame))
        words = pa.array(np.asarray(col.categories, dtype=object).astype(str), pa.string())
        arrays.append(pa.DictionaryArray.from_arrays(col.codes.astype(np.int32), words))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


@dataclass
class Piece:
    """One partition's observations: its own file, and a file per mirror source."""

    number: int
    path: str
    rows: int = 0
    mirrors: dict[str, str] = field(default_factory=dict)


@dataclass
class Pieces:
    """What ``split`` wrote: its folder, a piece per partition that has rows, every period and
    the row count (mirror rows not counted)."""

    root: Path
    pieces: list[Piece]
    periods: list[str]  # every period of the observations, sorted
    rows: int

    def remove(self) -> None:
        """Delete the folder and every piece in it; errors are ignored, so a second call is safe."""
        shutil.rmtree(self.root, ignore_errors=True)


def read_piece(path: str) -> pd.DataFrame:
    """A piece as the engine reads observations: text columns categorical."""
    # The Arrow buffers are released column by column as pandas takes them over: the piece is
    # never held twice.
    frame: pd.DataFrame = pq.read_table(path).to_pandas(split_blocks=True, self_destruct=True)
    return frame


class _Writers:
    """One Parquet writer per (partition, side), opened on its first rows."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.open: dict[tuple[int, str], pq.ParquetWriter] = {}
        self.rows: dict[tuple[int, str], int] = {}

    def path(self, part: int, side: str) -> str:
        return str(self.root / f"part-{part:05d}{'-' + side if side else ''}.parquet")

    def write(self, frame: pd.DataFrame, parts: np.ndarray, side: str) -> None:
        """Each partition's rows of ``frame`` appended to its piece (one sort, then slices)."""
        order = np.argsort(parts, kind="stable")
        table = _arrow(frame).take(pa.array(order))
        sorted_parts = parts[order]
        cuts = np.flatnonzero(np.r_[True, sorted_parts[1:] != sorted_parts[:-1]])
        for lo, hi in zip(cuts.tolist(), [*cuts[1:].tolist(), len(order)], strict=True):
            key = (int(sorted_parts[lo]), side)
            if key not in self.open:
                self.open[key] = pq.ParquetWriter(self.path(*key), SCHEMA, compression="zstd")
            self.open[key].write_table(table.slice(lo, hi - lo))
            self.rows[key] = self.rows.get(key, 0) + (hi - lo)

    def close(self) -> None:
        for writer in self.open.values():
            writer.close()


def split(
    chunks: Callable[[], Iterable[pd.DataFrame]],
    key: PartitionKey,
    target_rows: int,
    scratch: str | None = None,
    mirrors: Mapping[str, pd.DataFrame] | None = None,
) -> Pieces:
    """Observations (``chunks()`` yields them, and is called twice) as pieces of about
    ``target_rows`` rows in a new folder under ``scratch`` (default: the system's temp)."""
    counts: dict[Atom, int] = {}
    periods: set[str] = set()
    rows = 0
    for chunk in chunks():
        merge_counts(counts, key.counts(chunk))
        periods.update(str(p) for p in pd.unique(chunk["period"]))
        rows += len(chunk)
    for frame in (mirrors or {}).values():
        merge_counts(counts, key.counts(frame))
    plan = plan_partitions(counts, target_rows)
    root = Path(tempfile.mkdtemp(prefix="customs-monitor-pieces-", dir=scratch))
    writers = _Writers(root)
    try:
        for chunk in chunks():
            writers.write(chunk, key.partition_of(chunk, plan), "")
        for name, frame in (mirrors or {}).items():
            writers.write(frame, key.partition_of(frame, plan), f"mirror-{name}")
    except BaseException:
        writers.close()
        shutil.rmtree(root, ignore_errors=True)
        raise
    writers.close()
    pieces = []
    for part in sorted({p for p, side in writers.open if side == ""}):
        pieces.append(
            Piece(
                number=part,
                path=writers.path(part, ""),
                rows=writers.rows[(part, "")],
                mirrors={
                    name: writers.path(part, f"mirror-{name}")
                    for name in (mirrors or {})
                    if (part, f"mirror-{name}") in writers.open
                },
            )
        )
    return Pieces(root, pieces, sorted(periods), rows)


def frame_chunks(
    frame: pd.DataFrame, rows: int = 1_000_000
) -> Callable[[], Iterable[pd.DataFrame]]:
    """An in-memory frame as ``split``'s chunks."""

    def chunks() -> Iterator[pd.DataFrame]:
        for start in range(0, len(frame), rows):
            yield frame.iloc[start : start + rows]

    return chunks
