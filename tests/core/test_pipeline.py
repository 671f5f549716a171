"""The poll -> store -> evaluate -> outbox -> deliver cycle on the real magnet data."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.service import Service
from monitor.resources import default_dataset

RELEASE_DAY = datetime(2026, 1, 20, 3, 0, tzinfo=UTC)


def make_config(tmp_path, data_path, *, initial: str = "alert_latest") -> str:
    (tmp_path / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        state: sqlite:///state.db
        initial: {initial}
        sources:
          magnets: {{type: file, path: {data_path}}}
        channels:
          outbox: {{type: file, format: slack, path: {tmp_path / "sent"}}}
        routes:
          - channels: [outbox]
        """)
    )
    return str(tmp_path / "monitor.yaml")


def raw_magnets() -> pd.DataFrame:
    return pd.read_csv(default_dataset(), dtype=str)


@pytest.fixture
def daemon_for(tmp_path):
    made = []

    def make(frame: pd.DataFrame, *, initial: str = "alert_latest") -> Service:
        data = tmp_path / "magnets.csv"
        frame.to_csv(data, index=False)
        config = load_config(make_config(tmp_path, data, initial=initial), env={})
        daemon = Service(config, clock=ManualClock(RELEASE_DAY))
        made.append(daemon)
        return daemon

    yield make
    for d in made:
        d.close()


def notices_of(evaluations) -> list[tuple[str, str, str, str]]:
    return sorted(
        (n.alert.period, n.alert.rule_id, n.alert.partner, n.change)
        for e in evaluations
        for n in e.notices
    )


def test_first_poll_alerts_only_on_the_latest_period(daemon_for):
    """A new source's history is recorded silently except its newest month."""
    daemon = daemon_for(raw_magnets())
    _, evaluations, _ = daemon.run_once()
    periods = {p for p, *_ in notices_of(evaluations)}
    assert periods <= {"2025-12"}
    assert len(daemon.store.observations()) == len(raw_magnets())


def test_first_poll_backfill_mode_sends_nothing(daemon_for):
    """initial: backfill records history and fires nothing."""
    daemon = daemon_for(raw_magnets(), initial="backfill")
    _, evaluations, _ = daemon.run_once()
    assert notices_of(evaluations) == []
    assert daemon.store.outbox() == []


def test_first_poll_alert_all_mode_fires_the_headline(daemon_for):
    """initial: alert_all evaluates every period, including July 2025's six-month high."""
    daemon = daemon_for(raw_magnets(), initial="alert_all")
    _, evaluations, _ = daemon.run_once()
    fired = notices_of(evaluations)
    assert ("2025-07", "magnets-six-month-high", "US", "new") in fired


def test_run_once_twice_sends_nothing_the_second_time(daemon_for):
    """State dedup: the same data twice queues and sends nothing new."""
    daemon = daemon_for(raw_magnets(), initial="alert_all")
    daemon.run_once()
    sent_before = len(daemon.store.outbox())
    assert sent_before > 0
    _, evaluations, _ = daemon.run_once()
    assert evaluations == [] and len(daemon.store.outbox()) == sent_before


def test_a_new_month_is_alerted_once(daemon_for, tmp_path):
    """Publishing October after September fires October's alerts, once."""
    frame = raw_magnets()
    daemon = daemon_for(frame[frame.period <= "2025-09"], initial="backfill")
    daemon.run_once()
    frame[frame.period <= "2025-10"].to_csv(tmp_path / "magnets.csv", index=False)
    _, evaluations, _ = daemon.run_once()
    fired = notices_of(evaluations)
    assert ("2025-10", "magnets-six-month-high", "US", "new") in fired
    assert {p for p, *_ in fired} == {"2025-10"}
    _, again, _ = daemon.run_once()
    assert again == []


def test_crash_between_ingest_and_evaluation_loses_nothing(daemon_for, tmp_path):
    """A release ingested but never evaluated is evaluated by the next cycle."""
    frame = raw_magnets()
    daemon = daemon_for(frame[frame.period <= "2025-09"], initial="backfill")
    daemon.run_once()
    frame[frame.period <= "2025-10"].to_csv(tmp_path / "magnets.csv", index=False)
    daemon.pipeline.poll("magnets")  # ingest only: the "crash" comes here
    assert len(daemon.store.pending_releases()) == 1
    restarted = Service(daemon.config, clock=ManualClock(RELEASE_DAY))
    try:
        _, evaluations, _ = restarted.run_once()
        assert ("2025-10", "magnets-six-month-high", "US", "new") in notices_of(evaluations)
    finally:
        restarted.close()


