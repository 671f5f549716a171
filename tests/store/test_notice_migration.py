"""Ops incidents recorded by schema 5 (stand-in series fields) upgrade to notices identified by
their labels, and an open one goes on as the same incident: nothing is sent twice.

The fixture ``schema5-state.db`` was written by the release at commit ddcc51e
(tests/fixtures/state/make_schema5_state.py): a source incident that cleared, a second one of
the same source, a stuck channel, a failed release and a failed pass, all open, and their
notices queued for a receiver that was not there.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon import ops
from monitor.daemon.service import Service
from monitor.model import Alert
from monitor.store import open_store
from tests.daemon.conftest import pg_url  # noqa: F401 - the fresh-database fixture

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "state" / "schema5-state.db"
LATER = dt.datetime(2025, 8, 20, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    shutil.copy(FIXTURE, path)
    return path


def _old_rows(path: Path) -> dict[str, tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT key, state, fingerprint, payload FROM alerts").fetchall()
    conn.close()
    return {k: (state, fp, payload) for k, state, fp, payload in rows}


def _service(tmp_path: Path, state: Path) -> Service:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"state: sqlite:///{state}\n"
        "sources:\n"
        f"  gacc:\n    type: file\n    path: {tmp_path / 'feed.csv'}\n"
        "    schedule: '@every 1h'\n    failure_alert_after: 1\n"
        "channels:\n"
        f"  ops:\n    type: file\n    path: {tmp_path / 'ops'}\n"
        f"  analysts:\n    type: file\n    path: {tmp_path / 'analysts'}\n"
        "routes:\n  - channels: [analysts]\n"
        "daemon:\n  health: {enabled: false}\n  ops: {channels: [ops]}\n"
    )
    return Service(
        load_config(str(config)), config_path=str(config), clock=ManualClock(LATER), environ={}
    )


def test_every_incident_becomes_a_notice_identified_by_its_labels(legacy: Path) -> None:
    """No stand-in series is left: series fields empty, subject and incident_id labels, new key."""
    before = _old_rows(legacy)
    store = open_store(f"sqlite:///{legacy}")
    after = store.alerts()
    store.close()
    assert len(after) == len(before) == 5
    for key, recorded in after.items():
        alert = Alert.from_dict(recorded.alert)
        assert not alert.is_series and alert.key == key
        assert alert.source == ops.OPS_SOURCE
        assert set(alert.labels) == {"ops", "subject", "incident_id"}
    subjects = sorted((a.rule_id, ops.subject_of(a.alert), a.state) for a in after.values())
    assert subjects == [
        ("ops-evaluation-failing", "evaluation", "firing"),
        ("ops-outbox-stuck", "ops", "firing"),
        ("ops-release-failed", "gacc release 7", "firing"),
        ("ops-source-failing", "gacc", "firing"),
        ("ops-source-failing", "gacc", "resolved"),
    ]


def test_each_incident_keeps_its_state_figures_and_times(legacy: Path) -> None:
    """State, fingerprint, value and context survive; the incident_id is what the series held."""
    before = _old_rows(legacy)
    store = open_store(f"sqlite:///{legacy}")
    after = store.alerts()
    store.close()
    by_incident = {
        (r.rule_id, r.alert["labels"]["subject"], r.alert["labels"]["incident_id"]): r
        for r in after.values()
    }
    for old_key, (state, fingerprint, payload) in before.items():
        old = json.loads(payload)
        new = by_incident[(old["rule"], old["partner"], old["commodity"])]
        assert (new.state, new.fingerprint) == (state, fingerprint), old_key
        assert Alert.from_dict(new.alert).same_figures(fingerprint)
        kept = {k: v for k, v in old.items() if k not in ("labels", "source", *ops_series())}
        assert {k: new.alert[k] for k in kept} == kept


def ops_series() -> tuple[str, ...]:
    return ("reporter", "partner", "commodity", "flow", "measure")


def test_queued_notices_name_the_incidents_by_their_new_keys(legacy: Path) -> None:
    """Every key an outbox message carries is an incident recorded under that key."""
    store = open_store(f"sqlite:///{legacy}")
    recorded = store.alerts()
    messages = store.outbox()
    store.close()
    assert len(messages) == 4
    for message in messages:
        assert message.alert_keys and set(message.alert_keys) <= set(recorded)


def test_an_open_incident_goes_on_and_clears_once(tmp_path: Path, legacy: Path) -> None:
    """Still failing after the upgrade: nothing opens again; recovered: one clearing notice."""
    svc = _service(tmp_path, legacy)
    try:
        opened = {a.key for a in svc.store.alerts().values()}
        svc.poll("gacc")  # the file is still missing; the queued notices are delivered now
        assert {a.key for a in svc.store.alerts().values()} == opened
        assert [m.kind for m in svc.store.outbox() if m.kind == "alert"] == ["alert"] * 3
        before = {m.id for m in svc.store.outbox()}
        (tmp_path / "feed.csv").write_text(
            "period,reporter,partner,commodity,flow,measure,value\n"
            "2025-06,CN,US,85051110,export,net_weight_kg,1000\n"
        )
        svc.poll("gacc")
        [cleared] = [m for m in svc.store.outbox() if m.id not in before]
        assert (cleared.channel, cleared.kind) == ("ops", "resolved")
        [key] = cleared.alert_keys
        stored = svc.store.alerts([key])[key]
        assert stored.state == "resolved" and ops.subject_of(stored.alert) == "gacc"
        open_ = ops.open_incidents(svc.store)
        assert (ops.RULE_SOURCE_FAILING, "gacc") not in open_
        assert (ops.RULE_RELEASE_FAILED, "gacc release 7") in open_
    finally:
        svc.close()


@pytest.mark.postgres
def test_the_migration_runs_on_postgresql(legacy: Path, pg_url: str) -> None:  # noqa: F811
    """The same upgrade on PostgreSQL: the fixture's incidents and queued messages, copied into
    a store put back at schema 5, come out as notices under the keys SQLite gives them."""
    import sqlalchemy as sa

    from monitor.store import schema

    with sqlite3.connect(legacy) as conn:
        alerts = conn.execute("SELECT * FROM alerts").fetchall()
        alert_columns = [d[0] for d in conn.execute("SELECT * FROM alerts").description]
        outbox = conn.execute("SELECT * FROM outbox").fetchall()
        outbox_columns = [d[0] for d in conn.execute("SELECT * FROM outbox").description]
    conn.close()
    open_store(pg_url).close()  # a new store at the current schema
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        for table, columns, rows in (
            (schema.alerts, alert_columns, alerts),
            (schema.outbox, outbox_columns, outbox),
        ):
            conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
        conn.execute(sa.delete(schema.schema_version).where(schema.schema_version.c.version > 5))
    engine.dispose()
    on_sqlite = open_store(f"sqlite:///{legacy}")
    want = {k: (a.state, a.fingerprint) for k, a in on_sqlite.alerts().items()}
    want_keys = sorted(tuple(m.alert_keys) for m in on_sqlite.outbox())
    on_sqlite.close()
    store = open_store(pg_url)
    try:
        assert store.schema_version() == max(m.VERSION for m in schema.migrations())
        upgraded = store.alerts()
        assert {k: (a.state, a.fingerprint) for k, a in upgraded.items()} == want
        for key, recorded in upgraded.items():
            notice = Alert.from_dict(recorded.alert)
            assert not notice.is_series and notice.key == key
        assert sorted(tuple(m.alert_keys) for m in store.outbox()) == want_keys
    finally:
        store.close()
