"""Silences: while one is active, matching alerts are recorded (state ``silenced``), not sent.

A silence matches an alert when its ``rule`` (an id or shell pattern, or none = any rule) and
every ``label=value`` matcher match, with the same rules as routes (labels, then the alert's own
fields: severity, partner, reporter, commodity, flow, measure, period, source). Works on the
store's SQLAlchemy engine (SQLite and PostgreSQL); the table comes from migration 0002.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from monitor.errors import ConfigError, Problem, StoreError
from monitor.model import Alert
from monitor.notify.dispatch import matches

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the store's fixed-width UTC text: text order = time order


def _table() -> sa.Table:
    table: sa.Table = importlib.import_module("monitor.store.migrations.0002_silences").silences
    return table


def _ts(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    return when.astimezone(UTC).strftime(_TS_FORMAT)


def _parse(text: str | None) -> datetime | None:
    return datetime.strptime(text, _TS_FORMAT).replace(tzinfo=UTC) if text else None


@dataclass(frozen=True)
class Silence:
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
        return (
            self.expired_at is None
            and self.ends_at is not None
            and now < self.ends_at
            and (self.starts_at is None or self.starts_at <= now)
        )

    def matches(self, alert: Alert) -> bool:
        if self.rule and not fnmatch.fnmatchcase(alert.rule_id, self.rule):
            return False
        return matches(self.matchers, alert)

    def describe(self) -> str:
        parts = [f"rule={self.rule}"] if self.rule else []
        parts += [f"{k}={v}" for k, v in sorted(self.matchers.items())]
        return ", ".join(parts) or "everything"


def parse_matchers(items: list[str] | None) -> dict[str, str]:
    """``["partner=US", "severity=warning"]`` -> dict; a clear error for anything else."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--match {item!r}: expected label=value (e.g. partner=US)")
        out[key.strip()] = value.strip()
    return out


#: what a silence matcher can name besides the rules' labels (monitor.notify.dispatch.alert_fields)
ALERT_FIELDS = (
    "rule",
    "severity",
    "source",
    "period",
    "reporter",
    "partner",
    "commodity",
    "flow",
    "measure",
)
SEVERITIES = ("info", "warning", "critical")


def check_silence(
    rule: str | None,
    matchers: dict[str, str],
    *,
    rule_ids: list[str],
    labels: set[str],
) -> None:
    """Refuse a silence that can never match: an unknown rule id (or a pattern matching no
    rule), an unknown label or field, an unknown severity. Suggests the closest name."""
    from monitor.config_checks import did_you_mean

    problems = []
    if rule and not any(fnmatch.fnmatchcase(r, rule) for r in rule_ids):
        problems.append(
            f"--rule {rule!r} matches no rule{did_you_mean(rule, rule_ids)} "
            f"(rules: {', '.join(sorted(rule_ids)) or 'none'})"
        )
    known = sorted(set(ALERT_FIELDS) | labels)
    for key, value in matchers.items():
        if key not in known:
            problems.append(
                f"--match {key}={value}: no alert has a field or label {key!r}"
                f"{did_you_mean(key, known)} (known: {', '.join(known)})"
            )
        elif key == "rule" and not any(fnmatch.fnmatchcase(r, value) for r in rule_ids):
            problems.append(f"--match rule={value}: matches no rule{did_you_mean(value, rule_ids)}")
        elif key == "severity" and not any(fnmatch.fnmatchcase(s, value) for s in SEVERITIES):
            problems.append(
                f"--match severity={value}: severities are {', '.join(SEVERITIES)}"
                f"{did_you_mean(value, SEVERITIES)}"
            )
    if problems:
        raise ConfigError([Problem("<command line>", 0, 0, p) for p in problems])


def _row(r: Any) -> Silence:
    return Silence(
        id=r.id,
        rule=r.rule,
        matchers=json.loads(r.matchers),
        starts_at=_parse(r.starts_at),
        ends_at=_parse(r.ends_at),
        comment=r.comment,
        created_by=r.created_by,
        created_at=_parse(r.created_at),
        expired_at=_parse(r.expired_at),
    )


def _guard(what: str, exc: sa.exc.SQLAlchemyError) -> StoreError:
    reason = getattr(exc, "orig", None) or exc
    return StoreError(f"silences: {what} failed: {str(reason).splitlines()[0]}")


def add(
    engine: sa.Engine,
    *,
    rule: str | None,
    matchers: dict[str, str] | None = None,
    until: datetime,
    comment: str,
    now: datetime,
    starts: datetime | None = None,
    created_by: str | None = None,
) -> Silence:
    if until <= now:
        raise ConfigError(f"--until {until.isoformat()} is not in the future")
    if not rule and not matchers:
        raise ConfigError(
            "a silence needs --rule or at least one --match (refusing to silence everything)"
        )
    if not comment.strip():
        raise ConfigError("a silence needs a --comment saying why")
    table = _table()
    values = {
        "rule": rule or None,
        "matchers": json.dumps(matchers or {}, sort_keys=True),
        "starts_at": _ts(starts or now),
        "ends_at": _ts(until),
        "comment": comment,
        "created_by": created_by,
        "created_at": _ts(now),
        "expired_at": None,
    }
    try:
        with engine.begin() as conn:
            (new_id,) = conn.execute(table.insert().values(**values)).inserted_primary_key or (0,)
            return _row(conn.execute(sa.select(table).where(table.c.id == new_id)).one())
    except sa.exc.SQLAlchemyError as exc:
        raise _guard("adding a silence", exc) from None


def list_silences(
    engine: sa.Engine, *, include_expired: bool = False, now: datetime | None = None
) -> list[Silence]:
    table = _table()
    try:
        with engine.connect() as conn:
            rows = [_row(r) for r in conn.execute(sa.select(table).order_by(table.c.id))]
    except sa.exc.SQLAlchemyError as exc:
        raise _guard("listing silences", exc) from None
    if include_expired or now is None:
        return rows
    return [s for s in rows if s.is_active(now) or (s.starts_at and s.starts_at > now)]


def expire(engine: sa.Engine, silence_id: int, *, now: datetime) -> Silence:
    table = _table()
    try:
        with engine.begin() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == silence_id)).first()
            if row is None:
                raise ConfigError(f"no silence with id {silence_id}")
            if row.expired_at is None:
                conn.execute(
                    table.update().where(table.c.id == silence_id).values(expired_at=_ts(now))
                )
            return _row(conn.execute(sa.select(table).where(table.c.id == silence_id)).one())
    except sa.exc.SQLAlchemyError as exc:
        raise _guard("expiring a silence", exc) from None


def active(engine: sa.Engine, now: datetime) -> list[Silence]:
    """Silences in force at ``now`` (started, not ended, not expired)."""
    table = _table()
    stamp = _ts(now)
    query = (
        sa.select(table)
        .where(table.c.expired_at.is_(None))
        .where(table.c.ends_at > stamp)
        .where(table.c.starts_at <= stamp)
        .order_by(table.c.id)
    )
    try:
        with engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]
    except sa.exc.SQLAlchemyError as exc:
        raise _guard("reading silences", exc) from None
