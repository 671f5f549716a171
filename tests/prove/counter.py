"""Counts fuzz cases per target and writes them to a JSON file for the README figures.

Every property calls ``count_case(target)`` once per example Hypothesis runs; at the end of the
session the totals go to ``$PROVE_RESULTS`` (default /tmp/customs-monitor-prove.json) under
``fuzz_cases`` and are printed (see tests/conftest.py, which sums them over the suite's processes).
"""

from __future__ import annotations

from collections import Counter

CASES: Counter[str] = Counter()


def count_case(target: str) -> None:
    CASES[target] += 1
