"""Self-monitoring notices, from the figures a real SQLite store keeps."""

from __future__ import annotations

import datetime as dt

from monitor.daemon import ops
from monitor.daemon.options import OpsOptions
from monitor.store import ALERT_FIRING, AlertUpdate, OutboxEntry

NOW = dt.datetime(2025, 8, 20, 3, 0, tzinfo=dt.UTC)
OPS = OpsOptions(channels=("ops",), source_failures=3, outbox_stuck_minutes=60)


def fail(store, source: str, n: int, start: dt.datetime = NOW) -> None:
    for i in range(n):
        store.record_poll(source, now=start + dt.timedelta(minutes=10 * i), error="HTTP 503")


def test_source_failing_after_threshold(store):
    """Three failed polls in a row raise one ops-source-failing alert naming the error."""
    store.record_poll("gacc", now=NOW - dt.timedelta(days=1))
    fail(store, "gacc", 2)
    assert ops.check(store, OPS, NOW) == []
    fail(store, "gacc", 1, NOW + dt.timedelta(hours=1))
    [alert] = ops.check(store, OPS, NOW)
    assert alert.rule_id == ops.RULE_SOURCE_FAILING
    assert alert.source == "gacc"
    assert alert.value == 3
    assert alert.context["last_error"] == "HTTP 503"


def test_per_source_threshold_overrides_default(store):
    """failure_alert_after on a source wins over daemon.ops.source_failures."""
    fail(store, "census", 2)
    thresholds = ops.thresholds_from_sources({"census": {"failure_alert_after": 2}})
    assert [a.source for a in ops.check(store, OPS, NOW, thresholds=thresholds)] == ["census"]


def test_a_success_ends_the_streak(store):
    """A successful poll resets the count: no notice."""
    fail(store, "gacc", 3)
    store.record_poll("gacc", now=NOW + dt.timedelta(hours=1))
    assert ops.check(store, OPS, NOW) == []


def test_streak_identity_is_stable_while_it_lasts(store):
    """More failures in the same streak keep the alert key, so it is sent once."""
    store.record_poll("gacc", now=NOW - dt.timedelta(days=1))
    fail(store, "gacc", 3)
    [first] = ops.check(store, OPS, NOW)
    fail(store, "gacc", 2, NOW + dt.timedelta(hours=1))
    [again] = ops.source_alerts(store, OPS, {}, NOW)
    assert again.key == first.key


def test_recorded_incident_is_not_repeated(store):
    """Once the runner recorded the alert, check() leaves it out."""
    fail(store, "gacc", 3)
    [alert] = ops.check(store, OPS, NOW)
    store.commit_evaluation([], [AlertUpdate(alert, ALERT_FIRING, None)], [], now=NOW)
    assert ops.check(store, OPS, NOW) == []


def test_new_streak_after_recovery_is_a_new_incident(store):
    """Fail, recover, fail again: the second streak gets its own notice."""
    fail(store, "gacc", 3)
    [first] = ops.check(store, OPS, NOW)
    store.commit_evaluation([], [AlertUpdate(first, ALERT_FIRING, None)], [], now=NOW)
    store.record_poll("gacc", now=NOW + dt.timedelta(hours=1))
    fail(store, "gacc", 3, NOW + dt.timedelta(hours=2))
    [second] = ops.check(store, OPS, NOW + dt.timedelta(hours=3))
    assert second.key != first.key


def test_stuck_outbox_message(store):
    """A message pending longer than outbox_stuck_minutes raises ops-outbox-stuck per channel."""
    msg = {"subject": "s", "text": "t"}
    store.enqueue(
        [OutboxEntry("slack", "a", "alert", msg), OutboxEntry("slack", "b", "alert", msg)], now=NOW
    )
    store.enqueue([OutboxEntry("email", "c", "alert", msg)], now=NOW + dt.timedelta(minutes=50))
    assert ops.check(store, OPS, NOW + dt.timedelta(minutes=59)) == []
    [alert] = ops.check(store, OPS, NOW + dt.timedelta(minutes=90))
    assert alert.rule_id == ops.RULE_OUTBOX_STUCK
    assert alert.partner == "slack"
    assert alert.value == 90


def test_sent_messages_are_not_stuck(store):
    """Delivered messages never count, however old."""
    store.enqueue([OutboxEntry("slack", "a", "alert", {"subject": "s", "text": "t"})], now=NOW)
    [m] = store.outbox()
    store.mark_sent(m.id, now=NOW)
    assert ops.check(store, OPS, NOW + dt.timedelta(days=1)) == []
