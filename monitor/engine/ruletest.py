"""Rule unit tests (``customs-monitor test``), in the spirit of ``promtool test rules``.

A test file names rule packs, gives input series and lists the alerts expected at given periods;
the runner evaluates each period as if it had just been released and reports every difference:
alerts missing, alerts not expected, and context values that differ.

    rule_files: [../rare_earth_magnets.yaml]        # relative to the test file
    tests:
      - name: US six-month high
        series_defaults: {reporter: CN, commodity: "85051110", flow: export,
                          measure: net_weight_kg}
        input_series:
          - series: {partner: US}
            start: 2025-05
            values: [46 t, 353 t, 619 t]            # null / "_" = missing month
            source: gacc                            # optional (default "test"), for mirrors
        expected_alerts:
          - period: 2025-07
            alerts:
              - {rule: magnets-six-month-high, partner: US, context: {months_known: 3}}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from monitor.config_checks import check_keys
from monitor.engine.evaluate import evaluate
from monitor.engine.rules import load_rules
from monitor.engine.units import UnitError, parse_quantity
from monitor.errors import ConfigError, Problem
from monitor.model import SERIES_KEY, Alert, normalize, normalize_period, period_to_month
from monitor.yamlload import load_yaml_file, mark_of

FILE_KEYS = {"rule_files", "tests"}
TEST_KEYS = {"name", "series_defaults", "input_series", "expected_alerts"}
SERIES_KEYS = {"series", "start", "values", "source"}
EXPECT_KEYS = {"period", "alerts"}
ALERT_KEYS = {"rule", "context", *SERIES_KEY}
MISSING = (None, "_", "")


@dataclass
class Outcome:
    """One test of a file: its name and every difference found (none: the test passed)."""

    name: str
    failures: list[str] = field(default_factory=list)


def _loc(obj: Any, path: str, message: str) -> Problem:
    m = mark_of(obj, path)
    return Problem(path, m.line, m.column, message)


def _series_rows(
    item: Any, defaults: dict[str, str], path: str, problems: list[Problem]
) -> list[dict[str, Any]]:
    problems.extend(
        check_keys(
            item,
            allowed=SERIES_KEYS,
            required={"series", "values"},
            path=path,
            what="input_series item",
        )
    )
    if not isinstance(item, dict) or "series" not in item or "values" not in item:
        return []
    key = {**defaults, **{k: str(v) for k, v in (item["series"] or {}).items()}}
    if set(key) != set(SERIES_KEY):
        problems.append(
            _loc(
                item,
                path,
                f"series needs {', '.join(SERIES_KEY)} "
                f"(missing: {', '.join(sorted(set(SERIES_KEY) - set(key)))})",
            )
        )
        return []
    values = item["values"]
    if isinstance(values, dict):
        pairs = [(str(p), v) for p, v in values.items()]
    elif isinstance(values, list) and "start" in item:
        first = period_to_month(normalize_period(str(item["start"])))
        pairs = [
            (normalize_period(f"{(first + i) // 12:04d}-{(first + i) % 12 + 1:02d}"), v)
            for i, v in enumerate(values)
        ]
    else:
        problems.append(_loc(item, path, "values: a list (with start) or a {period: value} map"))
        return []
    rows = []
    for period, raw in pairs:
        if raw in MISSING:
            continue
        try:
            value = parse_quantity(raw, key["measure"])
            rows.append(
                {
                    **key,
                    "period": normalize_period(period),
                    "value": value,
                    "unit": "",
                    # a mirror_gap naming a source reads the rows of that source
                    "source": str(item.get("source", "test")),
                }
            )
        except (UnitError, ValueError) as exc:
            problems.append(_loc(item, path, f"value {raw!r} for {period}: {exc}"))
    return rows


def _close(expected: Any, actual: Any) -> bool:
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(float(expected), float(actual), rel_tol=1e-6, abs_tol=1e-9)
    return str(expected) == str(actual)


def run_file(path: str) -> list[Outcome]:
    """Run every test of one file; ConfigError (located) when the file itself is malformed."""
    doc = load_yaml_file(path)
    problems = check_keys(
        doc, allowed=FILE_KEYS, required={"rule_files", "tests"}, path=path, what="rule test file"
    )
    if problems:
        raise ConfigError(problems)
    base = Path(path).parent
    rules = load_rules([str(base / f) for f in doc["rule_files"]])
    outcomes = []
    for i, test in enumerate(doc["tests"] or []):
        problems = check_keys(
            test,
            allowed=TEST_KEYS,
            required={"input_series", "expected_alerts"},
            path=path,
            what="test",
        )
        if problems:
            raise ConfigError(problems)
        name = str(test.get("name", f"test {i + 1}"))
        defaults = {k: str(v) for k, v in (test.get("series_defaults") or {}).items()}
        rows: list[dict[str, Any]] = []
        for item in test["input_series"] or []:
            rows.extend(_series_rows(item, defaults, path, problems))
        if problems:
            raise ConfigError(problems)
        obs = normalize(
            pd.DataFrame(rows, columns=["period", *SERIES_KEY, "value", "unit", "source"])
        )
        outcome = Outcome(name)
        for block in test["expected_alerts"] or []:
            problems = check_keys(
                block,
                allowed=EXPECT_KEYS,
                required={"period"},
                path=path,
                what="expected_alerts item",
            )
            if problems:
                raise ConfigError(problems)
            period = normalize_period(str(block["period"]))
            got = evaluate(obs, rules, [period])
            _compare(outcome, period, block.get("alerts") or [], got, defaults, path)
        outcomes.append(outcome)
    return outcomes


def _compare(
    outcome: Outcome,
    period: str,
    expected: list[Any],
    got: list[Alert],
    defaults: dict[str, str],
    path: str,
) -> None:
    remaining = list(got)
    for want in expected:
        problems = check_keys(
            want, allowed=ALERT_KEYS, required={"rule"}, path=path, what="expected alert"
        )
        if problems:
            raise ConfigError(problems)
        series = {**defaults, **{k: str(want[k]) for k in SERIES_KEY if k in want}}
        match = [
            a
            for a in remaining
            if a.rule_id == want["rule"] and all(getattr(a, k) == v for k, v in series.items())
        ]
        label = f"{period} {want['rule']} " + " ".join(f"{k}={v}" for k, v in series.items())
        if not match:
            outcome.failures.append(f"{period}: expected alert did not fire: {label}")
            continue
        alert = match[0]
        remaining.remove(alert)
        for k, v in (want.get("context") or {}).items():
            actual = alert.context.get(k, getattr(alert, k, None))
            if not _close(v, actual):
                outcome.failures.append(f"{period}: {label}: {k} expected {v!r}, got {actual!r}")
    for a in remaining:
        outcome.failures.append(
            f"{period}: unexpected alert: {a.rule_id} "
            + " ".join(f"{k}={getattr(a, k)}" for k in SERIES_KEY)
        )
