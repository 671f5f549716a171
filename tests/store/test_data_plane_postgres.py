"""The same data plane on PostgreSQL (the HA pair's store): a fresh database per test."""

from __future__ import annotations

import pandas as pd
import pytest

from monitor.store import open_store
from tests.daemon.conftest import pg_url  # noqa: F401 - the fresh-database fixture
from tests.store.test_data_plane import NOW, chunks, generated, text

pytestmark = pytest.mark.postgres


def test_chunked_ingest_revision_and_window_on_postgresql(pg_url) -> None:  # noqa: F811
    """Chunks, a revision, every vintage and a window read back as on SQLite."""
    store = open_store(pg_url)
    data = generated()
    first = store.ingest("trade", chunks(data, 5), now=NOW)
    assert first.initial and first.observations == len(data)
    revised = data.copy()
    revised.loc[revised.period == "2025-02", "value"] += 5.0
    release = store.ingest("trade", revised, now=NOW)
    assert release.revised_periods == ("2025-02",)
    assert store.ingest("trade", revised, now=NOW).id == 0
    pd.testing.assert_frame_equal(text(store.observations()), text(revised))
    window = store.window("trade", first="2025-02", last="2025-02")
    pd.testing.assert_frame_equal(text(window), text(revised[revised.period == "2025-02"]))
    vintages = store.vintages(source="trade")
    assert len(vintages) == len(data) + (data.period == "2025-02").sum()
    store.close()
