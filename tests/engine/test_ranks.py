"""Ranks among partners: exact in any batching, and linear in the partners of a group."""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitor.engine.evaluate import _ranks
from monitor.engine.panel import build_panel
from monitor.model import period_to_month


def wide_group(partners: int, seed: int = 11) -> pd.DataFrame:
    """One commodity to many partners (plus WORLD) over two months, with ties; fixed seed."""
    rng = np.random.default_rng(seed)
    codes = [f"P{i:06d}" for i in range(partners)] + ["WORLD"]
    rows = []
    for period in ("2025-01", "2025-02"):
        values = rng.integers(1, partners // 4 + 2, size=partners).astype(float)
        rows.append(pd.DataFrame({"partner": codes, "value": [*values, values.sum()]}))
        rows[-1]["period"] = period
    frame = pd.concat(rows, ignore_index=True)
    for col, value in (
        ("reporter", "CN"),
        ("commodity", "1"),
        ("flow", "export"),
        ("measure", "net_weight_kg"),
        ("unit", "kg"),
        ("source", "s"),
    ):
        frame[col] = value
    return frame


def test_ranks_are_the_same_in_one_batch_or_many() -> None:
    """Batching the (group, month) blocks changes nothing: ties share the best rank."""
    frame = wide_group(5_000)
    month = period_to_month("2025-02")
    panel = build_panel(frame, month - 1, month)
    fired = np.flatnonzero(~panel.is_world)[::7]
    cols = np.ones(len(fired), dtype=np.int64)
    one_batch = _ranks(panel, fired, cols)
    many = _ranks(panel, np.r_[fired, fired], np.r_[cols, cols - 1], batch_cells=3_000)
    assert np.array_equal(one_batch[0], many[0][: len(fired)])
    values = panel.values[fired, 1]
    partners = panel.values[~panel.is_world, 1]
    expected = np.array([(partners > v).sum() + 1 for v in values], dtype=float)
    assert np.array_equal(one_batch[0], expected)
    assert set(one_batch[1].tolist()) == {5_000.0}


def test_every_partner_of_a_huge_group_is_ranked() -> None:
    """Every partner of a 200,000-partner group fired: the ranks follow the values, ties
    sharing, and every partner is counted (bench/e2e.py --wide times it)."""
    frame = wide_group(200_000)
    month = period_to_month("2025-02")
    panel = build_panel(frame, month - 1, month)
    fired = np.flatnonzero(~panel.is_world)
    rank, count = _ranks(panel, fired, np.ones(len(fired), dtype=np.int64))
    order = np.argsort(-panel.values[fired, 1], kind="stable")
    assert rank[order][0] == 1 and np.all(np.diff(rank[order]) >= 0)
    assert count.max() == 200_000