def test_revision_that_changes_figures_sends_a_revised_notice(daemon_for, tmp_path):
    """A revised month re-evaluated with new figures gives one 'revised' notice."""
    frame = raw_magnets()
    daemon = daemon_for(frame, initial="alert_all")
    daemon.run_once()
    revised = frame.copy()
    revised.loc[(revised.period == "2025-10") & (revised.partner == "US"), "value"] = "700"
    revised.to_csv(tmp_path / "magnets.csv", index=False)
    _, evaluations, _ = daemon.run_once()
    fired = notices_of(evaluations)
    assert ("2025-10", "magnets-six-month-high", "US", "revised") in fired
    assert all(p == "2025-10" for p, *_ in fired)


def test_revision_that_breaks_an_alert_says_it_no_longer_holds(daemon_for, tmp_path):
    """A revision that makes a six-month high disappear gives a 'resolved' notice."""
    frame = raw_magnets()
    daemon = daemon_for(frame, initial="alert_all")
    daemon.run_once()
    revised = frame.copy()
    revised.loc[(revised.period == "2025-10") & (revised.partner == "US"), "value"] = "400"
    revised.to_csv(tmp_path / "magnets.csv", index=False)
    _, evaluations, _ = daemon.run_once()
    assert ("2025-10", "magnets-six-month-high", "US", "resolved") in notices_of(evaluations)


def test_a_failing_source_is_recorded_and_the_cycle_goes_on(daemon_for, tmp_path):
    """A missing file is a recorded poll failure, not a crash."""
    daemon = daemon_for(raw_magnets())
    (tmp_path / "magnets.csv").unlink()
    polls, _evaluations, _ = daemon.run_once()
    assert not polls[0].ok and "file not found" in polls[0].error
    assert daemon.store.source_state("magnets").consecutive_failures == 1


def test_messages_are_delivered_and_marked_sent(daemon_for, tmp_path):
    """After a cycle every queued message has been written by the file channel."""
    daemon = daemon_for(raw_magnets(), initial="alert_all")
    daemon.run_once()
    outbox = daemon.store.outbox()
    assert outbox and all(m.state == "sent" for m in outbox)
    assert len(list((tmp_path / "sent").iterdir())) == len(outbox)


def test_clock_drives_the_replay_source(tmp_path):
    """The replay source only shows months whose release day has passed on the clock."""
    from monitor.sources.replay import ReplaySource

    clock = ManualClock(datetime(2025, 8, 19, tzinfo=UTC))
    source = ReplaySource("magnets", {"type": "replay"}, clock=clock)
    assert source.fetch().observations["period"].max() == "2025-06"
    clock.advance(timedelta(days=1, hours=3))
    assert source.fetch().observations["period"].max() == "2025-07"


def test_share_alerts_carry_their_share_history(daemon_for):
    """A share-shift notice carries the partner's share of the total over its chart's months,
    the same as render.history computes it from the observations."""
    from monitor.render.history import HISTORY_MONTHS, share_history_for

    daemon = daemon_for(raw_magnets(), initial="alert_all")
    _, evaluations, _ = daemon.run_once()
    shares = [n for e in evaluations for n in e.notices if n.alert.rule_id == "magnets-share-shift"]
    assert shares
    observations = daemon.store.observations()
    for notice in shares:
        want = share_history_for(notice.alert, observations, HISTORY_MONTHS)
        assert [p for p, _ in notice.share_history] == [p for p, _ in want]
        for (_, got), (_, expected) in zip(notice.share_history, want, strict=True):
            assert got == pytest.approx(expected) if expected is not None else got is None


def test_alerts_on_a_sum_carry_the_sum_as_their_history(tmp_path):
    """An HS6 sum's notice charts the sum over its codes (here the one code the bundled figures
    name), not an empty history: the store holds no series 850511."""
    from monitor.resources import bundled_path

    raw_magnets().to_csv(tmp_path / "magnets.csv", index=False)
    rules = bundled_path("rules")
    (tmp_path / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        state: sqlite:///state.db
        initial: alert_all
        rules: [{rules}, {rules / "stories"}]
        sources:
          magnets: {{type: file, path: magnets.csv}}
        channels:
          outbox: {{type: file, format: slack, path: {tmp_path / "sent"}}}
        routes:
          - channels: [outbox]
        """)
    )
    daemon = Service(
        load_config(str(tmp_path / "monitor.yaml"), env={}), clock=ManualClock(RELEASE_DAY)
    )
    try:
        _, evaluations, _ = daemon.run_once()
    finally:
        daemon.close()
    notices = {
        (n.alert.rule_id, n.alert.partner, n.alert.period): n
        for e in evaluations
        for n in e.notices
    }
    summed = notices[("magnets-hs6-six-month-high", "US", "2025-07")]
    code = notices[("magnets-six-month-high", "US", "2025-07")]
    assert summed.alert.commodity == "850511"
    assert summed.history == code.history
    assert summed.history[-1] == ("2025-07", 619_000.0)
