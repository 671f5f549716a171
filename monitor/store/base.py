"""The state store's one small interface. ``SqlStore`` implements it for SQLite and PostgreSQL.

What it keeps: every vintage of every observation (a revision appends, never overwrites; the
data plane, columnar, monitor/store/observations.py), the
releases seen (and whether each has been evaluated), the alerts fired (identity: rule + series +
period, with a fingerprint of their figures), the durable delivery outbox, and per-source state
(cursor, last poll, consecutive failures).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from monitor.model import Alert, Release
from monitor.store.silences import Silence

OUTBOX_PENDING = "pending"
OUTBOX_SENT = "sent"
OUTBOX_FAILED = "failed"  # permanent failure: not retried, visible in `status`

ALERT_FIRING = "firing"
ALERT_RESOLVED = "resolved"  # a revision made it no longer hold
ALERT_SILENCED = "silenced"  # recorded, not sent


@dataclass
class OutboxEntry:
    """One message in the delivery outbox: for one channel, rendered once, queued at most once
    per ``dedup_key``; ``id`` and the times are the store's."""

    channel: str
    dedup_key: str  # unique per channel: a message is queued at most once
    kind: str  # alert | revised | resolved | test | ops
    message: dict[str, Any]  # RenderedMessage.to_json()
    alert_keys: list[str] = field(default_factory=list)
    id: int | None = None
    created_at: datetime | None = None
    next_attempt_at: datetime | None = None
    attempts: int = 0
    state: str = OUTBOX_PENDING
    last_error: str | None = None
    sent_at: datetime | None = None


@dataclass
class StoredAlert:
    """An alert identity as recorded: its last state and figures; ``fired_at`` and
    ``first_release_id`` are those of its first recording and never change."""

    key: str
    rule_id: str
    period: str
    state: str
    fingerprint: str
    alert: dict[str, Any]  # Alert.to_dict() as last recorded
    first_release_id: int | None
    fired_at: datetime


@dataclass
class AlertUpdate:
    """What an evaluation decided for one alert identity."""

    alert: Alert
    state: str  # ALERT_FIRING | ALERT_RESOLVED | ALERT_SILENCED
    release_id: int | None


@dataclass
class SourceState:
    """What the store keeps per source: its cursor and the record of its polls."""

    source: str
    cursor: dict[str, Any] = field(default_factory=dict)
    last_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    polls: int = 0
    failures: int = 0


