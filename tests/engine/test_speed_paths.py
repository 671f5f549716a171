"""The fast paths of the engine give the same alerts as the general ones: the look-back window
(RuleSet.lookback_months), the months-major panel used for a few target months, and the source
codes that replace per-cell row numbers.

Data: bench.engine.generate (seed 20250720, code in the repo) at a small size, plus hand-made
frames from engine_helpers.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from engine_helpers import frame, months, pack

from bench.engine import generate
from monitor.engine import evaluate, load_rules
from monitor.engine.conditions import base as conditions_base
from monitor.model import month_to_period, period_to_month

BENCH_PACK = Path(__file__).resolve().parents[2] / "bench" / "pack.yaml"


@pytest.fixture(scope="module")
def bench_rules():
    return load_rules([str(BENCH_PACK)])


@pytest.fixture(scope="module")
def generated() -> pd.DataFrame:
    return generate(600, 40)


def _dicts(alerts: list) -> list[dict]:
    return [a.to_dict() | {"source": a.source} for a in alerts]


def test_lookback_months_is_the_longest_reach(tmp_path):
    """lookback_months() is the most months before t any rule (or nested member) reads."""
    rs = pack(
        tmp_path,
        "  - id: a\n    condition: {type: period_high, window: 6}\n"
        "  - id: b\n    condition: {all: [{type: threshold, above: 1}, "
        "{type: pct_change, periods: 13, above: 5}]}\n"
        "  - id: c\n    condition: {type: anomaly, window: 12, z: 3}\n",
    )
    assert rs.lookback_months() == 13


def test_lookback_months_of_level_rules_is_zero(tmp_path):
    """A pack that reads only value(t) needs no earlier month."""
    rs = pack(tmp_path, "  - id: a\n    condition: {type: threshold, above: 1}\n")
    assert rs.lookback_months() == 0


def test_window_cut_at_lookback_gives_the_same_alerts(bench_rules, generated):
    """Evaluating periods P on observations from min(P) - lookback_months() on equals
    evaluating them on the whole history."""
    periods = ["2025-11", "2025-12"]
    since = month_to_period(period_to_month(periods[0]) - bench_rules.lookback_months())
    cut = generated[generated["period"].astype(str) >= since]
    assert len(cut) < len(generated)
    whole = evaluate(generated, bench_rules, periods)
    assert whole
    assert _dicts(evaluate(cut, bench_rules, periods)) == _dicts(whole)


def test_newest_month_equals_that_month_of_the_backtest(bench_rules, generated):
    """The months-major panel of a one-month run gives exactly the backtest's alerts there."""
    backtest = evaluate(generated, bench_rules)
    newest = evaluate(generated, bench_rules, ["2025-12"])
    assert newest
    assert _dicts(newest) == _dicts([a for a in backtest if a.period == "2025-12"])


def test_text_columns_equal_categorical_columns(bench_rules, generated):
    """Plain text key columns (hashed) give the same alerts as categorical ones."""
    plain = generated.astype({c: str for c in generated.columns if c != "value"})
    for periods in (None, ["2025-12"]):
        assert _dicts(evaluate(plain, bench_rules, periods)) == _dicts(
            evaluate(generated, bench_rules, periods)
        )


@pytest.mark.parametrize("categorical", [False, True])
@pytest.mark.parametrize("periods", [None, ["2025-03"]])
def test_alert_source_is_its_rows_source_among_several(tmp_path, periods, categorical):
    """With several sources in one frame, each alert carries its own observation's source."""
    obs = frame({"US": months("2025-01", [1, 5, 9]), "DE": months("2025-01", [2, 6, 10])})
    obs["source"] = np.where(obs["partner"] == "US", "census", "gacc")
    obs.loc[(obs["partner"] == "DE") & (obs["period"] == "2025-03"), "source"] = "eurostat"
    if categorical:
        obs = obs.astype({c: "category" for c in obs.columns if c != "value"})
    rule = '  - id: r\n    select: {partner: "*"}\n    condition: {type: threshold, above: 9}\n'
    rs = pack(tmp_path, rule)
    got = {(a.partner, a.period): a.source for a in evaluate(obs, rs, periods)}
    assert got == {("US", "2025-03"): "census", ("DE", "2025-03"): "eurostat"}


def test_blocks_of_rows_give_the_same_alerts(bench_rules, generated, monkeypatch):
    """Evaluating in many small blocks of rows (and of share groups) changes no alert."""
    whole = _dicts(evaluate(generated, bench_rules))
    evaluate_module = importlib.import_module("monitor.engine.evaluate")
    monkeypatch.setattr(evaluate_module, "CHUNK_CELLS", 1_000)
    monkeypatch.setattr(conditions_base, "BLOCK_CELLS", 1_000)
    assert _dicts(evaluate(generated, bench_rules)) == whole
