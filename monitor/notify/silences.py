"""Silences: while one is active, matching alerts are recorded (state ``silenced``), not sent.

A silence matches an alert when its ``rule`` (an id or shell pattern, or none = any rule) and
every ``label=value`` matcher match, with the same rules as routes (labels, then the alert's own
fields: severity, partner, reporter, commodity, flow, measure, period, source). The store keeps
them (``Store.add_silence`` ...); this module says what a silence may be, and hands routing the
``Muting`` it asks (``muting``).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.errors import ConfigError, Problem
from monitor.model import ALERT_FIELDS, Alert
from monitor.store.base import Store
from monitor.store.silences import Silence

__all__ = [
    "ALERT_FIELDS",
    "SEVERITIES",
    "ActiveSilences",
    "Silence",
    "active",
    "add",
    "check_silence",
    "expire",
    "list_silences",
    "muting",
    "parse_matchers",
    "parse_until",
]


_RELATIVE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")


def parse_until(text: str, now: datetime) -> datetime:
    """``2027-01-15`` (midnight UTC), an ISO date-time, or relative ``12h`` / ``7d`` / ``2w``."""
    m = _RELATIVE.match(text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return (
            now + {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
        )
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--until {text!r}: expected a date (2027-01-15), a date-time "
            "(2027-01-15T12:00Z) or a duration (12h, 7d, 2w)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_matchers(items: list[str] | None) -> dict[str, str]:
    """``["partner=US", "severity=warning"]`` -> dict; a clear error for anything else."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--match {item!r}: expected label=value (e.g. partner=US)")
        out[key.strip()] = value.strip()
    return out


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


def add(
    store: Store,
    *,
    rule: str | None,
    matchers: dict[str, str] | None = None,
    until: datetime,
    comment: str,
    now: datetime,
    starts: datetime | None = None,
    created_by: str | None = None,
) -> Silence:
    """Store a silence after refusing one that ends in the past, would silence everything or
    says nothing about why."""
    if until <= now:
        raise ConfigError(f"--until {until.isoformat()} is not in the future")
    if not rule and not matchers:
        raise ConfigError(
            "a silence needs --rule or at least one --match (refusing to silence everything)"
        )
    if not comment.strip():
        raise ConfigError("a silence needs a --comment saying why")
    return store.add_silence(
        rule=rule or None,
        matchers=dict(matchers or {}),
        starts_at=starts or now,
        ends_at=until,
        comment=comment,
        created_by=created_by,
        now=now,
    )


def list_silences(
    store: Store, *, include_expired: bool = False, now: datetime | None = None
) -> list[Silence]:
    """Every silence with ``include_expired`` (or without ``now``), else the active and the
    upcoming ones at ``now``."""
    rows = store.silences()
    if include_expired or now is None:
        return rows
    return [s for s in rows if s.is_active(now) or (s.starts_at and s.starts_at > now)]


def expire(store: Store, silence_id: int, *, now: datetime) -> Silence:
    """End a silence now; a clear error for an id that does not exist."""
    silence = store.expire_silence(silence_id, now=now)
    if silence is None:
        raise ConfigError(f"no silence with id {silence_id}")
    return silence


def active(store: Store, now: datetime) -> list[Silence]:
    """Silences in force at ``now`` (started, not ended, not expired)."""
    return store.active_silences(now)


@dataclass(frozen=True)
class ActiveSilences:
    """The silences in force at one moment, as the ``Muting`` routing asks."""

    silences: tuple[Silence, ...] = ()

    def mutes(self, alert: Alert) -> bool:
        """True when any of these silences matches ``alert`` (its rule pattern and matchers)."""
        return any(s.matches(alert) for s in self.silences)


def muting(store: Store, now: datetime) -> ActiveSilences:
    """What is muted at ``now``: read once per evaluation."""
    return ActiveSilences(tuple(store.active_silences(now)))
