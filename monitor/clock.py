"""One injectable clock, so the demo, the tests and the daemon share the same code paths."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the daemon, delivery and console read the time from and wait with."""

    def now(self) -> datetime:
        """Aware UTC datetime."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a manual clock moves itself forward instead)."""
        ...


class SystemClock:
    """The real clock: wall time in UTC and a blocking ``time.sleep``."""

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        time.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to (tests, demo replay)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The time last set or advanced to."""
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (aware, like the constructor's), forward or back."""
        if when.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        with self._lock:
            self._now = when

    def advance(self, delta: timedelta | float) -> None:
        """Move forward by ``delta``, a ``timedelta`` or a number of seconds."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        with self._lock:
            self._now += delta

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` at once instead of waiting, so paced code runs at full speed."""
        self.advance(seconds)


def utc_iso(when: datetime) -> str:
    """``when`` in UTC as ISO 8601 to the second, ending in ``Z`` (naive is read as local time)."""
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
