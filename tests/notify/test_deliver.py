"""deliver_due against the real SQLite store and a real local Slack-webhook server."""

from __future__ import annotations

import itertools
import random
import time
from datetime import timedelta

import pytest

from monitor.clock import ManualClock, SystemClock
from monitor.errors import DeliveryError
from monitor.notify.alertmanager import AlertmanagerChannel
from monitor.notify.base import Channel, RenderedMessage
from monitor.notify.deliver import BACKOFF_BASE, BACKOFF_CAP, backoff_delay, deliver_due
from monitor.notify.slack import SlackWebhookChannel
from monitor.notify.webhook import WebhookChannel
from monitor.store import OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENT, OutboxEntry, open_store
from tests.notify.realdata import digest, notice
from tests.notify.servers import Reply, http_peer

SECRET_PATH = "/services/T0001/B0001/s3cr3tt0ken"


def slack(name, peer, templates, **options) -> SlackWebhookChannel:
    return SlackWebhookChannel(
        name, {"webhook_url": peer.url + SECRET_PATH, **options}, templates=templates
    )


def queue_digests(store, channel, frame, now, partners=("DE", "US", "WORLD")) -> list[str]:
    """One message per partner (as three releases would), queued like the pipeline does."""
    entries = []
    for i, p in enumerate(partners):
        msg = channel.render(digest([notice(frame, p, "2025-07")], release_id=i + 1))
        entries.append(
            OutboxEntry(
                channel=channel.name,
                dedup_key=f"r{i + 1}:all:new",
                kind="alert",
                message=msg.to_json(),
                alert_keys=[f"{p}"],
            )
        )
    store.enqueue(entries, now=now)
    return [e.dedup_key for e in entries]


def states(store) -> dict[str, str]:
    return {e.dedup_key: e.state for e in store.outbox()}


def received_partners(peer) -> list[str]:
    """Which partner each accepted payload was about (read from its section text)."""
    out = []
    for r in peer.accepted():
        text = r.json["blocks"][1]["text"]["text"]
        out.append(
            next(
                p
                for p, name in (("DE", "Germany"), ("US", "United States"), ("WORLD", "the world"))
                if name in text
            )
        )
    return out


def test_sends_due_messages_and_marks_them_sent(store, now, frame, peer, templates) -> None:
    """Every due message reaches the server once, valid Block Kit, and is marked sent."""
    ch = slack("slack", peer, templates)
    queue_digests(store, ch, frame, now)
    clock = ManualClock(now)
    report = deliver_due(store, {"slack": ch}, clock=clock)
    assert (report.sent, report.retried, report.failed) == (3, 0, 0)
    assert set(states(store).values()) == {OUTBOX_SENT}
    assert received_partners(peer) == ["DE", "US", "WORLD"]
    assert peer.block_problems == []


def test_server_error_schedules_a_retry_with_backoff(store, now, frame, peer, templates) -> None:
    """A 500 leaves the message pending with a backoff delay and a redacted error."""
    ch = slack("slack", peer, templates)
    queue_digests(store, ch, frame, now, partners=("DE",))
    peer.default = Reply(500, "internal error")
    report = deliver_due(store, {"slack": ch}, clock=ManualClock(now), rng=random.Random(1))
    assert report.retried == 1
    entry = store.outbox()[0]
    assert entry.state == OUTBOX_PENDING and entry.attempts == 1
    delay = (entry.next_attempt_at - now).total_seconds()
    assert BACKOFF_BASE / 2 <= delay <= BACKOFF_BASE
    assert "channel 'slack'" in entry.last_error and "HTTP 500" in entry.last_error
    assert "s3cr3tt0ken" not in entry.last_error


