"""Ops incidents, from the figures a real SQLite store keeps: one when a failure begins, one when
it clears."""

from __future__ import annotations

import datetime as dt

from monitor.config.daemon import OpsOptions
from monitor.config.sources import CensusOptions
from monitor.daemon import ops
from monitor.store import ALERT_FIRING, ALERT_RESOLVED, AlertUpdate, OutboxEntry

NOW = dt.datetime(2025, 8, 20, 3, 0, tzinfo=dt.UTC)
OPS = OpsOptions(channels=("ops",), source_failures=3, outbox_stuck_minutes=60)


def fail(store, source: str, n: int, start: dt.datetime = NOW) -> None:
    for i in range(n):
        store.record_poll(source, now=start + dt.timedelta(minutes=10 * i), error="HTTP 503")


def record(store, changes: ops.Changes) -> None:
    """What the service does with a check's outcome (minus the messages)."""
    updates = [AlertUpdate(a, ALERT_FIRING, None) for a in changes.opened]
    updates += [AlertUpdate(a, ALERT_RESOLVED, None) for a, _ in changes.cleared]
    store.commit_evaluation([], updates, [], now=NOW)


def test_source_failing_after_threshold(store):
    """Three failed polls in a row open one ops-source-failing incident naming the error."""
    store.record_poll("gacc", now=NOW - dt.timedelta(days=1))
    fail(store, "gacc", 2)
    assert ops.check(store, OPS, NOW).opened == []
    fail(store, "gacc", 1, NOW + dt.timedelta(hours=1))
    [alert] = ops.check(store, OPS, NOW).opened
    assert alert.rule_id == ops.RULE_SOURCE_FAILING
    assert ops.subject_of(alert) == "gacc" and alert.source == ops.OPS_SOURCE
    assert alert.value == 3
    assert alert.context["last_error"] == "HTTP 503"
    assert alert.summary == "source gacc is failing (3 polls in a row)"


def test_per_source_threshold_overrides_default(store):
    """failure_alert_after on a source wins over daemon.ops.source_failures."""
    fail(store, "census", 2)
    census = CensusOptions(endpoint="imports", commodity="850511", failure_alert_after=2)
    thresholds = ops.thresholds_from_sources({"census": census})
    changes = ops.check(store, OPS, NOW, thresholds=thresholds)
    assert [ops.subject_of(a) for a in changes.opened] == ["census"]


def test_an_incident_is_a_notice_identified_by_its_labels(store):
    """An incident stands for no trade series: empty series fields, its key made of its labels."""
    store.record_poll("gacc", now=NOW - dt.timedelta(days=1))
    fail(store, "gacc", 3)
    [alert] = ops.check(store, OPS, NOW).opened
    assert not alert.is_series and set(alert.series.values()) == {""}
    assert alert.labels == {"ops": "true", "subject": "gacc", "incident_id": "20250819T030000Z"}
    assert alert.key == (
        "ops-source-failing|incident_id=20250819T030000Z|ops=true|subject=gacc|2025-08"
    )


def test_a_success_before_the_threshold_opens_nothing(store):
    """A successful poll resets the count: no incident."""
    fail(store, "gacc", 3)
    store.record_poll("gacc", now=NOW + dt.timedelta(hours=1))
    assert ops.check(store, OPS, NOW) == ops.Changes()


def test_streak_identity_is_stable_while_it_lasts(store):
    """More failures in the same streak keep the alert key."""
    store.record_poll("gacc", now=NOW - dt.timedelta(days=1))
    fail(store, "gacc", 3)
    [first] = ops.check(store, OPS, NOW).opened
    fail(store, "gacc", 2, NOW + dt.timedelta(hours=1))
    [again] = ops.source_alerts(store, OPS, {}, NOW)
    assert again.key == first.key


def test_open_incident_is_not_opened_again(store):
    """Once recorded, more failed polls of the same streak open nothing and clear nothing."""
    fail(store, "gacc", 3)
    record(store, ops.check(store, OPS, NOW))
    fail(store, "gacc", 5, NOW + dt.timedelta(hours=1))
    assert ops.check(store, OPS, NOW + dt.timedelta(hours=2)) == ops.Changes()


def test_recovery_clears_the_incident_once(store):
    """The next successful poll clears the open incident, with the incident's title; once."""
    fail(store, "gacc", 3)
    record(store, ops.check(store, OPS, NOW))
    store.record_poll("gacc", now=NOW + dt.timedelta(hours=1))
    changes = ops.check(store, OPS, NOW + dt.timedelta(hours=1))
    assert changes.opened == []
    [(cleared, previous)] = changes.cleared
    assert cleared.rule_id == ops.RULE_SOURCE_FAILING and ops.subject_of(cleared) == "gacc"
    assert cleared.summary == "source gacc is failing"
    assert previous["summary"] == "source gacc is failing (3 polls in a row)"
    record(store, changes)
    assert ops.check(store, OPS, NOW + dt.timedelta(hours=2)) == ops.Changes()


