"""A state store written by the previous release upgrades in place, losing nothing."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from monitor.model import COLUMNS, OBSERVATION_KEY, normalize
from monitor.resources import default_dataset
from monitor.store import open_store

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "state" / "schema2-state.db"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    shutil.copy(FIXTURE, path)
    return path


def _old(path: Path, query: str) -> pd.DataFrame:
    with sqlite3.connect(path) as conn:
        return pd.read_sql_query(query, conn)


def _canonical(frame: pd.DataFrame, extra: list[str] | None = None) -> pd.DataFrame:
    cols = [*COLUMNS, *(extra or [])]
    out = frame[cols].astype({c: "str" for c in cols if c != "value"})
    return out.sort_values([*(extra or []), "source", *OBSERVATION_KEY]).reset_index(drop=True)


def test_every_vintage_survives_the_upgrade(legacy: Path) -> None:
    """Each vintage of schema 2 is still there, with its release, after the upgrade."""
    before = _old(legacy, "SELECT * FROM observation_vintages")
    store = open_store(f"sqlite:///{legacy}")
    after = store.vintages()
    store.close()
    assert len(before) == 31
    pd.testing.assert_frame_equal(
        _canonical(after, ["release_id"]), _canonical(before, ["release_id"])
    )


def test_current_values_survive_the_upgrade(legacy: Path) -> None:
    """The current value of every observation is unchanged (the revision to 399 t included)."""
    before = _old(legacy, "SELECT * FROM observations")
    store = open_store(f"sqlite:///{legacy}")
    after = store.observations()
    store.close()
    pd.testing.assert_frame_equal(_canonical(after), _canonical(before))
    us_july = after[(after.partner == "US") & (after.period == "2025-07")]
    assert us_july.value.tolist() == [399_000.0]


def test_control_plane_survives_the_upgrade(legacy: Path) -> None:
    """Releases, alerts, outbox and silences are untouched; the old tables are gone."""
    counts = {
        t: _old(legacy, f"SELECT count(*) AS n FROM {t}").n[0]
        for t in ("releases", "alerts", "outbox", "silences", "source_state")
    }
    store = open_store(f"sqlite:///{legacy}")
    assert store.schema_version() >= 3
    assert len(store.releases()) == counts["releases"] == 3
    assert len(store.alerts()) == counts["alerts"] == 14
    assert len(store.outbox()) == counts["outbox"] == 5
    store.close()
    with sqlite3.connect(legacy) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "observation_vintages" not in tables and "observations" not in tables
    assert counts["silences"] == 1 and counts["source_state"] == 1


def test_the_same_data_after_the_upgrade_is_no_release(legacy: Path) -> None:
    """Re-ingesting what schema 2 held changes nothing: no spurious release after upgrading."""
    store = open_store(f"sqlite:///{legacy}")
    data = normalize(pd.read_csv(default_dataset(), dtype=str), source="magnets")
    data.loc[(data.partner == "US") & (data.period == "2025-07"), "value"] = 399_000.0
    assert store.ingest("magnets", data, now=NOW).id == 0
    revised = data.copy()
    revised.loc[(revised.partner == "US") & (revised.period == "2025-07"), "value"] = 619_000.0
    release = store.ingest("magnets", revised, now=NOW)
    store.close()
    assert (release.new_periods, release.revised_periods, release.observations) == (
        (),
        ("2025-07",),
        1,
    )


def test_alerts_recorded_before_the_upgrade_keep_their_figures(legacy: Path) -> None:
    """Fingerprints written by schema 2 still match their alerts: no false "revised" notice."""
    from monitor.model import Alert

    store = open_store(f"sqlite:///{legacy}")
    stored = store.alerts()
    store.close()
    assert len(stored) == 14
    for recorded in stored.values():
        alert = Alert.from_dict(recorded.alert)
        assert alert.same_figures(recorded.fingerprint), recorded.key
        assert not alert.same_figures("0" * 16)


def test_a_store_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    """A store at a schema version this release does not know is refused with both versions,
    and the store is left as it was."""
    from monitor.errors import StoreError
    from monitor.store import schema

    path = tmp_path / "state.db"
    open_store(f"sqlite:///{path}").close()
    newest = max(m.VERSION for m in schema.migrations())
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
            (newest + 1, "2030-01-01T00:00:00.000000Z"),
        )
    conn.close()
    with pytest.raises(StoreError, match=rf"schema version {newest + 1}, newer .*\({newest}\)"):
        open_store(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == newest + 1
    conn.close()
