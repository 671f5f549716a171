"""`customs-monitor status`: the store's figures for a human, and as JSON."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from monitor.commands.status import as_json, format_status, gather
from monitor.store import OutboxEntry

NOW = dt.datetime(2025, 8, 20, 3, 0, tzinfo=dt.UTC)


def test_text_lists_sources_outbox_and_releases(store, magnets: pd.DataFrame):
    """Per-source polls/failures, outbox per channel and recent releases appear."""
    store.ingest("magnets", magnets, now=NOW)
    store.record_poll("magnets", now=NOW - dt.timedelta(hours=1))
    store.record_poll("magnets", now=NOW - dt.timedelta(minutes=5), error="HTTP 500 from server")
    msg = {"subject": "s", "text": "t"}
    store.enqueue([OutboxEntry("slack", "a", "alert", msg)], now=NOW - dt.timedelta(minutes=30))
    store.enqueue([OutboxEntry("email", "b", "alert", msg)], now=NOW)
    [_, email] = store.outbox()
    store.mark_failed(email.id, now=NOW, error="550 no such user")
    text = format_status(gather(store, NOW))
    source_line = next(line for line in text.splitlines() if line.strip().startswith("magnets"))
    assert source_line.split()[1:5] == ["5m", "ago", "1h", "ago"]
    # polls: the ingest's own poll record plus the two recorded here
    assert source_line.split()[5:8] == ["3", "1", "1"]
    assert "HTTP 500 from server" in source_line
    slack_line = next(line for line in text.splitlines() if line.strip().startswith("slack"))
    assert slack_line.split()[1:4] == ["1", "30m", "ago"]
    assert "550 no such user" in text
    assert "magnets: new " in text and "(initial)" in text


def test_empty_store_says_so(store):
    """A fresh store prints placeholders instead of empty tables."""
    text = format_status(gather(store, NOW))
    assert "(no source polled yet)" in text
    assert "Outbox\n  empty" in text


def test_json_has_the_same_figures(store):
    """--format json carries counts per channel and per source."""
    store.record_poll("gacc", now=NOW, error="timeout")
    msg = {"subject": "s", "text": "t"}
    store.enqueue([OutboxEntry("slack", "a", "alert", msg)], now=NOW)
    data = json.loads(as_json(gather(store, NOW)))
    assert data["sources"][0]["consecutive_failures"] == 1
    assert data["outbox"]["pending_by_channel"] == {"slack": 1}


def test_long_release_lists_only_newest_periods(store, magnets: pd.DataFrame):
    """A backfill release shows its newest periods and how many earlier ones."""
    store.ingest("magnets", magnets, now=NOW)
    text = format_status(gather(store, NOW))
    assert "new 11 earlier, 2025-09, 2025-10, 2025-11, 2025-12 (initial)" in text


def test_cli_status_reads_the_configured_store(tmp_path, capsys):
    """`customs-monitor --config X status` prints the store named in the config."""
    from monitor.cli import main
    from monitor.store import open_store

    state = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(state)
    store.record_poll("gacc", now=NOW, error="HTTP 503 from server")
    store.close()
    config = tmp_path / "monitor.yaml"
    config.write_text(f"state: {state}\nsources: {{}}\nchannels: {{}}\n")
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert "gacc" in out and "HTTP 503 from server" in out


@pytest.mark.postgres
def test_cli_status_names_the_active_instance(tmp_path, pg_url, capsys):
    """On PostgreSQL, status says which instance holds the lease."""
    from monitor.cli import main
    from monitor.config.daemon import HaOptions
    from monitor.daemon.ha import PgAdvisoryLease

    config = tmp_path / "monitor.yaml"
    config.write_text(f"state: {pg_url}\nsources: {{}}\nchannels: {{}}\n")
    lease = PgAdvisoryLease(pg_url, HaOptions(), "host-a")
    try:
        assert main(["--config", str(config), "status"]) == 0
        assert "active instance: none" in capsys.readouterr().out
        lease.try_acquire()
        assert main(["--config", str(config), "status"]) == 0
        assert "active instance: host-a" in capsys.readouterr().out
    finally:
        lease.release()


def test_an_unreadable_lease_holder_is_unknown_not_nobody(store):
    """A failed look-up of the HA lease says 'unknown' and why (text and JSON), never 'none'."""
    from monitor.config.daemon import HaOptions
    from monitor.daemon.ha import PgAdvisoryLease
    from monitor.errors import StoreError

    report = gather(store, NOW)
    lease = PgAdvisoryLease("postgresql://monitor:s3cret-pw@127.0.0.1:1/state", HaOptions(), "me")
    with pytest.raises(StoreError) as err:
        lease.holder(raise_errors=True)
    assert "s3cret-pw" not in str(err.value)
    report.active_error = str(err.value)
    text = format_status(report)
    assert "active instance: unknown (cannot read the lease holder" in text
    assert "no daemon holds the lease" not in text
    data = json.loads(as_json(report))
    assert data["active"] is None and data["active_error"].startswith("cannot read the lease")


def test_recent_alerts_are_the_newest_recorded(store):
    """status shows the N alerts recorded last, newest first, reading only those N."""
    from monitor.model import Alert
    from monitor.store import ALERT_FIRING, AlertUpdate

    for day in range(1, 8):
        alert = Alert("r", f"2025-0{day}", "CN", "US", "1", "export", "value_usd", 1.0, "USD")
        when = NOW + dt.timedelta(days=day)
        store.commit_evaluation([], [AlertUpdate(alert, ALERT_FIRING, None)], [], now=when)
    report = gather(store, NOW, recent=3)
    assert [a.period for a in report.alerts] == ["2025-07", "2025-06", "2025-05"]