def test_429_retry_after_is_honoured(store, now, frame, peer, templates) -> None:
    """Slack's 429 Retry-After decides the next attempt, and nothing is sent before it."""
    ch = slack("slack", peer, templates)
    queue_digests(store, ch, frame, now, partners=("DE",))
    peer.script = [Reply(429, "rate_limited", {"Retry-After": "120"})]
    clock = ManualClock(now)
    deliver_due(store, {"slack": ch}, clock=clock)
    wait = (store.outbox()[0].next_attempt_at - now).total_seconds()
    assert 120 <= wait <= 121
    clock.advance(119)
    assert deliver_due(store, {"slack": ch}, clock=clock).sent == 0
    clock.advance(2)
    assert deliver_due(store, {"slack": ch}, clock=clock).sent == 1


def test_404_is_permanent_and_not_retried(store, now, frame, peer, templates, caplog) -> None:
    """A removed webhook (404) fails the message for good, logged without the secret URL."""
    ch = slack("slack", peer, templates)
    queue_digests(store, ch, frame, now, partners=("DE",))
    peer.default = Reply(404, "no_service")
    clock = ManualClock(now)
    report = deliver_due(store, {"slack": ch}, clock=clock)
    assert report.failed == 1 and store.outbox()[0].state == OUTBOX_FAILED
    clock.advance(timedelta(days=2))
    assert deliver_due(store, {"slack": ch}, clock=clock).sent == 0
    assert len(peer.received) == 1
    assert "s3cr3tt0ken" not in caplog.text and "channel 'slack'" in caplog.text


def test_order_is_kept_behind_a_failed_message(store, now, frame, peer, templates) -> None:
    """When a message fails, the channel's later ones wait; they go out after it, in order."""
    ch = slack("slack", peer, templates)
    queue_digests(store, ch, frame, now)
    peer.script = [Reply(503, "busy")]
    clock = ManualClock(now)
    deliver_due(store, {"slack": ch}, clock=clock)
    assert list(states(store).values()) == [OUTBOX_PENDING] * 3
    assert deliver_due(store, {"slack": ch}, clock=clock).sent == 0  # still blocked
    clock.advance(BACKOFF_CAP)
    assert deliver_due(store, {"slack": ch}, clock=clock).sent == 3
    assert received_partners(peer) == ["DE", "US", "WORLD"]


def test_slow_channel_does_not_delay_others(store, now, frame, templates) -> None:
    """A channel whose server takes 2 s does not hold back another channel's message."""
    with http_peer() as slow, http_peer() as fast:
        slow.default = Reply(200, "ok", delay=2.0)
        a, b = slack("slow", slow, templates), slack("fast", fast, templates)
        queue_digests(store, a, frame, now, partners=("DE",))
        queue_digests(store, b, frame, now, partners=("US",))
        started = time.monotonic()
        report = deliver_due(store, {"slow": a, "fast": b}, clock=ManualClock(now))
        assert report.sent == 2
        assert fast.received[0].at - started < 1.0
        assert slow.received[0].at - started < 1.0  # both started at once


def test_at_most_one_message_per_second_per_webhook(store, now, frame, peer, templates) -> None:
    """Slack messages to one webhook are spaced by at least a second."""
    ch = slack("slack", peer, templates)
    queue_digests(store, ch, frame, SystemClock().now() - timedelta(seconds=1))
    deliver_due(store, {"slack": ch}, clock=SystemClock())
    arrivals = [r.at for r in peer.received]
    assert len(arrivals) == 3
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(arrivals))


@pytest.mark.parametrize("cls", [WebhookChannel, AlertmanagerChannel])
def test_max_per_second_paces_every_channel_type(store, frame, peer, templates, cls) -> None:
    """max_per_second paces any channel, not only Slack: sends at least 1/rate seconds apart."""
    ch = cls("ch", {"url": peer.url + "/in", "max_per_second": 5}, templates=templates)
    queue_digests(store, ch, frame, SystemClock().now() - timedelta(seconds=1))
    assert deliver_due(store, {"ch": ch}, clock=SystemClock()).sent == 3
    arrivals = [r.at for r in peer.accepted()]
    assert len(arrivals) == 3
    assert all(b - a >= 0.2 * 0.95 for a, b in itertools.pairwise(arrivals))


