"""sd_notify against a real unix datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket

import pytest

from monitor.daemon.systemd import Notifier


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield path, sock
    sock.close()


def test_ready_with_status_is_one_datagram(notify_socket):
    """READY=1 and STATUS= arrive together, one KEY=VALUE per line."""
    path, sock = notify_socket
    assert Notifier({"NOTIFY_SOCKET": path}).ready("3 sources, waiting")
    assert sock.recv(4096).decode().splitlines() == ["READY=1", "STATUS=3 sources, waiting"]


def test_watchdog_and_stopping(notify_socket):
    """WATCHDOG=1 and STOPPING=1 are sent as such."""
    path, sock = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path})
    n.watchdog()
    n.stopping()
    assert [sock.recv(4096), sock.recv(4096)] == [b"WATCHDOG=1", b"STOPPING=1"]


def test_status_is_flattened_to_one_line(notify_socket):
    """A multi-line status becomes one line (systemd reads one value per line)."""
    path, sock = notify_socket
    Notifier({"NOTIFY_SOCKET": path}).status("last poll gacc\n2 alerts")
    assert sock.recv(4096) == b"STATUS=last poll gacc 2 alerts"


def test_reloading_carries_monotonic_time(notify_socket):
    """RELOADING=1 comes with MONOTONIC_USEC for Type=notify-reload."""
    path, sock = notify_socket
    Notifier({"NOTIFY_SOCKET": path}).reloading()
    lines = sock.recv(4096).decode().splitlines()
    assert lines[0] == "RELOADING=1"
    assert lines[1].startswith("MONOTONIC_USEC=") and int(lines[1].split("=")[1]) > 0


def test_abstract_socket_address():
    """An '@name' NOTIFY_SOCKET is the abstract namespace."""
    name = f"cm-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert sock.recv(64) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_no_socket_is_a_quiet_no_op():
    """Outside systemd nothing is sent and nothing fails."""
    n = Notifier({})
    assert not n.enabled
    assert n.ready() is False


def test_vanished_socket_does_not_raise(tmp_path):
    """A socket path that no longer exists is logged, never raised."""
    assert Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).watchdog() is False


def test_watchdog_interval_is_half_of_watchdog_usec():
    """WatchdogSec=30 (WATCHDOG_USEC=30000000) means a ping every 15 s."""
    env = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(env).watchdog_interval(99) == 15
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_interval(99) == 99
    assert Notifier({}).watchdog_interval(7) == 7
