"""Customs-shaped benchmark data, generated with a fixed seed and written in blocks.

commodities x 100 partners (99 countries + WORLD) x months of China's exports in kg: per series a
level (log-normal per commodity, Zipf over partners), a seasonal pattern, a slow trend, 8% noise
and rare 3x shocks; WORLD is the sum of the partners; 5% of all (series, month) cells are then
dropped. Each block of commodities has its own random stream, so a file of N commodities is the
first N of any larger one, and a month's values do not depend on which months are written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from monitor.model import month_to_period, period_to_month

SEED = 20250720
PARTNERS = 100  # per commodity, WORLD included
LAST = "2025-12"
BLOCK = 50  # commodities per generated block


def _block(b0: int, n: int, months: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Values (n commodities x PARTNERS x months) and which cells are published, for the block
    of commodities starting at b0 (its own random stream)."""
    n_part = PARTNERS - 1
    t = np.arange(months)
    rng = np.random.default_rng([seed, b0 // BLOCK, months])
    level = (
        rng.lognormal(10, 1.5, size=(BLOCK, 1, 1))
        / (np.arange(1, n_part + 1) ** 1.1)[None, :, None]
    )
    trend = rng.normal(0, 0.004, size=(BLOCK, n_part, 1)) * t
    season = 0.15 * np.sin(2 * np.pi * (t + rng.integers(0, 12, size=(BLOCK, 1, 1))) / 12)
    noise = rng.normal(0, 0.08, size=(BLOCK, n_part, months))
    shock = np.where(rng.random((BLOCK, n_part, months)) < 0.002, 3.0, 1.0)
    values = np.round(level * np.exp(trend + season + noise) * shock, 1)
    world = values.sum(axis=1, keepdims=True)
    values = np.concatenate([values, world], axis=1)[:n]
    present = (rng.random((BLOCK, PARTNERS, months)) >= 0.05)[:n]
    return values, present


def _names(commodities: int, months: int) -> tuple[list[str], list[str], list[str]]:
    """Periods, partners and commodity codes of a generated dataset."""
    first = period_to_month(LAST) - months + 1
    periods = [month_to_period(first + i) for i in range(months)]
    partners = [f"{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(PARTNERS - 1)] + ["WORLD"]
    codes = [f"{85000000 + i:08d}" for i in range(commodities)]
    return periods, partners, codes


def blocks(
    commodities: int, months: int, *, keep: tuple[int, int] | None = None, seed: int = SEED
) -> Iterator[pd.DataFrame]:
    """Canonical frames of BLOCK commodities each; ``keep``: month indexes [lo, hi] written."""
    periods, partners, codes = (np.array(x, dtype=object) for x in _names(commodities, months))
    lo, hi = keep if keep is not None else (0, months - 1)
    for b0 in range(0, commodities, BLOCK):
        n = min(BLOCK, commodities - b0)
        values, present = _block(b0, n, months, seed)
        present[:, :, :lo] = False
        present[:, :, hi + 1 :] = False
        c_idx, p_idx, m_idx = np.nonzero(present)
        order = np.lexsort((p_idx, c_idx, m_idx))  # month by month, as publishers write
        c_idx, p_idx, m_idx = c_idx[order], p_idx[order], m_idx[order]
        yield pd.DataFrame(
            {
                "period": periods[m_idx],
                "reporter": "CN",
                "partner": partners[p_idx],
                "commodity": codes[b0 + c_idx],
                "flow": "export",
                "measure": "net_weight_kg",
                "value": values[c_idx, p_idx, m_idx],
                "unit": "kg",
            }
        )


def frame(n_series: int, months: int, *, seed: int = SEED) -> pd.DataFrame:
    """The same data for n_series // 100 commodities as one frame with categorical text
    columns (how a store hands observations to the engine): a few bytes per row."""
    commodities = max(1, n_series // PARTNERS)
    periods, partners, codes = _names(commodities, months)
    parts = []
    for b0 in range(0, commodities, BLOCK):
        n = min(BLOCK, commodities - b0)
        values, present = _block(b0, n, months, seed)
        c_idx, p_idx, m_idx = np.nonzero(present)
        parts.append((b0 + c_idx, p_idx, m_idx, values[c_idx, p_idx, m_idx]))
    c, p, m, v = (np.concatenate([part[i] for part in parts]) for i in range(4))

    def cat(codes_: np.ndarray | int, cats: list[str]) -> pd.Categorical:
        codes_ = np.broadcast_to(np.asarray(codes_, dtype=np.int32), c.shape)
        return pd.Categorical.from_codes(codes_, categories=pd.Index(cats, dtype="str"))

    return pd.DataFrame(
        {
            "period": cat(m, periods),
            "reporter": cat(0, ["CN"]),
            "partner": cat(p, partners),
            "commodity": cat(c, codes),
            "flow": cat(0, ["export"]),
            "measure": cat(0, ["net_weight_kg"]),
            "value": v,
            "unit": cat(0, ["kg"]),
            "source": cat(0, ["bench"]),
        }
    )


def write_csv(
    path: Path,
    commodities: int,
    months: int,
    *,
    keep: tuple[int, int] | None = None,
    append: bool = False,
) -> int:
    """Write (or append) the canonical CSV; returns the rows written."""
    rows = 0
    with path.open("ab" if append else "wb") as f:
        header = not append
        for frame in blocks(commodities, months, keep=keep):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=header))
            header = False
            rows += len(frame)
    return rows


def write_parquet(path: Path, commodities: int, months: int) -> int:
    """Write the canonical Parquet file (text columns dictionary-encoded); returns the rows."""
    rows = 0
    writer = None
    try:
        for frame in blocks(commodities, months):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table)
            rows += len(frame)
    finally:
        if writer is not None:
            writer.close()
    return rows


def period_of(months: int, index: int) -> str:
    return month_to_period(period_to_month(LAST) - months + 1 + index)


def write_wide_parquet(path: Path, partners: int, months: int, seed: int = SEED) -> int:
    """One commodity exported to ``partners`` partners (synthetic codes P0000001...) plus WORLD
    over ``months`` months: the widest share group a release can hold. Returns the rows."""
    rng = np.random.default_rng([seed, partners, months])
    first = period_to_month(LAST) - months + 1
    level = rng.lognormal(6, 2, size=partners)
    codes = np.array([f"P{i:07d}" for i in range(partners)] + ["WORLD"], dtype=object)
    writer = None
    rows = 0
    try:
        for m in range(months):
            values = np.round(level * rng.lognormal(0, 0.3, size=partners), 1)
            values = np.append(values, values.sum())
            table = pa.table(
                {
                    "period": pa.array(
                        [month_to_period(first + m)] * len(codes)
                    ).dictionary_encode(),
                    "reporter": pa.array(["CN"] * len(codes)).dictionary_encode(),
                    "partner": pa.array(codes, pa.string()),
                    "commodity": pa.array(["85051110"] * len(codes)).dictionary_encode(),
                    "flow": pa.array(["export"] * len(codes)).dictionary_encode(),
                    "measure": pa.array(["net_weight_kg"] * len(codes)).dictionary_encode(),
                    "value": pa.array(values, pa.float64()),
                    "unit": pa.array(["kg"] * len(codes)).dictionary_encode(),
                }
            )
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table)
            rows += len(codes)
    finally:
        if writer is not None:
            writer.close()
    return rows
