"""The HA lease against the real PostgreSQL server, and the SQLite flock."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psycopg
import pytest

from monitor.config.daemon import HaOptions
from monitor.daemon.ha import (
    FileLease,
    NoLease,
    PgAdvisoryLease,
    lease_for,
    libpq_conninfo,
    wait_until_active,
)

from .tcpproxy import FreezableProxy

pytestmark = pytest.mark.postgres
FAST = HaOptions(lease_name="t", check_seconds=1, keepalive_seconds=1, lost_after_seconds=2)


def test_only_one_instance_holds_the_lease(pg_url):
    """The second instance cannot take a held lease; it can once the first releases it."""
    a, b = PgAdvisoryLease(pg_url, FAST, "a"), PgAdvisoryLease(pg_url, FAST, "b")
    try:
        assert a.try_acquire()
        assert not b.try_acquire()
        assert a.still_held()
        a.release()
        assert b.try_acquire()
    finally:
        a.release()
        b.release()


def test_lease_names_are_separate_locks(pg_url):
    """Two deployments with different lease names on one database do not block each other."""
    a = PgAdvisoryLease(pg_url, FAST, "a")
    other = PgAdvisoryLease(pg_url, HaOptions(lease_name="other"), "b")
    try:
        assert a.try_acquire() and other.try_acquire()
    finally:
        a.release()
        other.release()


def test_holder_names_the_active_instance(pg_url):
    """holder() reports the active's instance id (from its application_name)."""
    a, b = PgAdvisoryLease(pg_url, FAST, "host-a"), PgAdvisoryLease(pg_url, FAST, "host-b")
    try:
        assert b.holder() is None
        a.try_acquire()
        assert b.holder() == "host-a"
    finally:
        a.release()


def test_lock_connection_carries_server_keepalives(pg_url):
    """The server side of the lock session uses the configured keepalive and timeouts."""
    opts = HaOptions(lease_name="t", keepalive_seconds=4, lost_after_seconds=9)
    a = PgAdvisoryLease(pg_url, opts, "a")
    try:
        a.try_acquire()
        with psycopg.connect(libpq_conninfo(pg_url), autocommit=True) as admin:
            admin.execute("SELECT 1")  # the lease session is visible in pg_stat_activity
        show = {
            k: a._conn.execute(f"SHOW {k}").fetchone()[0]
            for k in ("tcp_keepalives_idle", "tcp_keepalives_count", "tcp_user_timeout")
        }
        assert show == {
            "tcp_keepalives_idle": "4",
            "tcp_keepalives_count": "3",
            "tcp_user_timeout": "9000",
        }
    finally:
        a.release()


def test_server_dropping_the_session_loses_the_lease(pg_url):
    """When PostgreSQL ends the lock session (as after a network cut), still_held() is False."""
    a, b = PgAdvisoryLease(pg_url, FAST, "a"), PgAdvisoryLease(pg_url, FAST, "b")
    try:
        assert a.try_acquire()
        with psycopg.connect(libpq_conninfo(pg_url), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'customs-monitor a'"
            )
        assert not a.still_held()
        assert b.try_acquire()
    finally:
        a.release()
        b.release()


def test_frozen_network_fences_the_active_within_deadline(pg_url):
    """No answer from the server for lost_after_seconds: the active gives the lease up."""
    proxy = FreezableProxy(("127.0.0.1", 5432))
    url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    a = PgAdvisoryLease(url, FAST, "a")
    try:
        assert a.try_acquire() and a.still_held()
        proxy.frozen.set()
        started = time.monotonic()
        assert not a.still_held()
        assert time.monotonic() - started < FAST.lost_after_seconds + 1
    finally:
        proxy.close()
        a.release()


_HOLDER = textwrap.dedent("""
    import sys, time
    from monitor.daemon.ha import PgAdvisoryLease
    from monitor.config.daemon import HaOptions
    lease = PgAdvisoryLease(sys.argv[1], HaOptions(lease_name="t"), "child")
    assert lease.try_acquire()
    print("held", flush=True)
    time.sleep(120)
""")


