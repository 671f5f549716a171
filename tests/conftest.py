"""Shared fixtures: the bundled real dataset and a fresh SQLite store on disk."""

from __future__ import annotations

from datetime import UTC, datetime

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
