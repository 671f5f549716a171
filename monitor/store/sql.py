"""SqlStore: the state store on SQLAlchemy Core, for SQLite (default) and PostgreSQL (HA)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from monitor.errors import SourceError, StoreError
from monitor.model import (
    COLUMNS,
    OBSERVATION_KEY,
    SERIES_KEY,
    Release,
    empty_observations,
    period_to_month,
)
from monitor.store import schema as s
from monitor.store import silences
from monitor.store.base import (
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENT,
    AlertUpdate,
    OutboxEntry,
    SourceState,
    StoredAlert,
)
from monitor.store.observations import IngestError, ObservationStore
from monitor.store.schema import TS_FORMAT, parse_ts, ts
from monitor.store.silences import Silence

log = logging.getLogger(__name__)

# One encoder for every alert payload: json.dumps with options builds a new one per call.
_PAYLOAD = json.JSONEncoder(default=str)


def redact_db_url(url: str) -> str:
    """``url`` with its password masked, for messages; ``<state store>`` if it does not parse."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<state store>"


class SqlStore:
    """The Store interface (monitor.store.base.Store) on one SQLAlchemy engine."""

    def __init__(
        self,
        url: str,
        *,
        engine: Engine | None = None,
        timeout: float = 30.0,
        spill_dir: str | Path | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._shown_url = redact_db_url(url)
        self._engine = engine or self._create_engine(url)
        self.dialect = self._engine.dialect.name
        # Ingest reads current values and writes the difference: two ingests of one source
        # must not interleave, or both would see the same months as new. Threads of this process
        # take this lock; other processes are serialised by the database (an advisory lock on
        # PostgreSQL; SQLite refuses a write from a stale snapshot with SQLITE_BUSY).
        self._write_lock = threading.RLock()
        # Observations and vintages: columnar segments in this same database (the data plane).
        self.data = ObservationStore(spill_dir=spill_dir or self._default_spill_dir(url))

    # -- lifecycle -------------------------------------------------------------------------
    @staticmethod
    def _default_spill_dir(url: str) -> str | None:
        """Beside a SQLite file (its disk has room for the data); else the system default."""
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            return os.path.dirname(os.path.abspath(parsed.database))
        return None

    def _create_engine(self, url: str) -> Engine:
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite":
            db = parsed.database
            if db and db != ":memory:":
                folder = os.path.dirname(os.path.abspath(db))
                try:
                    os.makedirs(folder, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"state store {self._shown_url}: cannot create folder "
                        f"{folder}: {exc.strerror}"
                    ) from None
            engine = sa.create_engine(url, connect_args={"timeout": self.timeout})

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                # WAL: readers never block the writer; FULL: a committed outbox row survives
                # power loss too, which is the point of the outbox.
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
                cur.close()

            return engine
        if parsed.get_backend_name() == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            return sa.create_engine(
                parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10}
            )
        raise StoreError(
            f"state store {self._shown_url}: unsupported database "
            f"(use sqlite:///path or postgresql://...)"
        )

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"state store {self._shown_url}: {what} failed: {_reason(exc)}"
            ) from None
        except sa.exc.DBAPIError as exc:
            raise StoreError(
                f"state store {self._shown_url}: {what} failed: {_reason(exc)}"
            ) from None

    @contextlib.contextmanager
    def transaction(self, what: str = "transaction") -> Iterator[Connection]:
        """A connection in a transaction, committed on leaving and rolled back on an exception;
        a database error becomes a StoreError naming ``what``. The ingest lock is not taken."""
        with self._guard(what), self._engine.begin() as conn:
            yield conn

    def migrate(self) -> int:
        with self._guard("migration"):
            with self._engine.begin() as conn:
                # Serialise concurrent migrators (two HA instances starting together on a new
                # database): without the lock both see no table and the second CREATE fails.
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(715517)"))
                s.schema_version.create(conn, checkfirst=True)
            current = self.schema_version()
            migrations = s.migrations()
            known = max(mod.VERSION for mod in migrations)
            if current > known:
                # A newer release wrote it (an HA peer upgraded first): reading it with older
                # code would misread what the newer one changed, so refuse instead.
                raise StoreError(
                    f"state store {self._shown_url} is at schema version {current}, "
                    f"newer than this release knows ({known}): upgrade customs-monitor"
                )
            for mod in migrations:
                if current >= mod.VERSION:
                    continue
                with self._engine.begin() as conn:
                    if self.dialect == "postgresql":
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(715517)"))
                    done = conn.execute(sa.select(sa.func.max(s.schema_version.c.version)))
                    if (done.scalar() or 0) >= mod.VERSION:
                        continue
                    mod.upgrade(conn)
                    conn.execute(
                        s.schema_version.insert().values(
                            version=mod.VERSION, applied_at=ts(datetime.now(UTC))
                        )
                    )
                log.info("state store migrated to schema version %d", mod.VERSION)
            return self.schema_version()

    def schema_version(self) -> int:
        """The newest migration applied (0: no ``schema_version`` table yet, a new database)."""
        with self._guard("reading the schema version"), self._engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return 0
            return conn.execute(sa.select(sa.func.max(s.schema_version.c.version))).scalar() or 0

    def ping(self) -> None:
        with self._guard("ping"), self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        """Dispose of the engine's pooled connections (a later call would open new ones)."""
        self._engine.dispose()

    def _insert(self, table: sa.Table) -> Any:
        """INSERT with the dialect's ON CONFLICT clauses."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)

    # -- observations and releases ---------------------------------------------------------
    def ingest(
        self,
        source: str,
        observations: pd.DataFrame | Iterable[pd.DataFrame],
        *,
        now: datetime,
        cursor: dict[str, Any] | None = None,
        evaluate: bool = True,
    ) -> Release:
        chunks = [observations] if isinstance(observations, pd.DataFrame) else observations
        stamp = ts(now)
        with self._write_lock:
            with self._guard(f"reading the series of {source!r}"), self._engine.connect() as conn:
                dictionary = self.data.dictionary(conn, source)
            # The payload is read with no transaction open: a long parse blocks no writer.
            prepared = self.data.prepare(source, chunks, dictionary)
            try:
                with self.transaction(f"ingesting {source!r}") as conn:
                    if self.dialect == "postgresql":
                        conn.execute(
                            sa.text("SELECT pg_advisory_xact_lock(hashtext(:s))"),
                            {"s": f"ingest:{source}"},
                        )
                    # Written first: on SQLite this takes the write lock, so what follows reads
                    # the month state no other writer can change before the commit.
                    release_id = conn.execute(
                        s.releases.insert()
                        .values(
                            source=source,
                            detected_at=stamp,
                            new_periods="[]",
                            revised_periods="[]",
                            observations=0,
                            initial=False,
                            evaluated_at=None if evaluate else stamp,
                        )
                        .returning(s.releases.c.id)
                    ).scalar_one()
                    try:
                        written = self.data.write(
                            conn, prepared, release_id=int(release_id), stamp=stamp
                        )
                    except IngestError as exc:
                        raise SourceError(source, str(exc), retryable=False) from None
                    if not written.observations:
                        conn.execute(s.releases.delete().where(s.releases.c.id == release_id))
                    else:
                        conn.execute(
                            s.releases.update()
                            .where(s.releases.c.id == release_id)
                            .values(
                                new_periods=json.dumps(written.new_periods),
                                revised_periods=json.dumps(written.revised_periods),
                                observations=written.observations,
                                initial=written.initial,
                            )
                        )
                    self._record_poll(conn, source, now=now, error=None, cursor=cursor)
            finally:
                prepared.close()
                self.data.committed(prepared)
        if not written.observations:
            return Release(id=0, source=source, detected_at=stamp)
        return Release(
            id=int(release_id),
            source=source,
            detected_at=stamp,
            new_periods=tuple(written.new_periods),
            revised_periods=tuple(written.revised_periods),
            observations=written.observations,
            initial=written.initial,
        )

    def window(
        self, source: str, *, first: str | None = None, last: str | None = None
    ) -> pd.DataFrame:
        """Current observations of one source for months [first, last] (None: unbounded),
        canonical columns with categorical text: what the engine reads."""
        lo = period_to_month(first) if first else None
        hi = period_to_month(last) if last else None
        with self._guard(f"reading observations of {source!r}"), self._engine.connect() as conn:
            return self.data.window(conn, source, lo, hi)

    def history(
        self, source: str, keys: pd.DataFrame, first: str, last: str, *, totals: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Values of the given series (SERIES_KEY columns) for months [first, last]: a
        series x months matrix, NaN where no value was published; with ``totals``, each
        series' share total too (see ObservationStore.history)."""
        lo, hi = period_to_month(first), period_to_month(last)
        with self._guard(f"reading history of {source!r}"), self._engine.connect() as conn:
            return self.data.history(conn, source, keys, lo, hi, totals=totals)

    def latest(self, source: str | None = None) -> pd.DataFrame:
        """Per series: the newest month with a value (SERIES_KEY, unit, period, source)."""
        with self._guard("reading the latest months"), self._engine.connect() as conn:
            sources = [source] if source is not None else self.data.sources(conn)
            frames = [self.data.latest(conn, name) for name in sources]
        columns = [*SERIES_KEY, "unit", "period", "source"]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype="str") for c in columns})
        return pd.concat(frames, ignore_index=True)[columns]

    def observations(
        self, *, source: str | None = None, since_period: str | None = None
    ) -> pd.DataFrame:
        """Current observations as text columns sorted by source and key (small reads: the
        engine uses ``window``)."""
        with self._guard("reading observations"), self._engine.connect() as conn:
            sources = [source] if source is not None else self.data.sources(conn)
            lo = period_to_month(since_period) if since_period else None
            frames = [self.data.window(conn, name, lo, None) for name in sources]
        frames = [f for f in frames if len(f)]
        if not frames:
            return empty_observations()
        frame = pd.concat([_as_text(f) for f in frames], ignore_index=True)
        return frame.sort_values(["source", *OBSERVATION_KEY], kind="stable").reset_index(drop=True)

    def vintages(self, *, source: str | None = None) -> pd.DataFrame:
        """Every vintage: the canonical columns (text) plus release_id and recorded_at."""
        with self._guard("reading vintages"), self._engine.connect() as conn:
            sources = [source] if source is not None else self.data.sources(conn)
            frames = [self.data.vintages(conn, name) for name in sources]
        frames = [_as_text(f) for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=[*COLUMNS, "release_id", "recorded_at"])
        frame = pd.concat(frames, ignore_index=True)
        return frame.sort_values(
            ["release_id", "source", *OBSERVATION_KEY], kind="stable"
        ).reset_index(drop=True)

    @staticmethod
    def _release(row: Any) -> Release:
        return Release(
            id=row.id,
            source=row.source,
            detected_at=row.detected_at,
            new_periods=tuple(json.loads(row.new_periods)),
            revised_periods=tuple(json.loads(row.revised_periods)),
            observations=row.observations,
            initial=bool(row.initial),
        )

    def releases(self, *, source: str | None = None, limit: int | None = None) -> list[Release]:
        """Recorded releases, newest first (highest id); ``limit`` None or 0: all of them."""
        query = sa.select(s.releases).order_by(s.releases.c.id.desc())
        if source is not None:
            query = query.where(s.releases.c.source == source)
        if limit:
            query = query.limit(limit)
        with self._guard("reading releases"), self._engine.connect() as conn:
            return [self._release(r) for r in conn.execute(query)]

    def pending_releases(self, *, now: datetime | None = None) -> list[Release]:
        """Releases ingested but not yet evaluated, oldest first; with ``now``, a release whose
        evaluation failed is left out until its retry is due."""
        t = s.releases
        query = sa.select(t).where(t.c.evaluated_at.is_(None)).order_by(t.c.id)
        if now is not None:
            query = query.where(
                sa.or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= ts(now))
            )
        with self._guard("reading pending releases"), self._engine.connect() as conn:
            return [self._release(r) for r in conn.execute(query)]

    def mark_release_failed(
        self,
        release_id: int,
        *,
        error: str,
        now: datetime,
        backoff: Callable[[int], timedelta],
    ) -> int:
        """Record a failed evaluation, due again ``backoff(attempts)`` from ``now``; returns
        how many attempts have failed so far."""
        t = s.releases
        with self.transaction("recording a failed evaluation") as conn:
            done = conn.execute(sa.select(t.c.attempts).where(t.c.id == release_id)).scalar()
            attempts = int(done or 0) + 1
            conn.execute(
                t.update()
                .where(t.c.id == release_id)
                .values(
                    attempts=attempts,
                    last_error=error[:2000],
                    next_attempt_at=ts(now + backoff(attempts)),
                )
            )
        return attempts

    def failed_releases(self) -> list[tuple[Release, int, str, datetime | None]]:
        """Releases whose evaluation failed and is still to be retried: (release, attempts,
        last error, next attempt)."""
        t = s.releases
        query = (
            sa.select(t)
            .where(t.c.evaluated_at.is_(None), t.c.last_error.is_not(None))
            .order_by(t.c.id)
        )
        with self._guard("reading failed releases"), self._engine.connect() as conn:
            return [
                (self._release(r), r.attempts, r.last_error, parse_ts(r.next_attempt_at))
                for r in conn.execute(query)
            ]

    # -- alerts and outbox -----------------------------------------------------------------
    def alerts(
        self,
        keys: list[str] | None = None,
        *,
        source: str | None = None,
        periods: list[str] | None = None,
        newest: int | None = None,
    ) -> dict[str, StoredAlert]:
        query = sa.select(s.alerts)
        if newest is not None:
            query = query.order_by(s.alerts.c.fired_at.desc(), s.alerts.c.key).limit(newest)
        if source is not None:
            query = query.where(s.alerts.c.source == source)
        if periods is not None:
            query = query.where(s.alerts.c.period.in_(list(periods)))
        out: dict[str, StoredAlert] = {}
        with self._guard("reading alerts"), self._engine.connect() as conn:
            chunks = (
                [None] if keys is None else [keys[i : i + 500] for i in range(0, len(keys), 500)]
            )
            for chunk in chunks:
                q = query if chunk is None else query.where(s.alerts.c.key.in_(chunk))
                for r in conn.execute(q):
                    out[r.key] = StoredAlert(
                        key=r.key,
                        rule_id=r.rule_id,
                        period=r.period,
                        state=r.state,
                        fingerprint=r.fingerprint,
                        alert=json.loads(r.payload),
                        first_release_id=r.first_release_id,
                        fired_at=datetime.strptime(r.fired_at, TS_FORMAT).replace(tzinfo=UTC),
                    )
        return out

    def commit_evaluation(
        self,
        release_ids: list[int],
        updates: list[AlertUpdate],
        messages: list[OutboxEntry],
        *,
        now: datetime,
    ) -> int:
        stamp = ts(now)
        with self.transaction("recording alerts") as conn:
            if updates:
                columns = (
                    "key",
                    "rule_id",
                    "source",
                    "period",
                    "state",
                    "fingerprint",
                    "payload",
                    "first_release_id",
                    "last_release_id",
                    "fired_at",
                    "updated_at",
                )
                rows = [
                    (
                        u.alert.key,
                        u.alert.rule_id,
                        u.alert.source,
                        u.alert.period,
                        u.state,
                        u.alert.fingerprint(),
                        _PAYLOAD.encode(u.alert.to_dict()),
                        u.release_id,
                        u.release_id,
                        stamp,
                        stamp,
                    )
                    for u in updates
                ]
                upsert = self._insert(s.alerts)
                upsert = upsert.on_conflict_do_update(
                    index_elements=[s.alerts.c.key],
                    set_={
                        c: upsert.excluded[c]
                        for c in (
                            "state",
                            "fingerprint",
                            "payload",
                            "last_release_id",
                            "updated_at",
                        )
                    },
                )
                _executemany(conn, upsert, columns, rows)
            queued = self._enqueue(conn, messages, stamp)
            if release_ids:
                conn.execute(
                    s.releases.update()
                    .where(s.releases.c.id.in_(release_ids))
                    .values(evaluated_at=stamp)
                )
        return queued

    def _enqueue(self, conn: Connection, messages: list[OutboxEntry], stamp: str) -> int:
        queued = 0
        for m in messages:
            stmt = (
                self._insert(s.outbox)
                .values(
                    channel=m.channel,
                    dedup_key=m.dedup_key,
                    kind=m.kind,
                    message=json.dumps(m.message, default=str),
                    alert_keys=json.dumps(m.alert_keys),
                    created_at=stamp,
                    next_attempt_at=ts(m.next_attempt_at) if m.next_attempt_at else stamp,
                    attempts=0,
                    state=OUTBOX_PENDING,
                )
                .on_conflict_do_nothing(index_elements=[s.outbox.c.channel, s.outbox.c.dedup_key])
                # rowcount is -1 on PostgreSQL for ON CONFLICT DO NOTHING: count returned ids.
                .returning(s.outbox.c.id)
            )
            queued += len(conn.execute(stmt).fetchall())
        return queued

    def enqueue(self, messages: list[OutboxEntry], *, now: datetime) -> int:
        """Queue messages in one transaction, due at their ``next_attempt_at`` or ``now``; one
        already queued for the channel and dedup key is skipped. Returns how many were queued."""
        with self.transaction("queueing messages") as conn:
            return self._enqueue(conn, messages, ts(now))

    @staticmethod
    def _entry(r: Any) -> OutboxEntry:
        return OutboxEntry(
            channel=r.channel,
            dedup_key=r.dedup_key,
            kind=r.kind,
            message=json.loads(r.message),
            alert_keys=json.loads(r.alert_keys),
            id=r.id,
            created_at=parse_ts(r.created_at),
            next_attempt_at=parse_ts(r.next_attempt_at),
            attempts=r.attempts,
            state=r.state,
            last_error=r.last_error,
            sent_at=parse_ts(r.sent_at),
        )

    def due_messages(
        self, *, now: datetime, channel: str | None = None, limit: int = 100
    ) -> list[OutboxEntry]:
        query = (
            sa.select(s.outbox)
            .where(s.outbox.c.state == OUTBOX_PENDING)
            .where(s.outbox.c.next_attempt_at <= ts(now))
            .order_by(s.outbox.c.id)
            .limit(limit)
        )
        if channel is not None:
            query = query.where(s.outbox.c.channel == channel)
        with self._guard("reading the outbox"), self._engine.connect() as conn:
            return [self._entry(r) for r in conn.execute(query)]

    def outbox(self, *, state: str | None = None) -> list[OutboxEntry]:
        """Outbox messages, all or those in ``state``, in id (queueing) order."""
        query = sa.select(s.outbox).order_by(s.outbox.c.id)
        if state is not None:
            query = query.where(s.outbox.c.state == state)
        with self._guard("reading the outbox"), self._engine.connect() as conn:
            return [self._entry(r) for r in conn.execute(query)]

    def _update_message(self, message_id: int, what: str, **values: Any) -> None:
        with self.transaction(what) as conn:
            conn.execute(s.outbox.update().where(s.outbox.c.id == message_id).values(**values))

    def mark_sent(self, message_id: int, *, now: datetime) -> None:
        """Set the message sent at ``now``, count the attempt and clear its error."""
        self._update_message(
            message_id,
            "marking a message sent",
            state=OUTBOX_SENT,
            sent_at=ts(now),
            attempts=s.outbox.c.attempts + 1,
            last_error=None,
        )

    def mark_retry(
        self, message_id: int, *, now: datetime, next_attempt_at: datetime, error: str
    ) -> None:
        """Count the attempt, keep ``error`` (first 2000 characters), due at ``next_attempt_at``;
        the state is not touched and ``now`` is not stored."""
        self._update_message(
            message_id,
            "scheduling a retry",
            attempts=s.outbox.c.attempts + 1,
            next_attempt_at=ts(next_attempt_at),
            last_error=error[:2000],
        )

    def mark_failed(self, message_id: int, *, now: datetime, error: str) -> None:
        """Set the message failed, count the attempt, keep ``error`` (first 2000 characters);
        ``now`` is not stored."""
        self._update_message(
            message_id,
            "marking a message failed",
            state=OUTBOX_FAILED,
            attempts=s.outbox.c.attempts + 1,
            last_error=error[:2000],
        )

    # -- source state ----------------------------------------------------------------------
    def _state_row(self, conn: Connection, source: str) -> Any:
        return conn.execute(
            sa.select(s.source_state).where(s.source_state.c.source == source)
        ).first()

    @staticmethod
    def _to_state(source: str, row: Any) -> SourceState:
        if row is None:
            return SourceState(source=source)
        return SourceState(
            source=source,
            cursor=json.loads(row.cursor),
            last_poll_at=parse_ts(row.last_poll_at),
            last_success_at=parse_ts(row.last_success_at),
            consecutive_failures=row.consecutive_failures,
            last_error=row.last_error,
            polls=row.polls,
            failures=row.failures,
        )

    def _record_poll(
        self,
        conn: Connection,
        source: str,
        *,
        now: datetime,
        error: str | None,
        cursor: dict[str, Any] | None,
    ) -> SourceState:
        prev = self._to_state(source, self._state_row(conn, source))
        state = SourceState(
            source=source,
            cursor=cursor if (cursor is not None and error is None) else prev.cursor,
            last_poll_at=now,
            last_success_at=now if error is None else prev.last_success_at,
            consecutive_failures=0 if error is None else prev.consecutive_failures + 1,
            last_error=error[:2000] if error else None,
            polls=prev.polls + 1,
            failures=prev.failures + (1 if error else 0),
        )
        values = {
            "cursor": json.dumps(state.cursor, default=str),
            "last_poll_at": ts(now),
            "last_success_at": ts(state.last_success_at) if state.last_success_at else None,
            "consecutive_failures": state.consecutive_failures,
            "last_error": state.last_error,
            "polls": state.polls,
            "failures": state.failures,
        }
        upsert = self._insert(s.source_state).values(source=source, **values)
        conn.execute(
            upsert.on_conflict_do_update(index_elements=[s.source_state.c.source], set_=values)
        )
        return state

    def record_poll(
        self,
        source: str,
        *,
        now: datetime,
        error: str | None = None,
        cursor: dict[str, Any] | None = None,
    ) -> SourceState:
        with self.transaction(f"recording a poll of {source!r}") as conn:
            return self._record_poll(conn, source, now=now, error=error, cursor=cursor)

    def source_state(self, source: str) -> SourceState:
        """The stored state of ``source``, or an empty ``SourceState`` when it has no row."""
        with self._guard("reading source state"), self._engine.connect() as conn:
            return self._to_state(source, self._state_row(conn, source))

    def source_states(self) -> list[SourceState]:
        """Every stored source state, ordered by source name."""
        with self._guard("reading source state"), self._engine.connect() as conn:
            rows = conn.execute(sa.select(s.source_state).order_by(s.source_state.c.source))
            return [self._to_state(r.source, r) for r in rows]

    # -- silences --------------------------------------------------------------------------
    def add_silence(
        self,
        *,
        rule: str | None,
        matchers: dict[str, str],
        starts_at: datetime,
        ends_at: datetime,
        comment: str,
        created_by: str | None,
        now: datetime,
    ) -> Silence:
        with self.transaction("adding a silence") as conn:
            return silences.insert(
                conn,
                rule=rule,
                matchers=matchers,
                starts_at=starts_at,
                ends_at=ends_at,
                comment=comment,
                created_by=created_by,
                now=now,
            )

    def silences(self) -> list[Silence]:
        with self._guard("listing silences"), self._engine.connect() as conn:
            return silences.every(conn)

    def active_silences(self, now: datetime) -> list[Silence]:
        with self._guard("reading silences"), self._engine.connect() as conn:
            return silences.active(conn, now)

    def expire_silence(self, silence_id: int, *, now: datetime) -> Silence | None:
        with self.transaction("expiring a silence") as conn:
            return silences.expire(conn, silence_id, now)


def _executemany(
    conn: Connection, stmt: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """One DBAPI executemany of a statement compiled once. SQLAlchemy's per-row parameter
    processing costs ~25 us a row: a second for a release of 40,000 alerts."""
    if not rows:
        return
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(columns))
    if compiled.positional:
        at = [columns.index(name) for name in compiled.positiontup]
        conn.exec_driver_sql(str(compiled), [tuple(r[i] for i in at) for r in rows])
    else:
        conn.exec_driver_sql(str(compiled), [dict(zip(columns, r, strict=True)) for r in rows])


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(
        {c: "str" for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}
    )


def _reason(exc: sa.exc.DBAPIError) -> str:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
