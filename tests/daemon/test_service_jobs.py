"""The service's own jobs in-process: ops notices, watchdog, lease fencing, reload."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.service import Service

NOW = dt.datetime(2025, 8, 20, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"state: sqlite:///{tmp_path / 'state.db'}\n"
        "sources:\n"
        f"  gacc:\n    type: file\n    path: {tmp_path / 'missing.csv'}\n"
        "    schedule: '@every 5m'\n    failure_alert_after: 2\n"
        "channels:\n"
        f"  analysts:\n    type: file\n    path: {tmp_path / 'analysts'}\n"
        f"  ops:\n    type: file\n    path: {tmp_path / 'ops'}\n"
        "routes:\n  - channels: [analysts]\n"
        "daemon:\n  health: {enabled: false}\n  ops: {channels: [ops]}\n"
    )
    return path


@pytest.fixture
def service(config_path):
    svc = Service(
        load_config(str(config_path)),
        config_path=str(config_path),
        clock=ManualClock(NOW),
        environ={},
    )
    yield svc
    svc.close()


def _files(folder) -> list[str]:
    """The JSON messages a file channel wrote, oldest first."""
    if not folder.exists():
        return []
    return [p.read_text() for p in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)]


def test_failing_source_notifies_ops_channel_once_and_once_when_it_clears(service, tmp_path):
    """Two failed polls (the source's failure_alert_after) queue one notice to the ops channel;
    more failures add none; the first good poll queues one clearing notice."""
    service.poll("gacc")
    service.deliver()
    assert _files(tmp_path / "ops") == []
    for _ in range(4):
        service.poll("gacc")
        assert service.check_ops() == 0  # the poll itself opened the incident
    service.deliver()
    [opened] = _files(tmp_path / "ops")
    assert "source gacc is failing (2 polls in a row)" in opened
    (tmp_path / "missing.csv").write_text("period,reporter,partner,commodity,flow,measure,value\n")
    service.poll("gacc")
    service.poll("gacc")
    service.deliver()
    [_, cleared] = _files(tmp_path / "ops")
    assert "no longer hold" in cleared and "source gacc is failing" in cleared
    assert "polls in a row" not in cleared.split("no longer hold", 1)[1]
    assert _files(tmp_path / "analysts") == []


def test_a_silence_on_the_subject_mutes_the_incident_not_the_record(service, tmp_path):
    """A silence on ops-source-failing, subject=gacc (docs/delivery.md) sends neither notice;
    the incident is still recorded open while it lasts and resolved when it clears."""
    from monitor.daemon import ops
    from monitor.notify import silences

    silences.add(
        service.store,
        rule="ops-source-failing",
        matchers={"subject": "gacc"},
        until=NOW + dt.timedelta(days=7),
        comment="GACC portal down",
        now=NOW,
    )
    for _ in range(3):
        service.poll("gacc")
    [incident] = ops.open_incidents(service.store).values()
    assert incident.state == "silenced" and ops.subject_of(incident.alert) == "gacc"
    (tmp_path / "missing.csv").write_text("period,reporter,partner,commodity,flow,measure,value\n")
    service.poll("gacc")
    service.deliver()
    assert ops.open_incidents(service.store) == {}
    assert service.store.alerts([incident.key])[incident.key].state == "resolved"
    assert _files(tmp_path / "ops") == []


def test_lost_lease_stops_the_service(service):
    """When the lease check fails the service stops and will exit with code 1."""

    class Lost:
        def still_held(self) -> bool:
            return False

        def release(self) -> None:
            pass

    service.lease = Lost()
    service.check_lease()
    assert service.lease_lost and service.stopping.is_set()


def test_watchdog_job_pings_systemd(config_path, tmp_path):
    """The watchdog job sends WATCHDOG=1 to NOTIFY_SOCKET."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "n.sock"))
    sock.settimeout(2)
    svc = Service(
        load_config(str(config_path)),
        config_path=str(config_path),
        clock=ManualClock(NOW),
        environ={"NOTIFY_SOCKET": str(tmp_path / "n.sock")},
    )
    try:
        svc.watchdog()
        assert sock.recv(64) == b"WATCHDOG=1"
    finally:
        svc.close()
        sock.close()


def test_schedule_uses_calendar_and_removes_dropped_sources(service, config_path):
    """Jobs follow the config: a calendar source gets the GACC trigger; a removed one goes."""
    service.active = True  # as after winning the lease in run()
    service.schedule_jobs(start_now=False)
    assert {j.id for j in service.scheduler.get_jobs()} == {
        "poll:gacc",
        "deliver",
        "watchdog",
        "lease",
        "ops",
        "missing",
    }
    text = (
        config_path.read_text()
        .replace("gacc:", "customs:")
        .replace("schedule: '@every 5m'", "calendar: gacc")
    )
    config_path.write_text(text)
    assert service.reload()
    ids = {j.id for j in service.scheduler.get_jobs()}
    assert "poll:customs" in ids and "poll:gacc" not in ids


def test_reload_rejects_broken_config(service, config_path, caplog):
    """A reload with an unknown channel type keeps the running config and logs where."""
    config_path.write_text(
        config_path.read_text().replace("type: file\n    path: ", "type: fil\n    path: ", 1)
    )
    before = service.config
    assert not service.reload()
    assert service.config is before
    assert "reload rejected" in caplog.text and "monitor.yaml" in caplog.text


def test_deliveries_are_counted_in_metrics(service, tmp_path):
    """Messages the service delivers show up in deliveries_total per channel."""
    service.poll("gacc")
    service.poll("gacc")
    service.check_ops()
    service.deliver()
    assert b'customs_monitor_deliveries_total{channel="ops"} 1.0' in service.metrics.exposition()


def test_missing_release_fires_once_from_the_clock(tmp_path, magnets):
    """On 25 Feb 2026 (past the 20th + 2 days grace) January's WORLD figure is late: one
    notice to the analysts' route, not repeated by the next check."""
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"state: sqlite:///{tmp_path / 'state.db'}\n"
        f"sources:\n  magnets:\n    type: file\n    path: {tmp_path / 'm.csv'}\n"
        f"channels:\n  analysts:\n    type: file\n    path: {tmp_path / 'analysts'}\n"
        "routes:\n  - channels: [analysts]\n"
        "daemon:\n  health: {enabled: false}\n"
    )
    clock = ManualClock(dt.datetime(2026, 2, 25, 6, 0, tzinfo=dt.UTC))
    svc = Service(load_config(str(path)), config_path=str(path), clock=clock, environ={})
    try:
        svc.store.ingest("magnets", magnets, now=clock.now(), evaluate=False)
        assert svc.check_missing_releases() == 1
        assert svc.check_missing_releases() == 0
        [stored] = svc.store.alerts().values()
        assert (stored.rule_id, stored.period) == ("magnets-release-missing", "2026-01")
    finally:
        svc.close()


def test_schedule_without_start_now_follows_the_trigger(config_path):
    """schedule_jobs(start_now=False) adds active jobs, not paused ones."""
    from apscheduler.schedulers.background import BackgroundScheduler

    config = load_config(str(config_path))
    svc = Service(
        config, config_path=str(config_path), scheduler=BackgroundScheduler(timezone="UTC")
    )
    svc.schedule_jobs(start_now=False)
    svc.scheduler.start(paused=True)  # a started scheduler computes next run times
    try:
        assert svc.scheduler.get_job("poll:gacc").next_run_time is not None
    finally:
        svc.scheduler.shutdown(wait=False)
        svc.close()
