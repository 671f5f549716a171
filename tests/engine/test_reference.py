"""The engine agrees with a literal, loop-by-loop reading of the condition definitions on
random series with gaps (hypothesis generates them; the reference below follows the
conditions' documented wording month by month, independently of the engine's array code)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from engine_helpers import PACK_HEAD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine import evaluate, load_rules
from monitor.model import month_to_period, normalize, period_to_month

START = period_to_month("2024-01")
N_MONTHS = 14
PARTNERS = ["US", "DE", "JP", "WORLD"]

cell = st.one_of(st.none(), st.integers(min_value=0, max_value=9).map(float))
panels = st.lists(
    st.lists(cell, min_size=N_MONTHS, max_size=N_MONTHS),
    min_size=len(PARTNERS),
    max_size=len(PARTNERS),
)

RULES = """  - id: high
    select: {partner: "*"}
    condition: {type: period_high, window: 4, min_periods: 2}
  - id: pct
    select: {partner: "*"}
    condition: {type: pct_change, periods: 2, above: 50, below: -50}
  - id: shift
    select: {partner: "*"}
    condition: {type: share_shift, points: 20}
  - id: streak
    select: {partner: "*"}
    condition: {type: streak, direction: down, length: 2}
  - id: anomaly
    select: {partner: "*"}
    condition: {type: anomaly, window: 4, z: 1.5, min_periods: 3}
"""


def _frame(grid: list[list[float | None]]) -> pd.DataFrame:
    rows = [
        {
            "period": month_to_period(START + m),
            "reporter": "CN",
            "partner": p,
            "commodity": "85051110",
            "flow": "export",
            "measure": "net_weight_kg",
            "value": v,
            "unit": "kg",
            "source": "generated",
        }
        for p, series in zip(PARTNERS, grid, strict=True)
        for m, v in enumerate(series)
        if v is not None
    ]
    return normalize(
        pd.DataFrame(
            rows,
            columns=[
                "period",
                "reporter",
                "partner",
                "commodity",
                "flow",
                "measure",
                "value",
                "unit",
                "source",
            ],
        )
    )


def _reference(grid: list[list[float | None]]) -> set[tuple[str, str, str]]:
    def val(p: int, m: int) -> float | None:
        return grid[p][m] if 0 <= m < N_MONTHS else None

    def share(p: int, m: int) -> float | None:
        v = val(p, m)
        world = val(3, m)
        others = [val(q, m) for q in range(3) if val(q, m) is not None]
        total = world if world is not None else (sum(others) if others else None)
        if v is None or total is None or total <= 0:
            return None
        return v / total * 100

    out = set()
    for p, partner in enumerate(PARTNERS):
        for m in range(N_MONTHS):
            v = val(p, m)
            if v is None:
                continue
            key = (month_to_period(START + m), partner)
            others = [val(p, m - i) for i in range(1, 4) if val(p, m - i) is not None]
            if others and len(others) + 1 >= 2 and all(v > o for o in others):
                out.add(("high", *key))
            base = val(p, m - 2)
            if base is not None and base != 0:
                pct = (v / base - 1) * 100
                if pct >= 50 or pct <= -50:
                    out.add(("pct", *key))
            if partner != "WORLD":
                now, before = share(p, m), share(p, m - 1)
                if now is not None and before is not None and abs(now - before) >= 20:
                    out.add(("shift", *key))
            chain = [val(p, m - i) for i in range(3)]
            if all(c is not None for c in chain) and chain[0] < chain[1] < chain[2]:
                out.add(("streak", *key))
            hist = [val(p, m - i) for i in range(1, 5) if val(p, m - i) is not None]
            if len(hist) >= 3 and max(hist) > min(hist):
                mean = sum(hist) / len(hist)
                std = math.sqrt(sum((h - mean) ** 2 for h in hist) / (len(hist) - 1))
                if abs(v - mean) / std >= 1.5:
                    out.add(("anomaly", *key))
    return out


@pytest.mark.slow
@settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(grid=panels)
def test_engine_matches_literal_reading(tmp_path_factory, grid):
    """Backtest alerts equal the month-by-month reference for every condition family."""
    path = tmp_path_factory.mktemp("ref") / "pack.yaml"
    path.write_text(PACK_HEAD + RULES, encoding="utf-8")
    rules = load_rules([str(path)])
    obs = _frame(grid)
    got = {(a.rule_id, a.period, a.partner) for a in evaluate(obs, rules)} if len(obs) else set()
    assert got == _reference(grid)
