"""The stop deadline against a receiver that answers after 55 s.

The real daemon (``customs-monitor run`` subprocess) delivers a release to a local webhook that
takes the whole request and holds its answer for 55 s: within the channel's own 90 s timeout,
but longer than the 45 s the daemon promises to stop within (systemd's TimeoutStopSec is 60).
SIGTERM arrives while the send waits: the daemon must exit 0 within 45 s, and after a restart
the message whose send was cut off must be sent again (the outbox never marked it sent) and then
be marked sent. The same deadline holds when a source's server hangs mid-poll.
Data: generated with a fixed seed (tests/e2e/test_crash_safety.dataset).
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.e2e.harness import (
    Answer,
    Daemon,
    HttpPeer,
    Publisher,
    free_port,
    http_peer,
    record_figure,
    wait_for,
)
from tests.e2e.test_crash_safety import RULES, dataset

STOP_DEADLINE = 45.0  # docs/operations.md; deploy/customs-monitor.service has TimeoutStopSec=60
RECEIVER_DELAY = 55.0


def write_config(folder: Path, peer: HttpPeer, feed: Publisher) -> Path:
    (folder / "rules.yaml").write_text(RULES)
    config = folder / "monitor.yaml"
    config.write_text(
        f"""\
state_dir: state
rules: [rules.yaml]
initial: alert_all
sources:
  feed: {{type: url, url: "{feed.url}", timeout: 5, schedule: "@every 5s"}}
channels:
  hook: {{type: webhook, url: "{peer.url("/hook")}", timeout: 90}}
routes:
  - channels: [hook]
daemon:
  health: {{port: {free_port()}}}
  deliver_interval: 1
"""
    )
    return config


def outbox_states(db: Path) -> list[tuple[str, int]]:
    con = sqlite3.connect(str(db))
    try:
        return [tuple(r) for r in con.execute("SELECT state, attempts FROM outbox ORDER BY id")]
    finally:
        con.close()


@pytest.mark.slow
def test_sigterm_with_a_slow_receiver_stops_in_time_and_resends_after_restart(
    tmp_path: Path,
) -> None:
    """SIGTERM while a send waits 55 s for its receiver: exit 0 within 45 s; the restarted
    daemon sends that message again and marks it sent."""
    with http_peer() as peer:
        feed = Publisher(peer)
        feed.publish(dataset(2))
        peer.post_script = [Answer(200, b"ok", hang=RECEIVER_DELAY)]
        config = write_config(tmp_path, peer, feed)
        first = Daemon(config, "run", tag="first")
        try:
            # The receiver has the whole request and is holding its answer.
            assert wait_for(lambda: len(peer.accepted("/hook")) == 1, timeout=120), first.stderr()[
                -3000:
            ]
            sent_at = time.monotonic()
            first.signal(signal.SIGTERM)
            code = first.wait(timeout=120)
            stopped_after = time.monotonic() - sent_at
        finally:
            first.kill()
        log = first.stderr()
        assert code == 0, log[-3000:]
        assert stopped_after < STOP_DEADLINE, (stopped_after, log[-3000:])
        assert "Traceback" not in log
        assert "stay pending" in log
        db = tmp_path / "state" / "state.db"
        assert outbox_states(db) == [("pending", 0)]  # cut off, so never marked sent

        second = Daemon(config, "run", tag="second")
        try:
            assert wait_for(lambda: outbox_states(db) == [("sent", 1)], timeout=120), (
                second.stderr()[-3000:]
            )
            second.signal(signal.SIGTERM)
            assert second.wait(timeout=120) == 0
        finally:
            second.kill()
        posts = peer.accepted("/hook")

    # The same message twice: the cut-off send (the receiver had it all) and the re-send.
    assert len(posts) == 2
    assert posts[0].body == posts[1].body
    assert posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    assert {a["key"] for a in json.loads(posts[1].body)["alerts"]} == {
        f"every-month|CN|{p}|85051110|export|net_weight_kg|2024-{m:02d}"
        for m in (1, 2)
        for p in ["US", "DE", "JP", "KR", "VN"]
    }
    record_figure(
        "stop_deadline",
        {
            "receiver_delay_seconds": RECEIVER_DELAY,
            "stop_deadline_seconds": STOP_DEADLINE,
            "sigterm_to_exit_seconds": round(stopped_after, 1),
            "resent_after_restart": 1,
        },
    )


@pytest.mark.slow
def test_sigterm_with_a_hanging_source_stops_in_time(tmp_path: Path) -> None:
    """SIGTERM while a poll waits for a source that answers after 100 s (its timeout is 90 s):
    the process is gone within 45 s, exit 0, and says why it did not wait."""
    with http_peer() as peer:
        feed = Publisher(peer)
        feed.publish(dataset(2))
        config = write_config(tmp_path, peer, feed)
        config.write_text(
            config.read_text().replace("timeout: 5, schedule", "timeout: 90, schedule")
        )
        feed.fault = Answer(200, b"late", hang=100)
        daemon = Daemon(config, "run")
        try:
            assert wait_for(lambda: len(peer.gets) >= 1, timeout=120), daemon.stderr()[-3000:]
            sent_at = time.monotonic()
            daemon.signal(signal.SIGTERM)
            code = daemon.wait(timeout=120)
            stopped_after = time.monotonic() - sent_at
        finally:
            daemon.kill()
    log = daemon.stderr()
    assert code == 0, log[-3000:]
    assert stopped_after < STOP_DEADLINE, (stopped_after, log[-3000:])
    assert re.search(r"stop deadline of 45s: [1-9]\d* job\(s\) still running; exiting now", log)
