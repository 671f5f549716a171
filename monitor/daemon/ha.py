"""Exactly one active daemon per state store: a lease the active holds and a standby waits for.

PostgreSQL (``state: postgresql://...``): a session-level advisory lock on a dedicated
connection. The server frees it the moment that connection ends, so a killed active (kill -9,
crash) is replaced within one standby retry (``ha.check_seconds``). A lost host or a network cut
leaves no FIN; TCP keepalives set on both ends (server side through the ``options`` startup
parameter) make PostgreSQL drop the dead session after ~4 x ``keepalive_seconds``.

Fencing: the active re-checks that it still holds the lock every ``check_seconds``, and gives up
(the service stops and exits non-zero; systemd restarts it as a standby) when the check fails or
gets no answer within ``lost_after_seconds``. The options check keeps
``check + lost_after < 4 x keepalive``, so a cut-off active has stopped before the server frees
the lock for the standby; with the defaults (5, 10, 5 s) the standby takes over 20-25 s after a
cut, and the outbox in the shared database carries every undelivered message across.

SQLite: an exclusive ``flock`` on ``<database>.lock`` beside the file, so a second daemon
started by mistake on the same file waits as a standby instead of double-sending.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from monitor.config.daemon import HaOptions
from monitor.errors import StoreError

log = logging.getLogger(__name__)


class Lease(Protocol):
    """What the service needs of an HA lease; ``lease_for`` picks the one that fits the store."""

    def try_acquire(self) -> bool:
        """Take the lease if free (never blocks for long); True when this instance holds it."""

    def still_held(self) -> bool:
        """The active's periodic check; False means stop working now (fence)."""

    def release(self) -> None:
        """Give the lease up so a standby can take it now; does nothing when it is not held."""

    def holder(self) -> str | None:
        """Who holds the lease now (instance id), if that can be known."""


class NoLease:
    """Nothing to coordinate (a memory store): always active."""

    def try_acquire(self) -> bool:
        """Always True: with nothing shared, this instance is the active one."""
        return True

    def still_held(self) -> bool:
        """Always True: never fenced."""
        return True

    def release(self) -> None:
        """Nothing to give up."""
        pass

    def holder(self) -> str | None:
        """None: there is no holder to name."""
        return None


