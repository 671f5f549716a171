"""The console's writes: add or expire a silence, re-send a failed message. Each is recorded in
``console_actions`` with who (the token holder), from where and when, in the same transaction
as the write: a silence is never in force (nor ended) without a record of who did it.

A silence goes through exactly the checks of ``customs-monitor silence add`` (``parse_matchers``,
``parse_until``, ``check_silence`` and what ``silences.add`` refuses), so the console accepts and
refuses the same input with the same words. A re-send puts a permanently failed message back in
the outbox as pending, due now; the daemon's delivery job sends it like any other (and keeps the
outbox's guarantees).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.errors import ConfigError, StoreError
from monitor.notify import silences
from monitor.store import schema as s
from monitor.store import silences as stored
from monitor.store.base import OUTBOX_FAILED, OUTBOX_PENDING
from monitor.store.schema import ts
from monitor.web.queries import AlertRecord, _actions_table

log = logging.getLogger(__name__)

SILENCE_ADD = "silence.add"
SILENCE_EXPIRE = "silence.expire"
OUTBOX_RESEND = "outbox.resend"


@dataclass(frozen=True)
class Actor:
    """Who is acting: the token holder's name and the client's address."""

    who: str
    remote: str | None = None


def _record(
    conn: sa.Connection,
    actor: Actor,
    action: str,
    target: str,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    conn.execute(
        _actions_table()
        .insert()
        .values(
            at=ts(now),
            who=actor.who,
            remote=actor.remote,
            action=action,
            target=target,
            detail=json.dumps(detail, sort_keys=True, default=str),
        )
    )


def _reason(exc: sa.exc.SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


# -- silences -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SilenceForm:
    """What the silence form sends, as the CLI would take it."""

    rule: str = ""
    matches: tuple[str, ...] = ()  # "partner=US", one per line of the form
    until: str = ""
    comment: str = ""

    @classmethod
    def parse(cls, rule: str, matches: str, until: str, comment: str) -> SilenceForm:
        """The form's fields trimmed; ``matches`` split at line breaks only (a value may hold a
        comma, as a ``--match`` does), blank lines dropped."""
        lines = tuple(line.strip() for line in matches.splitlines())
        return cls(rule.strip(), tuple(x for x in lines if x), until.strip(), comment.strip())


@dataclass(frozen=True)
class SilenceDraft:
    """A validated silence not yet stored: what it would match, until when."""

    rule: str | None
    matchers: dict[str, str]
    until: datetime
    comment: str

    def probe(self, now: datetime) -> silences.Silence:
        """The draft as an unsaved Silence (id 0) in force from ``now``: what it would match."""
        return silences.Silence(
            id=0, rule=self.rule, matchers=self.matchers, starts_at=now, ends_at=self.until
        )


def draft_silence(form: SilenceForm, now: datetime, rules: Iterable[Any]) -> SilenceDraft:
    """The CLI's checks, in the CLI's order (``silence add``): ``--match`` syntax, ``--until``,
    a silence that could never match (``silences.check_silence`` against the loaded rules and
    the ops notices), then what ``silences.add`` refuses (a past end, nothing to match, no
    comment). Raises ConfigError with the CLI's words."""
    from monitor.daemon.ops import LABELS as OPS_LABELS
    from monitor.daemon.ops import RULES as OPS_RULES

    matchers = silences.parse_matchers(list(form.matches))
    if not form.until:
        raise ConfigError("--until is required: a date (2025-09-01), a date-time or 12h/7d/2w")
    until = silences.parse_until(form.until, now)
    loaded = list(rules)
    silences.check_silence(
        form.rule or None,
        matchers,
        rule_ids=[r.id for r in loaded] + list(OPS_RULES),
        labels={k for r in loaded for k in r.labels} | set(OPS_LABELS),
    )
    if until <= now:
        raise ConfigError(f"--until {until.isoformat()} is not in the future")
    if not form.rule and not matchers:
        raise ConfigError(
            "a silence needs --rule or at least one --match (refusing to silence everything)"
        )
    if not form.comment:
        raise ConfigError("a silence needs a --comment saying why")
    return SilenceDraft(form.rule or None, matchers, until, form.comment)


def would_mute(draft: SilenceDraft, records: list[AlertRecord], now: datetime) -> list[AlertRecord]:
    """Which of these recorded alerts the silence matches (the preview before adding it)."""
    probe = draft.probe(now)
    return [r for r in records if probe.matches(r.alert)]


def add_silence(
    store: Any, form: SilenceForm, actor: Actor, now: datetime, rules: Iterable[Any]
) -> silences.Silence:
    """Check the form as ``silence add`` does (ConfigError in its words), then store the silence
    as created by ``actor`` and record the action in one transaction: if either write fails
    (StoreError), neither is kept."""
    draft = draft_silence(form, now, rules)
    try:
        with store.engine.begin() as conn:
            silence = stored.insert(
                conn,
                rule=draft.rule,
                matchers=draft.matchers,
                starts_at=now,
                ends_at=draft.until,
                comment=draft.comment,
                created_by=actor.who,
                now=now,
            )
            detail = {
                "matches": silence.describe(),
                "until": draft.until.isoformat(),
                "comment": draft.comment,
            }
            _record(conn, actor, SILENCE_ADD, str(silence.id), detail, now)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"console: adding a silence failed: {_reason(exc)}") from None
    log.info("console: %s added silence %d (%s)", actor.who, silence.id, silence.describe())
    return silence


def expire_silence(store: Any, silence_id: int, actor: Actor, now: datetime) -> silences.Silence:
    """End the silence now and record who ended it, in one transaction as ``add_silence``;
    ConfigError for an unknown id."""
    try:
        with store.engine.begin() as conn:
            silence = stored.expire(conn, silence_id, now)
            if silence is None:
                raise ConfigError(f"no silence with id {silence_id}")
            detail = {"matches": silence.describe()}
            _record(conn, actor, SILENCE_EXPIRE, str(silence_id), detail, now)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"console: expiring silence {silence_id} failed: {_reason(exc)}") from None
    log.info("console: %s expired silence %d", actor.who, silence_id)
    return silence


# -- outbox -------------------------------------------------------------------------------------
def resend(store: Any, message_id: int, actor: Actor, now: datetime) -> None:
    """A failed message becomes pending and due now, with the action recorded, in one
    transaction. Only a failed message: a pending one is already on its way, a sent one was
    accepted (sending it again would be a duplicate)."""
    t = s.outbox
    try:
        with store.engine.begin() as conn:
            row = conn.execute(
                sa.select(t.c.state, t.c.channel).where(t.c.id == message_id)
            ).first()
            if row is None:
                raise ConfigError(f"no outbox message with id {message_id}")
            if row.state != OUTBOX_FAILED:
                raise ConfigError(
                    f"message {message_id} is {row.state}, not failed: only a failed message "
                    "can be re-sent"
                )
            done = conn.execute(
                t.update()
                .where(t.c.id == message_id, t.c.state == OUTBOX_FAILED)
                .values(state=OUTBOX_PENDING, next_attempt_at=ts(now))
            )
            if done.rowcount != 1:  # changed between the read and the write
                raise ConfigError(f"message {message_id} changed meanwhile; reload and retry")
            _record(conn, actor, OUTBOX_RESEND, str(message_id), {"channel": row.channel}, now)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(
            f"console: re-sending message {message_id} failed: {_reason(exc)}"
        ) from None
    log.info("console: %s re-queued failed message %d (%s)", actor.who, message_id, row.channel)