def test_slack_down_then_back_delivers_each_once(store, now, frame, peer, templates) -> None:
    """Slack answers 500/timeouts for a while, then recovers: every message arrives once."""
    ch = slack("slack", peer, templates, timeout=0.5)
    queue_digests(store, ch, frame, now)
    peer.script = [
        Reply(500, "down"),
        Reply(502, "down"),
        Reply(200, "ok", delay=1.0),
        Reply(503, "down"),
    ]
    clock = ManualClock(now)
    for _ in range(20):
        deliver_due(store, {"slack": ch}, clock=clock)
        if OUTBOX_PENDING not in states(store).values():
            break
        clock.advance(BACKOFF_CAP)
    assert set(states(store).values()) == {OUTBOX_SENT}
    # The 1-second answer exceeded the 0.5 s timeout: the server applied it, we could not
    # know, so that one message arrived twice (the documented "once more at worst") and
    # every other exactly once.
    partners = received_partners(peer)
    assert sorted(set(partners)) == ["DE", "US", "WORLD"]
    assert len(partners) <= 4


def test_killed_between_queueing_and_sending(tmp_path, now, frame, templates) -> None:
    """Messages queued before a crash are sent by the next process, each exactly once."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with http_peer() as peer:
        first = open_store(url)
        queue_digests(first, slack("slack", peer, templates), frame, now)
        first.close()  # the process dies here
        again = open_store(url)
        report = deliver_due(
            again, {"slack": slack("slack", peer, templates)}, clock=ManualClock(now)
        )
        # A third process finds nothing left to do.
        third = open_store(url)
        assert (
            deliver_due(
                third, {"slack": slack("slack", peer, templates)}, clock=ManualClock(now)
            ).sent
            == 0
        )
        assert report.sent == 3
        assert sorted(received_partners(peer)) == ["DE", "US", "WORLD"]
        again.close()
        third.close()


def test_requeueing_the_same_plan_is_ignored(store, now, frame, peer, templates) -> None:
    """Re-queueing after a crash (same channel and dedup key) adds nothing."""
    ch = slack("slack", peer, templates)
    queue_digests(store, ch, frame, now)
    queue_digests(store, ch, frame, now)
    assert len(store.outbox()) == 3


class Exploding(Channel):
    type = "exploding"

    def render(self, digest):  # pragma: no cover - not used
        raise NotImplementedError

    def send(self, message: RenderedMessage) -> None:
        raise RuntimeError("https://hooks.example/secret-token leaked")


def test_unexpected_errors_are_retried_without_their_text(store, now) -> None:
    """A bug in a channel is retried, and its message (may hold a secret) is not stored."""
    store.enqueue(
        [OutboxEntry("boom", "k1", "alert", RenderedMessage("s", "t").to_json())], now=now
    )
    report = deliver_due(store, {"boom": Exploding("boom", {})}, clock=ManualClock(now))
    assert report.retried == 1
    assert "secret-token" not in store.outbox()[0].last_error


def test_unknown_channel_messages_stay_pending(store, now) -> None:
    """A message for a channel no longer configured is kept, not dropped."""
    store.enqueue(
        [OutboxEntry("gone", "k1", "alert", RenderedMessage("s", "t").to_json())], now=now
    )
    report = deliver_due(store, {}, clock=ManualClock(now))
    assert report.sent == 0 and store.outbox()[0].state == OUTBOX_PENDING


def test_backoff_grows_and_is_capped() -> None:
    """Delays double per attempt (with jitter in the upper half) up to the cap."""
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        assert ceiling / 2 <= backoff_delay(attempt, rng=rng) <= ceiling


def test_delivery_error_message_names_channel_only() -> None:
    """DeliveryError text starts with the channel name."""
    assert str(DeliveryError("slack", "HTTP 500")) == "channel 'slack': HTTP 500"


def test_retry_after_decides_even_after_a_run_of_failures() -> None:
    """After six failures a Retry-After of 5 s means 5-6 s, not the 8-16 min backoff: the
    server says when it takes the message (never sooner, no later)."""
    rng = random.Random(7)
    for _ in range(20):
        assert 5.0 <= backoff_delay(6, retry_after=5.0, rng=rng) <= 6.0
