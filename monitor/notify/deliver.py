"""Send due outbox messages: marked sent only after the server accepted them.

Guarantee: every message was committed to the outbox before any network call; it is marked
sent only after ``Channel.send`` returned (the server accepted it). A crash between the two sends
that one message once more at worst; nothing is ever lost.

- One worker thread per channel sends that channel's messages in order; only the calling thread
  touches the store (SQLite connections stay on one thread), fed through a queue, so a message is
  marked the moment its send returns. A slow or failing channel never delays the others.
- Retryable failures: exponential backoff with full jitter, capped; a server's ``Retry-After``
  decides instead when given (as urllib3 and slack_sdk do: the server says when it can take the
  message). The channel's later messages wait behind the failed one (order is kept).
- Permanent failures (404/410 webhook, auth refused, bad recipient) are marked failed, logged
  with the channel name (never the secret) and shown by ``customs-monitor status``.
- ``Channel.min_interval`` spaces messages: ``1 / max_per_second`` on any channel, by default
  one per second per Slack webhook and none elsewhere.
- ``budget`` (seconds of wall time per channel per call) stops a channel that is slow from
  holding the call open; what it did not reach stays due for the next round.
- ``stop_deadline`` (the daemon stopping): no send starts once it gives a time, and the call
  returns by that time even if a send is still waiting for its server. That send's thread (a
  daemon thread, which never touches the store) is left to end with the process; its message
  stays pending and is sent again after the restart.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from monitor.clock import Clock
from monitor.errors import DeliveryError
from monitor.notify.base import Channel, RenderedMessage
from monitor.store.base import OUTBOX_PENDING, OutboxEntry, Store

log = logging.getLogger(__name__)

BACKOFF_BASE = 30.0  # seconds before the first retry
BACKOFF_CAP = 3600.0  # never wait more than an hour between attempts
RETRY_AFTER_CAP = 6 * 3600.0  # a server asking for more than this is treated as the cap


@dataclass
class ChannelReport:
    """One channel's outcomes in a ``deliver_due`` call, and the error of each retry or failure."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0  # waiting behind an earlier message of the same channel
    errors: list[str] = field(default_factory=list)


