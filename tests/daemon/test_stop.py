"""The stop deadline in-process: deliveries stop starting, and a send still waiting for its
server is left behind at the deadline with its message pending (real SQLite store, real local
HTTP receiver that answers only when the test lets it)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from monitor.clock import SystemClock
from monitor.notify.base import RenderedMessage
from monitor.notify.deliver import deliver_due
from monitor.notify.webhook import WebhookChannel
from monitor.store import OUTBOX_PENDING, OUTBOX_SENT, OutboxEntry
from tests.e2e.harness import read_body, wait_for

NOW = dt.datetime(2025, 8, 20, 3, 0, tzinfo=dt.UTC)


class HeldReceiver:
    """A webhook that records each complete POST and answers only once ``release`` is set."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = read_body(self)
                if body is None:  # cut off: not a message
                    self.close_connection = True
                    return
                receiver.bodies.append(json.loads(body))
                receiver.release.wait(120)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[HeldReceiver]:
    r = HeldReceiver()
    yield r
    r.close()


def queue(store, n: int) -> None:
    store.enqueue(
        [
            OutboxEntry(
                "hook",
                f"r{i}:all:new",
                "alert",
                RenderedMessage("s", "t", {"body": {"release_id": i}}).to_json(),
            )
            for i in range(1, n + 1)
        ],
        now=NOW,
    )


def test_no_send_starts_once_stopping(store, receiver):
    """With the stop requested, due messages are left pending and nothing reaches the server."""
    queue(store, 2)
    channel = WebhookChannel("hook", {"url": receiver.url, "timeout": 90})
    report = deliver_due(
        store,
        {"hook": channel},
        clock=SystemClock(),
        stop_deadline=lambda: time.monotonic() + 30,
    )
    assert report.sent == 0 and report.per_channel["hook"].deferred == 2
    assert receiver.bodies == []
    assert {m.state for m in store.outbox()} == {OUTBOX_PENDING}


def test_send_waiting_for_its_server_is_left_at_the_deadline(store, receiver):
    """The stop arrives while the receiver holds its answer: deliver_due returns at the deadline
    without it, the message stays pending (unmarked, so it is sent again after the restart),
    and the next message is never started."""
    queue(store, 2)
    channel = WebhookChannel("hook", {"url": receiver.url, "timeout": 90})
    deadline: list[float] = []
    done = threading.Event()

    def deliver() -> None:
        deliver_due(
            store,
            {"hook": channel},
            clock=SystemClock(),
            stop_deadline=lambda: deadline[0] if deadline else None,
        )
        done.set()

    worker = threading.Thread(target=deliver, daemon=True)
    worker.start()
    assert wait_for(lambda: len(receiver.bodies) == 1, timeout=30)
    deadline.append(time.monotonic() + 1.0)
    assert done.wait(60), "deliver_due is still waiting for the receiver"
    assert not receiver.release.is_set()  # the server has not answered: it was left behind
    assert [m.state for m in store.outbox()] == [OUTBOX_PENDING, OUTBOX_PENDING]
    assert [m.attempts for m in store.outbox()] == [0, 0]
    assert len(receiver.bodies) == 1


def test_without_a_stop_the_send_completes(store, receiver):
    """The same delivery with no stop requested waits for the receiver and marks both sent."""
    queue(store, 2)
    channel = WebhookChannel("hook", {"url": receiver.url, "timeout": 90})
    receiver.release.set()
    report = deliver_due(store, {"hook": channel}, clock=SystemClock(), stop_deadline=lambda: None)
    assert report.sent == 2
    assert [m.state for m in store.outbox()] == [OUTBOX_SENT, OUTBOX_SENT]


def test_service_stop_sets_the_jobs_deadline(tmp_path, monkeypatch):
    """Service.stop gives running jobs the stop timeout minus the close margin, and the
    service's deliveries see that deadline."""
    from monitor.clock import ManualClock
    from monitor.config import load_config
    from monitor.daemon import service
    from monitor.daemon.service import CLOSE_MARGIN, Service
    from monitor.notify.deliver import DeliveryReport

    seen: list[float | None] = []

    def deliver_due(store, channels, *, clock, stop_deadline):
        seen.append(stop_deadline())
        return DeliveryReport()

    monkeypatch.setattr(service, "deliver_due", deliver_due)
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"state: sqlite:///{tmp_path / 'state.db'}\nsources: {{}}\n"
        "daemon:\n  health: {enabled: false}\n"
    )
    svc = Service(load_config(str(path)), config_path=str(path), clock=ManualClock(NOW), environ={})
    try:
        svc.deliver_job()
        assert svc.jobs_deadline() is None and seen == [None]
        before = time.monotonic()
        svc.stop()
        svc.deliver_job()
        deadline = seen[-1]
        assert deadline is not None and deadline == svc.jobs_deadline()
        assert before + 45 - CLOSE_MARGIN <= deadline <= time.monotonic() + 45 - CLOSE_MARGIN
    finally:
        svc.close()
