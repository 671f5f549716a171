"""The daemon process end to end: systemd notifications, signals, health, standby (SQLite).

Data: the bundled real GACC magnet figures (monitor/data/PROVENANCE.md), cut at 2025-06 and then
extended by the real 2025-07 rows to make a release.
"""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from monitor.resources import default_dataset

from .helpers import DaemonProcess, NotifyListener, Receiver, free_port, metric, wait_for

pytestmark = pytest.mark.slow


def write_data(path: Path, upto: str) -> None:
    df = pd.read_csv(default_dataset(), dtype=str)
    df[df["period"] <= upto].to_csv(path, index=False)


def write_config(
    tmp: Path, *, state: str, port: int, receivers: dict[str, str], extra: str = ""
) -> Path:
    channels = "".join(
        f"  {n}:\n    type: slack\n    webhook_url: {u}\n" for n, u in receivers.items()
    )
    config = tmp / "monitor.yaml"
    config.write_text(
        f"state: {state}\n"
        "initial: backfill\n"
        "sources:\n"
        f"  magnets:\n    type: file\n    path: {tmp / 'magnets.csv'}\n"
        "    schedule: '@every 5s'\n"
        f"channels:\n{channels}"
        f"routes:\n  - channels: [{', '.join(receivers)}]\n"
        "daemon:\n"
        f"  health: {{port: {port}}}\n"
        "  deliver_interval: 1\n"
        f"{extra}"
    )
    return config


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def notify(tmp_path):
    n = NotifyListener(tmp_path / "notify.sock")
    yield n
    n.close()


def test_lifecycle_under_systemd(tmp_path, receiver, notify):
    """READY after start, WATCHDOG pings, STATUS with polls, alerts delivered, STOPPING and
    exit 0 on SIGTERM."""
    write_data(tmp_path / "magnets.csv", "2025-06")
    port = free_port()
    config = write_config(
        tmp_path,
        state=f"sqlite:///{tmp_path / 'state.db'}",
        port=port,
        receivers={"slack": receiver.url},
    )
    proc = DaemonProcess(
        config, tmp_path / "log", notify=notify.path, extra_env={"WATCHDOG_USEC": "2000000"}
    )
    try:
        wait_for(lambda: notify.seen("READY=1"), 20, "READY=1")
        wait_for(lambda: notify.seen("STATUS=active; last poll magnets ok"), 20, "a poll")
        write_data(tmp_path / "magnets.csv", "2025-07")
        wait_for(lambda: receiver.bodies, 20, "the July alerts")
        assert "July" in str(receiver.bodies[0]) or "2025-07" in str(receiver.bodies[0])
        wait_for(lambda: sum(m == "WATCHDOG=1" for m in notify.messages) >= 2, 10, "watchdog")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
            assert resp.status == 200
        proc.signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert notify.seen("STOPPING=1")
        assert len(receiver.bodies) == 1
    finally:
        proc.kill()
    assert "Traceback" not in proc.log()


def test_sighup_with_broken_config_keeps_running(tmp_path, receiver, notify):
    """A broken config on SIGHUP is rejected with its located error; a good one is applied."""
    write_data(tmp_path / "magnets.csv", "2025-06")
    port = free_port()
    config = write_config(
        tmp_path,
        state=f"sqlite:///{tmp_path / 'state.db'}",
        port=port,
        receivers={"slack": receiver.url},
    )
    good = config.read_text()
    proc = DaemonProcess(config, tmp_path / "log", notify=notify.path)
    try:
        wait_for(lambda: notify.seen("STATUS=active; last poll"), 20, "first poll")
        config.write_text(good.replace("type: slack", "type: slak"))
        proc.signal(signal.SIGHUP)
        wait_for(lambda: notify.seen("reload rejected"), 20, "the rejection")
        assert "reload rejected" in proc.log()
        assert "monitor.yaml:" in proc.log()  # the problem is located
        assert notify.seen("RELOADING=1")
        # Still working on the old config: a new release is alerted.
        write_data(tmp_path / "magnets.csv", "2025-07")
        wait_for(lambda: receiver.bodies, 20, "the July alerts after a rejected reload")
        config.write_text(good.replace("@every 5s", "@every 6s"))
        proc.signal(signal.SIGHUP)
        wait_for(lambda: notify.seen("STATUS=reloaded"), 20, "the reload")
        assert proc.proc.poll() is None
        proc.signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
    assert "Traceback" not in proc.log()


def test_second_daemon_on_one_sqlite_file_waits_as_standby(tmp_path, receiver):
    """Two daemons on the same state file: one is active, the other takes over on its stop."""
    write_data(tmp_path / "magnets.csv", "2025-06")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    p1, p2 = free_port(), free_port()
    one = DaemonProcess(
        write_config(tmp_path, state=state, port=p1, receivers={"slack": receiver.url}),
        tmp_path / "log1",
    )
    wait_for(lambda: metric(p1, "customs_monitor_ha_active") == 1, 20, "first active")
    (tmp_path / "two").mkdir()
    two = DaemonProcess(
        write_config(tmp_path / "two", state=state, port=p2, receivers={"slack": receiver.url}),
        tmp_path / "log2",
    )
    # The second config points at its own (missing) data file; only the lease matters here.
    try:
        wait_for(lambda: metric(p2, "customs_monitor_ha_active") == 0, 20, "second standby")
        one.signal(signal.SIGTERM)
        assert one.wait(20) == 0
        wait_for(lambda: metric(p2, "customs_monitor_ha_active") == 1, 20, "takeover")
    finally:
        one.kill()
        two.kill()
