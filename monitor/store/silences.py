"""Silences as the store keeps them: the record, and its SQL on one connection.

``SqlStore`` runs these inside its transactions and error guard; what a silence may say (a
future end, something to match, a reason) is checked before it gets here (monitor.notify).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.model import Alert, alert_matches
from monitor.store.schema import parse_ts, silences, ts


@dataclass(frozen=True)
class Silence:
    """A stored silence: matching alerts are recorded, not sent, from ``starts_at`` until
    ``ends_at`` or until expired by hand."""

    id: int
    rule: str | None
    matchers: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    comment: str = ""
    created_by: str | None = None
    created_at: datetime | None = None
    expired_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        """Whether it is in force at ``now``: started, not ended, not expired (no end: never)."""
        return (
            self.expired_at is None
            and self.ends_at is not None
            and now < self.ends_at
            and (self.starts_at is None or self.starts_at <= now)
        )

    def matches(self, alert: Alert) -> bool:
        """The rule (an id or shell pattern; none = any rule) and every matcher match."""
        if self.rule and not fnmatch.fnmatchcase(alert.rule_id, self.rule):
            return False
        return alert_matches(self.matchers, alert)

    def describe(self) -> str:
        """What it matches, for people: ``rule=X, label=value, ...`` or ``everything``."""
        parts = [f"rule={self.rule}"] if self.rule else []
        parts += [f"{k}={v}" for k, v in sorted(self.matchers.items())]
        return ", ".join(parts) or "everything"


def _silence(r: Any) -> Silence:
    return Silence(
        id=r.id,
        rule=r.rule,
        matchers=json.loads(r.matchers),
        starts_at=parse_ts(r.starts_at),
        ends_at=parse_ts(r.ends_at),
        comment=r.comment,
        created_by=r.created_by,
        created_at=parse_ts(r.created_at),
        expired_at=parse_ts(r.expired_at),
    )


def _one(conn: sa.Connection, silence_id: int) -> Silence | None:
    row = conn.execute(sa.select(silences).where(silences.c.id == silence_id)).first()
    return None if row is None else _silence(row)


def insert(
    conn: sa.Connection,
    *,
    rule: str | None,
    matchers: dict[str, str],
    starts_at: datetime,
    ends_at: datetime,
    comment: str,
    created_by: str | None,
    now: datetime,
) -> Silence:
    """Add a silence in the caller's transaction (checked before) and return it as stored."""
    values = {
        "rule": rule or None,
        "matchers": json.dumps(matchers, sort_keys=True),
        "starts_at": ts(starts_at),
        "ends_at": ts(ends_at),
        "comment": comment,
        "created_by": created_by,
        "created_at": ts(now),
        "expired_at": None,
    }
    key = conn.execute(silences.insert().values(**values)).inserted_primary_key
    stored = _one(conn, int(key[0])) if key else None
    if stored is None:  # pragma: no cover - the insert above is in this transaction
        raise RuntimeError("the silence just added is not there")
    return stored


def every(conn: sa.Connection) -> list[Silence]:
    """Every silence ever added, oldest first."""
    return [_silence(r) for r in conn.execute(sa.select(silences).order_by(silences.c.id))]


def active(conn: sa.Connection, now: datetime) -> list[Silence]:
    """Silences in force at ``now`` (started, not ended, not expired), oldest first."""
    stamp = ts(now)
    query = (
        sa.select(silences)
        .where(silences.c.expired_at.is_(None))
        .where(silences.c.ends_at > stamp)
        .where(silences.c.starts_at <= stamp)
        .order_by(silences.c.id)
    )
    return [_silence(r) for r in conn.execute(query)]


def expire(conn: sa.Connection, silence_id: int, now: datetime) -> Silence | None:
    """End a silence now (the first expiry time is kept); None when there is no such id."""
    conn.execute(
        silences.update()
        .where(silences.c.id == silence_id)
        .where(silences.c.expired_at.is_(None))
        .values(expired_at=ts(now))
    )
    return _one(conn, silence_id)
