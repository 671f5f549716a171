"""A payload's rows grouped by month: in memory up to a budget, then spilled to disk.

A payload arrives in chunks in whatever order the publisher wrote it, while changes are found
month by month. The buffer holds 14 bytes per row (series id, unit code, value); past
``budget`` bytes it moves everything to one file per month in a private temporary folder, so an
ingest's memory is bounded by one chunk plus one month whatever the payload's size.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from monitor.store.segments import Rows

ROW = np.dtype([("id", "<i4"), ("unit", "<i2"), ("value", "<f8")])
DEFAULT_BUDGET = 256 * 2**20


class DuplicateRows(ValueError):
    """A month of one payload names a series twice (rows in different chunks)."""

    def __init__(self, month: int, ids: np.ndarray) -> None:
        super().__init__(f"month {month}: {len(ids)} series given twice")
        self.month = month
        self.ids = ids


class MonthBuffer:
    """One payload's rows by month number, spilled under ``spill_dir`` past ``budget`` bytes;
    ``close`` (or leaving a ``with`` block) deletes what it spilled."""

    def __init__(self, spill_dir: str | Path | None = None, budget: int = DEFAULT_BUDGET) -> None:
        self.spill_dir = spill_dir
        self.budget = budget
        self.unit_names: list[str] = [""]
        self._unit_code = {"": 0}
        self._memory: dict[int, list[np.ndarray]] = {}
        self._files: dict[int, Path] = {}
        self._held = 0
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.rows_added = 0
        self.spilled = False

    def __enter__(self) -> MonthBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(
        self,
        months: np.ndarray,
        ids: np.ndarray,
        values: np.ndarray,
        units: np.ndarray,
        unit_names: list[str],
    ) -> None:
        """Rows given as parallel arrays; ``units`` are codes into ``unit_names``."""
        if not len(months):
            return
        lookup = np.array([self._unit(u) for u in unit_names], dtype=np.int16)
        order = np.argsort(months, kind="stable")
        sorted_months = months[order]
        edges = np.flatnonzero(np.diff(sorted_months)) + 1
        for part in np.split(order, edges):
            rec = np.empty(len(part), dtype=ROW)
            rec["id"] = ids[part]
            rec["unit"] = lookup[units[part]]
            rec["value"] = values[part]
            self._memory.setdefault(int(months[part[0]]), []).append(rec)
            self._held += rec.nbytes
        self.rows_added += len(months)
        if self._held > self.budget:
            self._spill()

    def _unit(self, name: str) -> int:
        if name not in self._unit_code:
            self._unit_code[name] = len(self.unit_names)
            self.unit_names.append(name)
        return self._unit_code[name]

    def _spill(self) -> None:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(
                prefix="customs-monitor-ingest-", dir=self.spill_dir
            )
        for month, parts in self._memory.items():
            path = self._files.setdefault(month, Path(self._tmp.name) / f"{month}.rows")
            with path.open("ab") as f:
                for rec in parts:
                    rec.tofile(f)
        self._memory.clear()
        self._held = 0
        self.spilled = True

    def months(self) -> list[int]:
        """The month numbers that received rows, in memory or spilled, ascending."""
        return sorted(set(self._memory) | set(self._files))

    def rows(self, month: int) -> Rows:
        """The month's rows sorted by series id; DuplicateRows when an id occurs twice."""
        parts = list(self._memory.get(month, []))
        if month in self._files:
            parts.insert(0, np.fromfile(self._files[month], dtype=ROW))
        rec = np.concatenate(parts) if len(parts) != 1 else parts[0]
        order = np.argsort(rec["id"], kind="stable")
        ids = rec["id"][order]
        twice = ids[1:] == ids[:-1]
        if twice.any():
            raise DuplicateRows(month, np.unique(ids[1:][twice]))
        return Rows(
            ids.astype(np.int32),
            rec["value"][order].astype(np.float64),
            rec["unit"][order].astype(np.int16),
            self.unit_names,
        )

    def close(self) -> None:
        """Drop the rows held and delete the spill folder, if any; calling it again is harmless."""
        self._memory.clear()
        self._files.clear()
        if self._tmp is not None:
            self._tmp.cleanup()  # the folder this buffer made, and only its own files
            self._tmp = None
