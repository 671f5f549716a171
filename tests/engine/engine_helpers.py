"""Build small canonical observation frames and rule packs for engine tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from monitor.engine import RuleSet, load_rules
from monitor.model import normalize

BASE = {"reporter": "CN", "commodity": "85051110", "flow": "export", "measure": "net_weight_kg"}


def frame(series: dict[str, dict[str, float]], **overrides: str) -> pd.DataFrame:
    """{partner: {period: value in kg}} -> canonical observations (one reporter/commodity)."""
    rows = [
        {
            **BASE,
            **overrides,
            "partner": partner,
            "period": period,
            "value": value,
            "unit": "kg",
            "source": "test",
        }
        for partner, values in series.items()
        for period, value in values.items()
    ]
    return normalize(pd.DataFrame(rows))


def months(start: str, values: list[float | None]) -> dict[str, float]:
    """Consecutive months from start; None leaves a month missing."""
    out = {}
    first = pd.Period(start, freq="M")
    for i, v in enumerate(values):
        if v is not None:
            out[str(first + i)] = v
    return out


def pack(tmp_path: Path, rules_yaml: str, name: str = "pack.yaml") -> RuleSet:
    """Write a pack with the magnets defaults and the given ``rules:`` body; load it."""
    path = tmp_path / name
    path.write_text(PACK_HEAD + rules_yaml, encoding="utf-8")
    return load_rules([str(path)])


PACK_HEAD = """pack: test
defaults:
  select: {reporter: CN, flow: export, commodity: "85051110", measure: net_weight_kg}
rules:
"""


def fired(alerts: list, rule: str | None = None) -> list[tuple[str, str]]:
    return [(a.period, a.partner) for a in alerts if rule is None or a.rule_id == rule]