class FileLease:
    """An exclusive flock; the kernel releases it when the process dies."""

    def __init__(self, path: str | Path, instance_id: str = "") -> None:
        self.path = Path(path)
        self.instance_id = instance_id
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the flock without waiting (True if this object already holds it) and write
        ``<instance_id> pid <pid>`` into the file; False while another process holds it."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.instance_id} pid {os.getpid()}\n".encode())
        self._fd = fd
        return True

    def still_held(self) -> bool:
        """True while this object holds the flock: only the process ending can lose it."""
        return self._fd is not None

    def release(self) -> None:
        """Unlock and close the file (nothing when not held); the file and its line stay."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> str | None:
        """The line the holder wrote (``<instance_id> pid <pid>``); None when nobody holds the
        lock (the line of an instance that stopped or died stays in the file: not a holder)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # held: the line is the holder's
                return self.path.read_text(encoding="utf-8").strip() or None
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        except OSError:
            return None
        finally:
            os.close(fd)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit lock id for a lease name (pg_try_advisory_lock takes a bigint)."""
    digest = hashlib.sha256(f"customs-monitor:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://...) as a libpq URI psycopg accepts."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgAdvisoryLease:
    """Session-level advisory lock on a connection of its own (not the store's pool)."""

    # Advisory locks are per database: another deployment's database in the same cluster may
    # hold the same key, so every look at pg_locks names our database.
    _THIS_DB = "(SELECT oid FROM pg_database WHERE datname = current_database())"
    _HELD_SQL = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND pid = pg_backend_pid() AND classid = %s AND objid = %s AND objsubid = 1"
        f" AND database = {_THIS_DB}"
    )

    def __init__(self, url: str, options: HaOptions, instance_id: str) -> None:
        self.conninfo = libpq_conninfo(url)
        self.options = options
        self.instance_id = instance_id
        self.key = advisory_key(options.lease_name)
        self._conn: Any = None
        self._held = False
        self._lock = threading.Lock()

    @property
    def application_name(self) -> str:
        """``customs-monitor <instance_id>`` cut to 63 characters: what ``holder`` reads back
        (the config keeps ``daemon.instance_id`` to printable ASCII that fits)."""
        return f"customs-monitor {self.instance_id}"[:63]

    def _connect(self) -> Any:
        import psycopg

        k = self.options.keepalive_seconds
        timeout_ms = int(self.options.lost_after_seconds * 1000)
        server = (
            f"-c tcp_keepalives_idle={k} -c tcp_keepalives_interval={k} "
            f"-c tcp_keepalives_count=3 -c tcp_user_timeout={timeout_ms} "
            f"-c statement_timeout={timeout_ms}"
        )
        return psycopg.connect(
            self.conninfo,
            autocommit=True,
            application_name=self.application_name,
            connect_timeout=max(2, int(self.options.lost_after_seconds)),
            keepalives=1,
            keepalives_idle=k,
            keepalives_interval=k,
            keepalives_count=3,
            tcp_user_timeout=timeout_ms,
            options=server,
        )

    def _split_key(self) -> tuple[int, int]:
        # pg_locks shows a bigint key as classid (high 32 bits) and objid (low 32 bits).
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        return unsigned >> 32, unsigned & 0xFFFFFFFF

    def _run(self, fn: Any) -> Any:
        """Call ``fn`` with a deadline. A call that hangs (network cut) is abandoned on a daemon
        thread, which cannot hold up the process exiting after it fenced itself."""
        done = threading.Event()
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=call, name="ha-lease", daemon=True).start()
        if not done.wait(self.options.lost_after_seconds):
            raise TimeoutError(f"no answer within {self.options.lost_after_seconds:g}s")
        if "error" in box:
            raise box["error"]
        return box["value"]

    def try_acquire(self) -> bool:
        """``pg_try_advisory_lock`` on the lease's own connection (opened if needed); True when
        held. A failure or no answer within ``lost_after_seconds`` is logged and is False."""
        with self._lock:
            if self._held:
                return True
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._run(self._connect)
                conn = self._conn
                got = self._run(
                    lambda: conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[
                        0
                    ]
                )
            except Exception as exc:  # a standby keeps trying whatever happened
                log.warning("ha: cannot reach PostgreSQL for the lease: %s", _safe(exc))
                self._drop()
                return False
            self._held = bool(got)
            if self._held:
                log.info("ha: %s holds lease %r; active", self.instance_id, self.options.lease_name)
            return self._held

    def still_held(self) -> bool:
        """Whether ``pg_locks`` still shows this session holding the lock; an error, no answer
        within ``lost_after_seconds`` or the lock gone is False, and the connection is dropped."""
        with self._lock:
            if not self._held:
                return False
            conn = self._conn
            classid, objid = self._split_key()
            try:
                n = self._run(lambda: conn.execute(self._HELD_SQL, (classid, objid)).fetchone()[0])
            except TimeoutError:
                log.error(
                    "ha: PostgreSQL did not answer within %gs; lease considered lost",
                    self.options.lost_after_seconds,
                )
                self._held = False
                self._conn = None  # abandoned: its worker thread may still be stuck in it
                return False
            except Exception as exc:  # any failure means we cannot prove we hold it
                log.error("ha: lease check failed (%s); lease considered lost", _safe(exc))
                self._drop()
                return False
            if not n:
                log.error("ha: the lease lock is gone; lease lost")
                self._drop()
            return bool(n)

    def release(self) -> None:
        """Unlock explicitly (errors ignored) and close the lease connection; safe when not held."""
        with self._lock:
            if self._held and self._conn is not None:
                # Unlock explicitly: the server frees a closed session's locks only once its
                # backend has exited, and a standby retrying right now should not miss it.
                conn = self._conn
                with contextlib.suppress(Exception):
                    self._run(lambda: conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,)))
            self._drop()

    def _drop(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            # Closing the session frees the advisory lock; a broken one has nothing to free.
            with contextlib.suppress(Exception):
                conn.close()

    def holder(self, *, raise_errors: bool = False) -> str | None:
        """The application_name of the session holding the lock, from any connection; None
        when nobody holds it, or when the look-up fails (logged; ``raise_errors``: a
        ``StoreError`` saying why, so a caller can tell "unknown" from "nobody")."""
        classid, objid = self._split_key()
        try:
            with self._connect() as conn:
                row = conn.execute(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
                    " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                    " AND l.classid = %s AND l.objid = %s AND l.objsubid = 1"
                    f" AND l.database = {self._THIS_DB}",
                    (classid, objid),
                ).fetchone()
        except Exception as exc:
            if raise_errors:
                raise StoreError(f"cannot read the lease holder: {_safe(exc)}") from None
            log.warning("ha: cannot read the lease holder: %s", _safe(exc))
            return None
        if row is None:
            return None
        name = str(row[0])
        return name.removeprefix("customs-monitor ")


def _safe(exc: BaseException) -> str:
    """psycopg messages may echo the conninfo; keep only the first line, minus any password."""
    from monitor.http import redact_url

    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return " ".join(redact_url(w) if "://" in w else w for w in first.split())


def lease_for(state_url: str, options: HaOptions, instance_id: str) -> Lease:
    """The lease that fits the store: advisory lock, flock beside a SQLite file, or none."""
    if state_url.startswith("postgresql"):
        return PgAdvisoryLease(state_url, options, instance_id)
    if state_url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(state_url).database
        if database and database != ":memory:":
            return FileLease(f"{database}.lock", instance_id)
    return NoLease()


def wait_until_active(
    lease: Lease,
    stop: threading.Event,
    check_seconds: float,
    *,
    on_standby: Callable[[str], object] | None = None,
    on_wait: Callable[[], object] | None = None,
) -> bool:
    """The standby loop: retry the lease every ``check_seconds`` until it is held (True) or
    ``stop`` is set (False). ``on_standby(holder)`` runs once, when the lease is first found
    held by another instance; ``on_wait`` before each wait (a standby is healthy, not stuck)."""
    announced = False
    while not stop.is_set():
        if lease.try_acquire():
            return True
        if not announced:
            holder = lease.holder() or "another instance"
            log.info("ha: standby; the lease is held by %s", holder)
            if on_standby is not None:
                on_standby(holder)
            announced = True
        if on_wait is not None:
            on_wait()
        stop.wait(check_seconds)
    return False
