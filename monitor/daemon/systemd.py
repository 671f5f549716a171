"""sd_notify(3) over $NOTIFY_SOCKET: READY, WATCHDOG, STATUS, RELOADING, STOPPING.

The protocol is one datagram of ``KEY=VALUE`` lines to a unix socket, so the standard library's
socket module does it in a few lines (no dependency, no libsystemd). Outside systemd (no
NOTIFY_SOCKET) every call is a cheap no-op, so the daemon runs the same in a terminal.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """sd_notify to ``NOTIFY_SOCKET`` of ``environ`` (default ``os.environ``); each call returns
    True if systemd got it and never raises."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # "@name" is the abstract namespace (a leading NUL byte on the wire).
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._watchdog_usec = _watchdog_usec(env)

    @property
    def enabled(self) -> bool:
        """True under systemd with a notify socket; otherwise every call does nothing."""
        return bool(self.address)

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines; True if systemd got them. Never raises."""
        if not self.address:
            return False
        text = "\n".join(f"{k.upper()}={v}" for k, v in fields.items())
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(text.encode("utf-8"))
            return True
        except OSError as exc:
            # A lost notification must never take the daemon down; systemd notices by itself.
            log.warning("sd_notify failed: %s", exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        """READY=1 (at start and after a reload), with ``status`` as the status line if given."""
        fields: dict[str, str | int] = {"ready": 1}
        if status:
            fields["status"] = _one_line(status)
        return self.notify(**fields)

    def watchdog(self) -> bool:
        """WATCHDOG=1: the daemon is alive (``watchdog_interval`` says how often)."""
        return self.notify(watchdog=1)

    def status(self, text: str) -> bool:
        """STATUS=``text`` on one line, as ``systemctl status`` shows it."""
        return self.notify(status=_one_line(text))

    def reloading(self) -> bool:
        """RELOADING=1 with the MONOTONIC_USEC systemd matches to the reload it asked for."""
        # MONOTONIC_USEC lets systemd (>= 253, Type=notify-reload) match the reload it asked for.
        return self.notify(reloading=1, monotonic_usec=time.monotonic_ns() // 1000)

    def stopping(self) -> bool:
        """STOPPING=1: the daemon has begun to stop."""
        return self.notify(stopping=1)

    def watchdog_interval(self, fallback: float) -> float:
        """Seconds between WATCHDOG=1 pings: half of systemd's WatchdogSec, else ``fallback``."""
        if self._watchdog_usec:
            return self._watchdog_usec / 2_000_000
        return fallback


def _watchdog_usec(env: Mapping[str, str]) -> int:
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return 0
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return 0  # the watchdog is meant for another process (e.g. our parent)
    return max(usec, 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())
