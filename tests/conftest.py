"""Shared fixtures (the bundled real dataset, a fresh SQLite store on disk) and the fuzz
case counts summed over the processes the suite runs in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from monitor.model import normalize
from monitor.resources import default_dataset
from monitor.store import SqlStore, open_store


@pytest.fixture
def magnets() -> pd.DataFrame:
    """China's rare-earth magnet exports (real, bundled), in the canonical layout."""
    return normalize(pd.read_csv(default_dataset(), dtype=str), source="magnets")


@pytest.fixture
def store(tmp_path) -> SqlStore:
    s = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


@pytest.fixture
def now() -> datetime:
    return datetime(2025, 8, 20, 3, 0, tzinfo=UTC)


# -- fuzz case counts, summed over the processes the suite runs in (pytest-xdist) --------------


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker hands its fuzz case counts to the controlling process."""
    from tests.prove.counter import CASES

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fuzz_cases"] = dict(CASES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """The controlling process adds up what each worker counted."""
    from tests.prove.counter import CASES

    CASES.update(getattr(node, "workeroutput", {}).get("fuzz_cases", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fuzz case counts go to the results file and the end of the output."""
    from tests.e2e.harness import record_figure
    from tests.prove.counter import CASES

    if CASES and getattr(terminalreporter.config, "workerinput", None) is None:
        figures = dict(sorted(CASES.items()))
        figures["total"] = sum(CASES.values())
        record_figure("fuzz_cases", figures)
        terminalreporter.write_line(f"fuzz cases tried: {figures}")