def test_standby_takes_over_within_seconds_of_kill_9(pg_url):
    """kill -9 of the active process: the waiting standby holds the lease well within 30 s."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, pg_url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    standby = PgAdvisoryLease(pg_url, HaOptions(lease_name="t", check_seconds=1), "standby")
    try:
        assert child.stdout.readline().strip() == "held"
        assert not standby.try_acquire()
        result: dict[str, float] = {}
        stop = threading.Event()

        def wait() -> None:
            if wait_until_active(standby, stop, 0.2):
                result["at"] = time.monotonic()

        waiter = threading.Thread(target=wait)
        waiter.start()
        killed = time.monotonic()
        os.kill(child.pid, signal.SIGKILL)
        waiter.join(timeout=30)
        stop.set()
        assert "at" in result
        assert result["at"] - killed < 5
        assert standby.still_held()
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        standby.release()


def test_unreachable_server_is_logged_without_password(caplog):
    """A standby that cannot reach PostgreSQL keeps waiting; the log shows no password."""
    lease = PgAdvisoryLease("postgresql://postgres:s3cret@127.0.0.1:1/test", FAST, "a")
    with caplog.at_level(logging.WARNING):
        assert not lease.try_acquire()
    assert "cannot reach PostgreSQL" in caplog.text
    assert "s3cret" not in caplog.text


def test_file_lease_is_exclusive_and_released(tmp_path):
    """Two daemons on one SQLite file: the second waits until the first lets go."""
    path = tmp_path / "state.db.lock"
    a, b = FileLease(path, "a"), FileLease(path, "b")
    assert a.try_acquire()
    assert not b.try_acquire()
    assert b.holder().startswith("a pid ")
    a.release()
    assert b.try_acquire()
    b.release()


def test_file_lease_names_its_holder_only_while_held(tmp_path):
    """holder() names the instance holding the flock, and nobody once it is released (the
    line it wrote stays in the file)."""
    a, b = FileLease(tmp_path / "state.db.lock", "host-a"), FileLease(tmp_path / "state.db.lock")
    assert b.holder() is None
    assert a.try_acquire()
    assert b.holder() == f"host-a pid {os.getpid()}"
    a.release()
    assert (tmp_path / "state.db.lock").read_text().startswith("host-a")
    assert b.holder() is None


def test_file_lease_freed_when_holder_dies(tmp_path):
    """The kernel frees the flock of a killed process."""
    path = tmp_path / "state.db.lock"
    code = (
        "import sys,time; from monitor.daemon.ha import FileLease;"
        "assert FileLease(sys.argv[1]).try_acquire(); print('held', flush=True);"
        "time.sleep(60)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert child.stdout.readline().strip() == "held"
        lease = FileLease(path)
        assert not lease.try_acquire()
        child.kill()
        child.wait()
        assert lease.try_acquire()
        lease.release()
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_lease_for_matches_the_store(tmp_path):
    """PostgreSQL gets the advisory lock, a SQLite file a flock beside it, memory none."""
    assert isinstance(lease_for("postgresql://u@h/db", HaOptions(), "i"), PgAdvisoryLease)
    lease = lease_for(f"sqlite:///{tmp_path}/s.db", HaOptions(), "i")
    assert isinstance(lease, FileLease) and lease.path == tmp_path / "s.db.lock"
    assert isinstance(lease_for("sqlite://", HaOptions(), "i"), NoLease)


def test_lease_in_another_database_is_not_ours(pg_url):
    """The same lease name in another database of the cluster neither blocks nor shows."""
    import secrets

    other_db = f"cm_test_{secrets.token_hex(6)}"
    admin_url = pg_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(libpq_conninfo(admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{other_db}"')
    other = PgAdvisoryLease(pg_url.rsplit("/", 1)[0] + f"/{other_db}", FAST, "elsewhere")
    ours = PgAdvisoryLease(pg_url, FAST, "here")
    try:
        assert other.try_acquire()
        assert ours.holder() is None
        assert ours.try_acquire()
        assert ours.holder() == "here"
    finally:
        other.release()
        ours.release()
        with psycopg.connect(libpq_conninfo(admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{other_db}" WITH (FORCE)')