def test_new_streak_after_recovery_is_a_new_incident(store):
    """Fail, recover, fail again: the second streak is its own incident."""
    fail(store, "gacc", 3)
    [first] = ops.check(store, OPS, NOW).opened
    store.commit_evaluation([], [AlertUpdate(first, ALERT_FIRING, None)], [], now=NOW)
    store.record_poll("gacc", now=NOW + dt.timedelta(hours=1))
    record(store, ops.check(store, OPS, NOW + dt.timedelta(hours=1)))
    fail(store, "gacc", 3, NOW + dt.timedelta(hours=2))
    [second] = ops.check(store, OPS, NOW + dt.timedelta(hours=3)).opened
    assert second.key != first.key


def test_source_removed_from_config_clears_its_incident(store):
    """An open incident of a source no longer configured is cleared, not left open forever."""
    fail(store, "gacc", 3)
    record(store, ops.check(store, OPS, NOW, sources={"gacc"}))
    changes = ops.check(store, OPS, NOW, sources={"census"})
    assert [ops.subject_of(a) for a, _ in changes.cleared] == ["gacc"]


def test_stuck_outbox_message(store):
    """A message pending longer than outbox_stuck_minutes opens ops-outbox-stuck per channel."""
    msg = {"subject": "s", "text": "t"}
    store.enqueue(
        [OutboxEntry("slack", "a", "alert", msg), OutboxEntry("slack", "b", "alert", msg)], now=NOW
    )
    store.enqueue([OutboxEntry("email", "c", "alert", msg)], now=NOW + dt.timedelta(minutes=50))
    assert ops.check(store, OPS, NOW + dt.timedelta(minutes=59)).opened == []
    [alert] = ops.check(store, OPS, NOW + dt.timedelta(minutes=90)).opened
    assert alert.rule_id == ops.RULE_OUTBOX_STUCK
    assert ops.subject_of(alert) == "slack"
    assert alert.value == 90


def test_stuck_channel_stays_one_incident_while_messages_drain(store):
    """Sending the oldest stuck message while the next one is stuck too keeps one incident;
    the incident clears once no message of the channel waits too long."""
    msg = {"subject": "s", "text": "t"}
    store.enqueue(
        [OutboxEntry("slack", "a", "alert", msg), OutboxEntry("slack", "b", "alert", msg)], now=NOW
    )
    later = NOW + dt.timedelta(minutes=90)
    record(store, ops.check(store, OPS, later))
    first, second = store.outbox()
    store.mark_sent(first.id, now=later)
    assert ops.check(store, OPS, later) == ops.Changes()
    store.mark_sent(second.id, now=later)
    [(cleared, _)] = ops.check(store, OPS, later).cleared
    assert cleared.summary == "channel slack is stuck"


def test_sent_messages_are_not_stuck(store):
    """Delivered messages never count, however old."""
    store.enqueue([OutboxEntry("slack", "a", "alert", {"subject": "s", "text": "t"})], now=NOW)
    [m] = store.outbox()
    store.mark_sent(m.id, now=NOW)
    assert ops.check(store, OPS, NOW + dt.timedelta(days=1)).opened == []


def test_failed_release_opens_one_incident_until_it_evaluates(store):
    """A release failing to evaluate opens one incident however often it fails again; it
    clears when that release evaluates, and it is a readiness problem while open."""
    failed = ops.release_failed_alert("feed", 7, "ValueError: boom", NOW)
    changes = ops.evaluation_changes(store, [failed], [], None, NOW)
    assert changes.opened == [failed] and changes.cleared == []
    record(store, changes)
    assert ops.release_problems(store) == ["release 7 of feed failed to evaluate: ValueError: boom"]
    again = ops.release_failed_alert("feed", 7, "ValueError: boom", NOW + dt.timedelta(hours=1))
    assert ops.evaluation_changes(store, [again], [("feed", 6)], None, NOW) == ops.Changes()
    changes = ops.evaluation_changes(store, [], [("feed", 7)], None, NOW)
    [(cleared, _)] = changes.cleared
    assert cleared.summary == "release 7 of feed fails to evaluate"
    record(store, changes)
    assert ops.release_problems(store) == []


def test_failing_evaluation_pass_opens_one_incident_until_a_pass_works(store):
    """A pass over pending releases failing as a whole is one incident until a pass works."""
    changes = ops.evaluation_changes(store, [], [], "StoreError: disk full", NOW)
    [opened] = changes.opened
    assert opened.rule_id == ops.RULE_EVALUATION_FAILING
    record(store, changes)
    assert ops.evaluation_changes(store, [], [], "StoreError: disk full", NOW) == ops.Changes()
    [(cleared, _)] = ops.evaluation_changes(store, [], [], None, NOW).cleared
    assert cleared.rule_id == ops.RULE_EVALUATION_FAILING
