"""A release whose evaluation fails is recorded and retried; it never blocks the others."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.notify.base import Channel, Digest, RenderedMessage
from monitor.pipeline import Pipeline, retry_delay
from monitor.resources import default_dataset
from monitor.runtime import load_rules
from monitor.store import open_store

NOW = datetime(2026, 1, 20, 3, 0, tzinfo=UTC)


class Recorder(Channel):
    """A channel that renders plainly, except that it breaks on the sources in ``broken``."""

    type = "recorder"

    def __init__(self, broken: set[str]) -> None:
        super().__init__("recorder", {})
        self.broken = broken
        self.rendered: list[str] = []

    def render(self, digest: Digest) -> RenderedMessage:
        if digest.source in self.broken:
            raise RuntimeError(f"renderer broke on {digest.source}")
        self.rendered.append(digest.source)
        return RenderedMessage(subject=digest.source, text=str(len(digest.notices)))

    def send(self, message: RenderedMessage) -> None:
        pass


@pytest.fixture
def setup(tmp_path: Path):
    data = pd.read_csv(default_dataset(), dtype=str)
    for name in ("good", "bad"):
        data.to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        state: sqlite:///{tmp_path / "state.db"}
        initial: alert_all
        sources:
          bad: {{type: file, path: bad.csv}}
          good: {{type: file, path: good.csv}}
        routes:
          - channels: [recorder]
        channels:
          recorder: {{type: console}}
        """)
    )
    config = load_config(str(tmp_path / "monitor.yaml"), env={})
    store = open_store(config.state)
    clock = ManualClock(NOW)
    channel = Recorder(broken={"bad"})
    pipeline = Pipeline(
        config, store, rules=load_rules(config), channels={"recorder": channel}, clock=clock
    )
    yield pipeline, store, clock, channel
    pipeline.close()
    store.close()


def test_a_failing_release_does_not_block_the_next_source(setup) -> None:
    """The bad source's release fails; the good source's release after it is evaluated."""
    pipeline, _, _, channel = setup
    for name in ("bad", "good"):
        pipeline.poll(name)
    outcomes = pipeline.evaluate_pending()
    by_source = {o.release.source: o for o in outcomes}
    assert by_source["bad"].error == "RuntimeError: renderer broke on bad"
    assert by_source["good"].error is None and by_source["good"].queued == 1
    assert channel.rendered == ["good"]


def test_a_failed_release_stays_pending_with_its_error(setup) -> None:
    """The failed release is kept, with its error and its attempt count, for a retry."""
    pipeline, store, _, _ = setup
    pipeline.poll("bad")
    pipeline.evaluate_pending()
    [(release, attempts, error, due)] = store.failed_releases()
    assert (release.source, attempts, error) == ("bad", 1, "RuntimeError: renderer broke on bad")
    assert due == NOW + retry_delay(1)


def test_a_failed_release_waits_for_its_backoff(setup) -> None:
    """It is not retried on the next round, only once its retry is due."""
    pipeline, store, clock, channel = setup
    pipeline.poll("bad")
    pipeline.evaluate_pending()
    assert pipeline.evaluate_pending() == []
    clock.advance(retry_delay(1) + timedelta(seconds=1))
    channel.broken.clear()
    [outcome] = pipeline.evaluate_pending()
    assert outcome.error is None and outcome.queued == 1
    assert store.failed_releases() == [] and store.pending_releases() == []


def test_backoff_doubles_up_to_an_hour() -> None:
    """1, 2, 4 ... minutes between attempts, never more than an hour."""
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 7, 20)] == [
        60,
        120,
        240,
        3600,
        3600,
    ]


def test_the_first_retry_follows_the_configured_delay() -> None:
    """daemon.release_retry_seconds sets the first wait; it still doubles and stops at an hour."""
    first = timedelta(seconds=2)
    assert [retry_delay(n, first).total_seconds() for n in (1, 2, 3, 20)] == [2, 4, 8, 3600]
