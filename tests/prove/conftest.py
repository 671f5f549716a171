"""Writes the fuzz case counts of this session into the results file and prints them."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import record_figure
from tests.prove.counter import CASES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CASES:
        figures = dict(sorted(CASES.items()))
        figures["total"] = sum(CASES.values())
        record_figure("fuzz_cases", figures)
        terminalreporter.write_line(f"fuzz cases tried: {figures}")