@dataclass
class DeliveryReport:
    """What a ``deliver_due`` call did: messages sent, retried and failed, and each channel's
    report (deferred messages are counted there only)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    per_channel: dict[str, ChannelReport] = field(default_factory=dict)

    def add(self, channel: str, outcome: str, error: str | None = None) -> None:
        """Count one message of ``channel`` under ``outcome`` (a ``ChannelReport`` field name:
        sent, retried, failed or deferred), keeping ``error`` when given."""
        rep = self.per_channel.setdefault(channel, ChannelReport())
        setattr(rep, outcome, getattr(rep, outcome) + 1)
        if outcome in ("sent", "retried", "failed"):
            setattr(self, outcome, getattr(self, outcome) + 1)
        if error:
            rep.errors.append(error)


def backoff_delay(
    attempts: int,
    *,
    retry_after: float | None = None,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    rng: random.Random | None = None,
) -> float:
    """Seconds until the next attempt after ``attempts`` failed ones (1 = the first failure).

    Full jitter (uniform between half and all of ``base * 2**(attempts-1)``, capped) spreads
    retries of many instances. A server's Retry-After replaces it (plus under a second of
    jitter): never sooner than the server asked, and no later either, even after a run of
    failures (a rate limit lifts when it says). One over ``RETRY_AFTER_CAP`` counts as the cap.
    """
    rng = rng or random.Random()
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    delay = rng.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(min(retry_after, RETRY_AFTER_CAP), 0.0) + rng.uniform(0, 1.0)
    return delay


@dataclass
class _Result:
    entry: OutboxEntry
    error: BaseException | None


def _send_channel(
    channel: Channel,
    entries: list[OutboxEntry],
    results: queue.Queue[_Result],
    clock: Clock,
    budget: float | None,
    monotonic: Callable[[], float],
    stop_deadline: Callable[[], float | None] | None = None,
) -> None:
    started = monotonic()
    last_sent = None  # clock time of the last accepted message (the clock paces sends)
    for i, entry in enumerate(entries):
        stopping = stop_deadline is not None and stop_deadline() is not None
        if stopping or (budget is not None and monotonic() - started > budget):
            for rest in entries[i:]:
                results.put(_Result(rest, _Deferred()))
            return
        if channel.min_interval and last_sent is not None:
            wait = channel.min_interval - (clock.now() - last_sent).total_seconds()
            if wait > 0:
                clock.sleep(wait)
        try:
            channel.send(RenderedMessage.from_json(entry.message))
        except Exception as exc:
            results.put(_Result(entry, exc))
            # Keep the channel's order: its later messages wait behind this one.
            for rest in entries[i + 1 :]:
                results.put(_Result(rest, _Deferred()))
            return
        last_sent = clock.now()
        results.put(_Result(entry, None))


class _Deferred(Exception):
    """Not attempted this round (behind a failed message, or past the channel's budget)."""


def _blocked_channels(store: Store, due: list[OutboxEntry]) -> dict[str, int]:
    """Channels whose oldest pending message is not due yet: their later messages must wait
    (a retry scheduled for later must not be overtaken). Maps channel -> blocking message id."""
    due_ids = {e.id for e in due}
    blocked: dict[str, int] = {}
    for entry in store.outbox(state=OUTBOX_PENDING):
        if entry.id not in due_ids and entry.channel not in blocked:
            blocked[entry.channel] = entry.id or 0
    return blocked


def deliver_due(
    store: Store,
    channels: dict[str, Channel],
    *,
    clock: Clock,
    limit: int = 100,
    budget: float | None = 120.0,
    rng: random.Random | None = None,
    backoff_base: float = BACKOFF_BASE,
    backoff_cap: float = BACKOFF_CAP,
    monotonic: Callable[[], float] = time.monotonic,
    stop_deadline: Callable[[], float | None] | None = None,
) -> DeliveryReport:
    """Send what is due now; see the module docstring for the guarantees."""
    report = DeliveryReport()
    due = store.due_messages(now=clock.now(), limit=limit)
    if not due:
        return report
    blocked = _blocked_channels(store, due)
    per_channel: dict[str, list[OutboxEntry]] = {}
    for entry in due:
        if entry.channel in blocked and (entry.id or 0) > blocked[entry.channel]:
            report.add(entry.channel, "deferred")
            continue
        if entry.channel not in channels:
            # Configuration changed since it was queued: keep it (nothing is lost) and say so.
            log.warning(
                "outbox message %s for unknown channel %r left pending (is the channel "
                "still configured?)",
                entry.id,
                entry.channel,
            )
            report.add(entry.channel, "deferred")
            continue
        per_channel.setdefault(entry.channel, []).append(entry)
    results: queue.Queue[_Result] = queue.Queue()
    threads = []
    for name, entries in per_channel.items():
        t = threading.Thread(
            target=_send_channel,
            name=f"deliver-{name}",
            daemon=True,
            args=(channels[name], entries, results, clock, budget, monotonic, stop_deadline),
        )
        t.start()
        threads.append(t)
    remaining = sum(len(e) for e in per_channel.values())
    while remaining:
        result = _next_result(results, stop_deadline, monotonic)
        if result is None:  # the stop deadline passed: record what is in, leave the rest
            while not results.empty():
                _record(store, results.get(), report, clock, rng, backoff_base, backoff_cap)
                remaining -= 1
            log.warning(
                "stopping: %d message(s) still being sent at the stop deadline stay pending "
                "and are sent again after the restart",
                remaining,
            )
            return report
        _record(store, result, report, clock, rng, backoff_base, backoff_cap)
        remaining -= 1
    for t in threads:
        t.join()
    return report


def _next_result(
    results: queue.Queue[_Result],
    stop_deadline: Callable[[], float | None] | None,
    monotonic: Callable[[], float],
) -> _Result | None:
    """The next send's outcome; None once the stop deadline has passed without one."""
    if stop_deadline is None:
        return results.get()
    while True:
        deadline = stop_deadline()
        wait = 0.5 if deadline is None else min(0.5, deadline - monotonic())
        try:
            return results.get(timeout=wait) if wait > 0 else results.get_nowait()
        except queue.Empty:
            if wait <= 0:
                return None


def _record(
    store: Store,
    result: _Result,
    report: DeliveryReport,
    clock: Clock,
    rng: random.Random | None,
    base: float,
    cap: float,
) -> None:
    entry, exc = result.entry, result.error
    now = clock.now()
    assert entry.id is not None
    if exc is None:
        store.mark_sent(entry.id, now=now)
        report.add(entry.channel, "sent")
        return
    if isinstance(exc, _Deferred):
        report.add(entry.channel, "deferred")
        return
    if isinstance(exc, DeliveryError):
        error, permanent, retry_after = str(exc), exc.permanent, exc.retry_after
    else:
        # Not a DeliveryError: a bug or an unexpected library error. Its text may hold a URL
        # with a secret, so only its type is kept; retrying is the safe choice.
        error = f"channel {entry.channel!r}: unexpected {type(exc).__name__}"
        permanent, retry_after = False, None
        log.debug("unexpected error sending outbox message %s", entry.id, exc_info=exc)
    if permanent:
        store.mark_failed(entry.id, now=now, error=error)
        log.error("%s (message %s failed permanently; not retried)", error, entry.id)
        report.add(entry.channel, "failed", error)
        return
    delay = backoff_delay(entry.attempts + 1, retry_after=retry_after, base=base, cap=cap, rng=rng)
    store.mark_retry(entry.id, now=now, next_attempt_at=now + timedelta(seconds=delay), error=error)
    log.warning(
        "%s (message %s, attempt %d; retrying in %.0f s)",
        error,
        entry.id,
        entry.attempts + 1,
        delay,
    )
    report.add(entry.channel, "retried", error)
