"""Two daemon processes on one PostgreSQL database; kill -9 the active during a release.

Data: the bundled real GACC magnet figures (monitor/data/PROVENANCE.md), cut at 2025-06 and then
extended month by month with the real rows. Receivers: two local webhook servers.
"""

from __future__ import annotations

import json
import time

import pytest

from .helpers import DaemonProcess, Receiver, free_port, metric, wait_for
from .test_service import write_config, write_data

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
HA = "  ha: {check_seconds: 1, keepalive_seconds: 2, lost_after_seconds: 3}\n"


def test_kill_9_during_a_release_loses_and_repeats_nothing(tmp_path, pg_url):
    """Every alert reaches both receivers exactly once across a kill -9 and a takeover."""
    ok, flaky = Receiver(), Receiver()
    flaky.down = True  # the second channel is failing when the release lands
    write_data(tmp_path / "magnets.csv", "2025-06")
    receivers = {"ok": ok.url, "flaky": flaky.url}
    ports = free_port(), free_port()
    daemons = []
    try:
        for i, port in enumerate(ports):
            folder = tmp_path / f"host{i}"
            folder.mkdir()
            (folder / "magnets.csv").symlink_to(tmp_path / "magnets.csv")
            config = write_config(
                folder,
                state=pg_url,
                port=port,
                receivers=receivers,
                extra=f"  instance_id: host{i}\n" + HA,
            )
            daemons.append(DaemonProcess(config, tmp_path / f"log{i}"))
            wait_for(
                lambda p=port: metric(p, "customs_monitor_ha_active") is not None,
                30,
                f"daemon {i} up",
            )
        active = [metric(p, "customs_monitor_ha_active") for p in ports]
        assert sorted(active) == [0, 1]
        a = active.index(1)
        b = 1 - a

        # A release: July arrives; the active queues one message per channel, delivers to `ok`
        # and keeps retrying `flaky`.
        write_data(tmp_path / "magnets.csv", "2025-07")
        wait_for(lambda: ok.bodies and flaky.refused, 90, "July sent to ok, refused by flaky")
        # Kill once the outbox has recorded ok's message as sent: a kill between the server
        # accepting a message and the outbox recording it sends it once more, as documented
        # ("at most once more"), which is not what this test is about.
        wait_for(lambda: _sent_to(pg_url, "ok"), 90, "July recorded as sent to ok")
        daemons[a].proc.kill()  # kill -9 in the middle of the release
        killed = time.monotonic()
        daemons[a].wait(10)
        wait_for(lambda: metric(ports[b], "customs_monitor_ha_active") == 1, 30, "takeover")
        takeover = time.monotonic() - killed
        flaky.down = False
        # generous waits: they end as soon as the condition holds, and a loaded machine (two
        # suites at once) has taken longer than 30 s to poll, evaluate and deliver a release
        wait_for(lambda: flaky.bodies, 90, "the July message delivered by the new active")

        # Business as usual on the new active: August arrives.
        write_data(tmp_path / "magnets.csv", "2025-08")
        wait_for(lambda: len(ok.bodies) == 2 and len(flaky.bodies) == 2, 90, "August")
        time.sleep(3)  # would a duplicate still arrive?
    finally:
        for d in daemons:
            d.kill()
        ok.close()
        flaky.close()

    assert takeover < 30
    for r in (ok, flaky):
        texts = [json.dumps(body) for body in r.bodies]
        assert len(texts) == 2
        assert "July" in texts[0] and "August" in texts[1]
    for i in range(2):
        assert "Traceback" not in (tmp_path / f"log{i}").read_text()


def _sent_to(url: str, channel: str) -> bool:
    """Whether the shared outbox records a message to ``channel`` as sent."""
    from monitor.store import open_store
    from monitor.store.base import OUTBOX_SENT

    store = open_store(url)
    try:
        return any(m.channel == channel for m in store.outbox(state=OUTBOX_SENT))
    finally:
        store.close()


def test_active_that_loses_its_lock_exits_1(tmp_path, pg_url):
    """When PostgreSQL drops the active's lock session, `run` stops and exits 1 (restart)."""
    import psycopg

    from monitor.daemon.ha import libpq_conninfo

    receiver = Receiver()
    write_data(tmp_path / "magnets.csv", "2025-06")
    port = free_port()
    config = write_config(
        tmp_path,
        state=pg_url,
        port=port,
        receivers={"r": receiver.url},
        extra="  instance_id: lonely\n" + HA,
    )
    daemon = DaemonProcess(config, tmp_path / "log")
    try:
        wait_for(lambda: metric(port, "customs_monitor_ha_active") == 1, 30, "active")
        with psycopg.connect(libpq_conninfo(pg_url), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'customs-monitor lonely'"
            )
        assert daemon.wait(20) == 1
        assert "lease was lost" in daemon.log()
    finally:
        daemon.kill()
        receiver.close()