class Store(Protocol):
    """The state store the daemon, commands and console share (see the module docstring)."""

    url: str

    def migrate(self) -> int:
        """Bring the schema to the newest version; return it. Idempotent."""

    def ingest(
        self,
        source: str,
        observations: pd.DataFrame | Iterable[pd.DataFrame],
        *,
        now: datetime,
        cursor: dict[str, Any] | None = None,
        evaluate: bool = True,
    ) -> Release:
        """Find what changed (month by month, skipping months whose payload digest is
        unchanged), append new vintages, record a release and the source cursor, all in one
        transaction. ``observations``: one canonical frame or its chunks. The release is pending
        evaluation unless ``evaluate`` is False (silent backfill). An empty Release (id 0) when
        nothing changed."""

    def window(
        self, source: str, *, first: str | None = None, last: str | None = None
    ) -> pd.DataFrame:
        """Current observations of one source for months [first, last], text columns
        categorical: what the engine reads."""

    def history(
        self, source: str, keys: pd.DataFrame, first: str, last: str, *, totals: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Values of the given series for months [first, last] (series x months, NaN = none)
        and, with ``totals``, their share totals (WORLD where published, else the partners'
        sum)."""

    def latest(self, source: str | None = None) -> pd.DataFrame:
        """Per series: its newest month (SERIES_KEY, unit, period, source)."""

    def observations(
        self, *, source: str | None = None, since_period: str | None = None
    ) -> pd.DataFrame:
        """Current (latest vintage) observations in the canonical layout, text columns."""

    def vintages(self, *, source: str | None = None) -> pd.DataFrame:
        """Every vintage: the canonical columns plus release_id and recorded_at."""

    def releases(self, *, source: str | None = None, limit: int | None = None) -> list[Release]:
        """Recorded releases, newest first: of ``source`` only and at most ``limit`` if given."""

    def pending_releases(self, *, now: datetime | None = None) -> list[Release]:
        """Releases ingested but not yet evaluated (crash between ingest and evaluate); with
        ``now``, those whose failed evaluation is not yet due again are left out."""

    def mark_release_failed(
        self, release_id: int, *, error: str, now: datetime, backoff: Callable[[int], timedelta]
    ) -> int:
        """Record a failed evaluation, retried ``backoff(attempts)`` after ``now``; returns
        the attempts so far."""

    def failed_releases(self) -> list[tuple[Release, int, str, datetime | None]]:
        """Releases whose evaluation failed, still to be retried: (release, attempts, error,
        next attempt)."""

    def alerts(
        self,
        keys: list[str] | None = None,
        *,
        source: str | None = None,
        periods: list[str] | None = None,
        newest: int | None = None,
    ) -> dict[str, StoredAlert]:
        """Recorded alerts by key, optionally only those of a source and periods, or only the
        ``newest`` (by when they were first recorded)."""

    def commit_evaluation(
        self,
        release_ids: list[int],
        updates: list[AlertUpdate],
        messages: list[OutboxEntry],
        *,
        now: datetime,
    ) -> int:
        """Record alerts, queue messages (ignoring ones already queued for the same channel and
        dedup key) and mark the releases evaluated, atomically. Returns messages queued."""

    def enqueue(self, messages: list[OutboxEntry], *, now: datetime) -> int:
        """Queue messages outside an evaluation, in one transaction, ignoring any already queued
        for the same channel and dedup key; returns how many were queued."""

    def due_messages(
        self, *, now: datetime, channel: str | None = None, limit: int = 100
    ) -> list[OutboxEntry]:
        """Pending messages whose next attempt is due, oldest first (per channel order kept)."""

    def mark_sent(self, message_id: int, *, now: datetime) -> None:
        """Record that the channel accepted the message: sent at ``now``, one more attempt."""

    def mark_retry(
        self, message_id: int, *, now: datetime, next_attempt_at: datetime, error: str
    ) -> None:
        """Record a failed attempt; the message stays pending, due again at ``next_attempt_at``."""

    def mark_failed(self, message_id: int, *, now: datetime, error: str) -> None:
        """Record a permanent failure: the message is never retried (the console can resend)."""

    def outbox(self, *, state: str | None = None) -> list[OutboxEntry]:
        """Every outbox message, or those in ``state``, oldest first."""

    def source_state(self, source: str) -> SourceState:
        """The state of ``source``; an empty one (no cursor, no polls) if never polled."""

    def record_poll(
        self,
        source: str,
        *,
        now: datetime,
        error: str | None = None,
        cursor: dict[str, Any] | None = None,
    ) -> SourceState:
        """Record a poll outcome; a success resets consecutive failures."""

    def source_states(self) -> list[SourceState]:
        """The state of every source polled at least once, by name."""

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
        """Store a silence (checked by the caller) and return it with its id."""

    def silences(self) -> list[Silence]:
        """Every silence ever added, expired ones too, oldest first."""

    def active_silences(self, now: datetime) -> list[Silence]:
        """Silences in force at ``now``: started, not ended, not expired."""

    def expire_silence(self, silence_id: int, *, now: datetime) -> Silence | None:
        """End a silence at ``now`` (expiring twice keeps the first time); None: no such id."""

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine, for the HA lease's own table and the console's queries."""

    def ping(self) -> None:
        """Raise StoreError when the store is not reachable (for /readyz)."""

    def close(self) -> None:
        """Close the store's database connections."""
