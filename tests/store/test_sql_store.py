"""The SQLite state store: vintages, releases, alerts, outbox, source state."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from monitor.errors import StoreError
from monitor.model import Alert
from monitor.store import (
    ALERT_FIRING,
    OUTBOX_FAILED,
    OUTBOX_SENT,
    AlertUpdate,
    OutboxEntry,
    open_store,
)
from monitor.store.schema import latest_version


def test_new_store_is_migrated_to_latest_version(store):
    """Opening a store applies every migration."""
    assert store.schema_version() == latest_version() >= 1


def test_migrate_twice_is_a_no_op(store):
    """Migrations are idempotent."""
    assert store.migrate() == store.migrate() == latest_version()


def test_first_ingest_is_an_initial_release_of_all_periods(store, magnets, now):
    """The first poll of a source records every period as new and flags the release initial."""
    release = store.ingest("magnets", magnets, now=now)
    assert release.initial
    assert set(release.new_periods) == set(magnets["period"])
    assert release.observations == len(magnets)
    assert len(store.observations(source="magnets")) == len(magnets)


def test_tonnes_are_stored_as_kilograms(store, magnets, now):
    """The bundled net_weight_t rows arrive as net_weight_kg (5,577 t -> 5,577,000 kg)."""
    store.ingest("magnets", magnets, now=now)
    obs = store.observations(source="magnets")
    row = obs[(obs.period == "2025-07") & (obs.partner == "WORLD")].iloc[0]
    assert (row.measure, row.value, row.unit) == ("net_weight_kg", 5_577_000.0, "kg")


def test_same_data_again_is_not_a_release(store, magnets, now):
    """Ingesting unchanged data records no release."""
    store.ingest("magnets", magnets, now=now)
    again = store.ingest("magnets", magnets, now=now)
    assert again.is_empty and again.id == 0
    assert len(store.releases()) == 1


def test_new_months_are_a_release_not_a_revision(store, magnets, now):
    """Periods the store has never seen are new periods."""
    store.ingest("magnets", magnets[magnets.period < "2025-07"], now=now)
    release = store.ingest("magnets", magnets, now=now)
    assert not release.initial
    assert release.new_periods == ("2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12")
    assert release.revised_periods == ()


def test_revision_keeps_every_vintage(store, magnets, now):
    """A changed value is a revision: a new vintage, the old one kept, current updated."""
    store.ingest("magnets", magnets, now=now)
    revised = magnets.copy()
    mask = (revised.period == "2025-08") & (revised.partner == "US")
    revised.loc[mask, "value"] = 589_000.0  # asiacity.news gives 589 t
    release = store.ingest("magnets", revised, now=now + timedelta(days=30))
    assert release.revised_periods == ("2025-08",) and release.new_periods == ()
    vintages = store.vintages(source="magnets")
    us_aug = vintages[(vintages.period == "2025-08") & (vintages.partner == "US")]
    assert list(us_aug.value) == [590_000.0, 589_000.0]
    current = store.observations(source="magnets")
    assert (
        current[(current.period == "2025-08") & (current.partner == "US")].value.item() == 589_000.0
    )


def test_releases_are_pending_until_evaluated(store, magnets, now):
    """A release stays pending evaluation until commit_evaluation marks it."""
    release = store.ingest("magnets", magnets, now=now)
    assert [r.id for r in store.pending_releases()] == [release.id]
    store.commit_evaluation([release.id], [], [], now=now)
    assert store.pending_releases() == []


def test_silent_backfill_is_not_pending(store, magnets, now):
    """ingest(evaluate=False) records the release as already evaluated."""
    store.ingest("magnets", magnets, now=now, evaluate=False)
    assert store.pending_releases() == []


def _alert(period: str = "2025-07", value: float = 619_000.0) -> Alert:
    return Alert(
        rule_id="us-six-month-high",
        period=period,
        reporter="CN",
        partner="US",
        commodity="85051110",
        flow="export",
        measure="net_weight_kg",
        value=value,
        unit="kg",
        source="magnets",
        context={"months_known": 3},
    )


def _message(key: str = "r1:default:new", channel: str = "slack") -> OutboxEntry:
    return OutboxEntry(
        channel=channel,
        dedup_key=key,
        kind="alert",
        message={"subject": "s", "text": "t", "payload": {}},
        alert_keys=[_alert().key],
    )


def test_commit_evaluation_records_alerts_and_queues_atomically(store, now):
    """Alerts and their outbox messages land together."""
    queued = store.commit_evaluation(
        [], [AlertUpdate(_alert(), ALERT_FIRING, None)], [_message()], now=now
    )
    assert queued == 1
    stored = store.alerts()
    assert stored[_alert().key].state == ALERT_FIRING
    assert stored[_alert().key].fingerprint == _alert().fingerprint()
    assert [m.dedup_key for m in store.due_messages(now=now)] == ["r1:default:new"]


def test_a_message_is_queued_at_most_once_per_channel(store, now):
    """Re-queueing the same (channel, dedup key) after a crash is ignored."""
    assert store.enqueue([_message()], now=now) == 1
    assert store.enqueue([_message()], now=now) == 0
    assert store.enqueue([_message(channel="email")], now=now) == 1
    assert len(store.outbox()) == 2


def test_failed_commit_leaves_nothing_behind(store, now):
    """If the transaction fails, neither alerts nor messages are stored."""
    bad = _message()
    bad.channel = None  # type: ignore[assignment]   # NOT NULL violation inside the transaction
    with pytest.raises(StoreError):
        store.commit_evaluation([], [AlertUpdate(_alert(), ALERT_FIRING, None)], [bad], now=now)
    assert store.alerts() == {} and store.outbox() == []


def test_retry_then_sent(store, now):
    """mark_retry postpones a message; mark_sent takes it off the due list."""
    store.enqueue([_message()], now=now)
    msg = store.due_messages(now=now)[0]
    store.mark_retry(msg.id, now=now, next_attempt_at=now + timedelta(minutes=5), error="500")
    assert store.due_messages(now=now) == []
    later = store.due_messages(now=now + timedelta(minutes=5))
    assert later[0].attempts == 1 and later[0].last_error == "500"
    store.mark_sent(msg.id, now=now)
    assert store.outbox(state=OUTBOX_SENT)[0].attempts == 2


def test_permanent_failure_is_kept_visible(store, now):
    """A permanently failed message is not due any more but stays in the outbox."""
    store.enqueue([_message()], now=now)
    msg = store.due_messages(now=now)[0]
    store.mark_failed(msg.id, now=now, error="404 no_service")
    assert store.due_messages(now=now + timedelta(days=1)) == []
    assert store.outbox(state=OUTBOX_FAILED)[0].last_error == "404 no_service"


def test_poll_failures_count_until_a_success(store, now):
    """consecutive_failures grows with failures and resets on success; cursor kept on error."""
    store.record_poll("gacc", now=now, cursor={"etag": "x"})
    store.record_poll("gacc", now=now, error="HTTP 500")
    state = store.record_poll("gacc", now=now, error="HTTP 500", cursor={"etag": "y"})
    assert state.consecutive_failures == 2 and state.cursor == {"etag": "x"}
    state = store.record_poll("gacc", now=now)
    assert state.consecutive_failures == 0 and state.polls == 4 and state.failures == 2


def test_unwritable_store_is_a_clear_error(tmp_path):
    """A store that cannot be created names the problem instead of a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="state store"):
        open_store(f"sqlite:///{blocker / 'sub' / 'state.db'}")


def test_locked_database_is_a_store_error(tmp_path, now, magnets):
    """Another process holding a write lock gives StoreError, and no partial data."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(url)
    store._engine.dispose()
    from monitor.store import SqlStore

    impatient = SqlStore(url, engine=sa.create_engine(url, connect_args={"timeout": 0.2}))
    locker = sa.create_engine(url).raw_connection()
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            impatient.ingest("magnets", magnets, now=now)
    finally:
        locker.rollback()
        locker.close()
    assert impatient.observations().empty
    impatient.close()
