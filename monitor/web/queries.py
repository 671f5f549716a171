"""What the console and ``customs-monitor alerts`` read from the state store (no writes here).

Every read is bounded: alerts by their filters and a page size, deliveries by the time their
alerts were first recorded, vintages by a window of months. Only SQLAlchemy Core and the
store's own tables; nothing here needs the ``web`` extra.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from monitor.model import SERIES_KEY, Alert, month_to_period, period_to_month
from monitor.store import schema as s
from monitor.store.base import ALERT_FIRING, ALERT_RESOLVED, ALERT_SILENCED
from monitor.store.schema import parse_ts, ts

STATES = (ALERT_FIRING, ALERT_SILENCED, ALERT_RESOLVED)
SEVERITIES = ("critical", "error", "warning", "info")
_WILDCARDS = set("*?[")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _matches(value: str, wanted: str | None) -> bool:
    if not wanted:
        return True
    if _WILDCARDS & set(wanted):
        return fnmatch.fnmatchcase(value, wanted)
    return value == wanted


# -- alerts -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertFilter:
    """What to list; text fields accept shell patterns (``magnets-*``) like silences do."""

    rule: str | None = None
    partner: str | None = None
    commodity: str | None = None
    period: str | None = None
    severity: str | None = None
    state: str | None = None
    source: str | None = None
    since: datetime | None = None  # recorded (fired) at or after

    def active(self) -> dict[str, str]:
        """The filters that are set (``since`` aside), name -> text: shown and kept in links."""
        return {
            k: str(v)
            for k, v in (
                ("rule", self.rule),
                ("partner", self.partner),
                ("commodity", self.commodity),
                ("period", self.period),
                ("severity", self.severity),
                ("state", self.state),
                ("source", self.source),
            )
            if v
        }


@dataclass
class AlertRecord:
    """A recorded alert as the console shows it."""

    key: str
    alert: Alert
    state: str
    fired_at: datetime | None
    updated_at: datetime | None
    first_release_id: int | None
    last_release_id: int | None

    @property
    def series(self) -> dict[str, str]:
        """The alert's series (``SERIES_KEY`` -> code); all empty for a notice about no series."""
        return self.alert.series


def _record(row: Any) -> AlertRecord:
    alert = Alert.from_dict(json.loads(row.payload))
    if not alert.source:
        from dataclasses import replace

        alert = replace(alert, source=row.source)
    return AlertRecord(
        key=row.key,
        alert=alert,
        state=row.state,
        fired_at=parse_ts(row.fired_at),
        updated_at=parse_ts(row.updated_at),
        first_release_id=row.first_release_id,
        last_release_id=row.last_release_id,
    )


def _alert_query(flt: AlertFilter, *columns: Any) -> Any:
    t = s.alerts
    query = sa.select(*(columns or (t,))).order_by(t.c.updated_at.desc(), t.c.key)
    if flt.rule and not (_WILDCARDS & set(flt.rule)):
        query = query.where(t.c.rule_id == flt.rule)
    if flt.period:
        query = query.where(t.c.period == flt.period)
    if flt.state:
        query = query.where(t.c.state == flt.state)
    if flt.source:
        query = query.where(t.c.source == flt.source)
    if flt.since is not None:
        query = query.where(t.c.fired_at >= ts(flt.since))
    # The key is rule|reporter|partner|commodity|flow|measure|period: an exact partner or
    # commodity narrows the rows in SQL; the exact test on the key's own field follows.
    for wanted in (flt.partner, flt.commodity):
        if wanted and not (_WILDCARDS & set(wanted)):
            query = query.where(t.c.key.like(f"%|{_like_escape(wanted)}|%", escape="\\"))
    return query


def _fields(key: str, payload: str | None) -> dict[str, str]:
    """rule, partner and commodity of a stored alert from its key; from its payload (which
    also has the severity) when given, or when a code holds a '|' and the key cannot tell."""
    parts = key.split("|")
    if payload is None and len(parts) == 7:
        return {"rule": parts[0], "partner": parts[2], "commodity": parts[3]}
    data = json.loads(payload) if payload is not None else {}
    return {k: str(data.get(k, "")) for k in ("rule", "partner", "commodity", "severity")}


def list_alerts(
    store: Any, flt: AlertFilter, *, limit: int | None = 100, offset: int = 0
) -> tuple[list[AlertRecord], int]:
    """(the page of alerts, how many match in all), most recently updated first.

    Filters SQL can apply exactly (rule, period, state, source, since) page and count in SQL;
    the others read only the keys (and the payload for severity) to filter, and whole rows for
    the page alone."""
    t = s.alerts
    in_sql = not (
        flt.severity or flt.partner or flt.commodity or (flt.rule and _WILDCARDS & set(flt.rule))
    )
    with store.engine.connect() as conn:
        if in_sql:
            matching = _alert_query(flt, t.c.key).order_by(None).subquery()
            total = int(conn.execute(sa.select(sa.func.count()).select_from(matching)).scalar())
            query = _alert_query(flt).offset(offset)
            if limit is not None:
                query = query.limit(limit)
            return [_record(row) for row in conn.execute(query)], total
        columns = (t.c.key, t.c.payload) if flt.severity else (t.c.key,)
        keys = []
        for row in conn.execute(_alert_query(flt, *columns)):
            payload = row.payload if flt.severity else None
            if payload is None and row.key.count("|") != 6:
                payload = conn.execute(sa.select(t.c.payload).where(t.c.key == row.key)).scalar()
            f = _fields(row.key, payload)
            if (
                _matches(f["rule"], flt.rule)
                and _matches(f["partner"], flt.partner)
                and _matches(f["commodity"], flt.commodity)
                and _matches(f.get("severity", ""), flt.severity)
            ):
                keys.append(row.key)
        page = keys[offset : None if limit is None else offset + limit]
        found: dict[str, AlertRecord] = {}
        for i in range(0, len(page), 500):
            rows = conn.execute(sa.select(t).where(t.c.key.in_(page[i : i + 500])))
            found.update((row.key, _record(row)) for row in rows)
    return [found[k] for k in page if k in found], len(keys)


def get_alert(store: Any, key: str) -> AlertRecord | None:
    """The recorded alert with this key, or None."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(s.alerts).where(s.alerts.c.key == key)).first()
    return _record(row) if row is not None else None


def alerts_of_series(
    store: Any, source: str, series: Mapping[str, str], *, limit: int = 200
) -> list[AlertRecord]:
    """Every alert recorded for one series (any rule, any month), newest month first."""
    t = s.alerts
    middle = "|".join(_like_escape(str(series[k])) for k in SERIES_KEY)
    query = (
        sa.select(t)
        .where(t.c.source == source)
        .where(t.c.key.like(f"%|{middle}|%", escape="\\"))
        .order_by(t.c.period.desc(), t.c.rule_id)
    )
    with store.engine.connect() as conn:
        out = []
        for row in conn.execute(query):
            record = _record(row)
            if record.series == {k: str(series[k]) for k in SERIES_KEY}:
                out.append(record)
                if len(out) >= limit:
                    break
    return out


def alerts_of_release(store: Any, release_id: int) -> list[AlertRecord]:
    """Alerts this release first recorded or last changed (fired, revised, resolved, silenced)."""
    t = s.alerts
    query = (
        sa.select(t)
        .where(sa.or_(t.c.first_release_id == release_id, t.c.last_release_id == release_id))
        .order_by(t.c.rule_id, t.c.key)
    )
    with store.engine.connect() as conn:
        return [_record(r) for r in conn.execute(query)]


# -- deliveries ---------------------------------------------------------------------------------
@dataclass
class Delivery:
    """One outbox message as seen from an alert: which channel, in what state, why."""

    id: int
    channel: str
    kind: str
    state: str
    created_at: datetime | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    attempts: int
    last_error: str | None
    alert_keys: list[str] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    dedup_key: str = ""

    @property
    def release_id(self) -> int | None:
        """The release that queued the message, from its dedup key (``r<id>:...``); None for a
        message of no release (a missing release, an ops notice)."""
        head = self.dedup_key.split(":", 1)[0]
        return int(head[1:]) if head.startswith("r") and head[1:].isdigit() else None


def _delivery(row: Any, *, with_text: bool) -> Delivery:
    subject = text = ""
    if with_text:
        message = json.loads(row.message)
        subject, text = str(message.get("subject", "")), str(message.get("text", ""))
    return Delivery(
        id=row.id,
        channel=row.channel,
        kind=row.kind,
        state=row.state,
        created_at=parse_ts(row.created_at),
        next_attempt_at=parse_ts(row.next_attempt_at),
        sent_at=parse_ts(row.sent_at),
        attempts=row.attempts,
        last_error=row.last_error,
        alert_keys=json.loads(row.alert_keys),
        subject=subject,
        text=text,
        dedup_key=row.dedup_key,
    )


def _outbox_columns(with_text: bool) -> list[Any]:
    t = s.outbox
    columns = [
        t.c.id,
        t.c.channel,
        t.c.dedup_key,
        t.c.kind,
        t.c.alert_keys,
        t.c.created_at,
        t.c.next_attempt_at,
        t.c.attempts,
        t.c.state,
        t.c.last_error,
        t.c.sent_at,
    ]
    return [*columns, t.c.message] if with_text else columns


def deliveries(
    store: Any, records: Iterable[AlertRecord], *, with_text: bool = False
) -> dict[str, list[Delivery]]:
    """Alert key -> the messages that carried it, oldest first.

    A message is queued in the same transaction that records its alert (or later, for a
    revision), so only messages created since the oldest of these alerts' ``fired_at`` are read.
    """
    records = list(records)
    out: dict[str, list[Delivery]] = {r.key: [] for r in records}
    if not records:
        return out
    oldest = min((r.fired_at for r in records if r.fired_at), default=None)
    t = s.outbox
    query = sa.select(*_outbox_columns(with_text)).order_by(t.c.id)
    if oldest is not None:
        query = query.where(t.c.created_at >= ts(oldest))
    if len(records) == 1:
        needle = json.dumps(records[0].key)
        query = query.where(t.c.alert_keys.like(f"%{_like_escape(needle)}%", escape="\\"))
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            entry = _delivery(row, with_text=with_text)
            for key in entry.alert_keys:
                if key in out:
                    out[key].append(entry)
    return out


def outbox_messages(
    store: Any, *, states: Iterable[str], limit: int = 200, with_text: bool = True
) -> list[Delivery]:
    """The newest ``limit`` messages in any of ``states``, newest first (with their subject and text
    unless ``with_text`` is false)."""
    t = s.outbox
    query = (
        sa.select(*_outbox_columns(with_text))
        .where(t.c.state.in_(list(states)))
        .order_by(t.c.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [_delivery(r, with_text=with_text) for r in conn.execute(query)]


def outbox_message(store: Any, message_id: int) -> Delivery | None:
    """One message with its subject and text; None for an unknown id."""
    query = sa.select(*_outbox_columns(True)).where(s.outbox.c.id == message_id)
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return _delivery(row, with_text=True) if row is not None else None


def release_messages(store: Any, release_id: int) -> list[Delivery]:
    """The messages a release queued (their dedup key starts with ``r<id>:``)."""
    t = s.outbox
    query = (
        sa.select(*_outbox_columns(False))
        .where(t.c.dedup_key.like(f"r{int(release_id)}:%"))
        .order_by(t.c.id)
    )
    with store.engine.connect() as conn:
        return [_delivery(r, with_text=False) for r in conn.execute(query)]


# -- releases -----------------------------------------------------------------------------------
@dataclass
class ReleaseRecord:
    """A recorded release: what arrived and when, and when it was evaluated (None: pending)."""

    id: int
    source: str
    detected_at: datetime | None
    new_periods: list[str]
    revised_periods: list[str]
    observations: int
    initial: bool
    evaluated_at: datetime | None
    alerts: dict[str, int] = field(default_factory=dict)  # state -> alerts it last changed

    @property
    def fired(self) -> int:
        """How many alerts this release last changed, in any state (resolved and silenced too); 0
        unless ``alerts`` was filled (``list_releases`` fills it, ``get_release`` does not)."""
        return sum(self.alerts.values())


def _release(row: Any) -> ReleaseRecord:
    return ReleaseRecord(
        id=row.id,
        source=row.source,
        detected_at=parse_ts(row.detected_at),
        new_periods=json.loads(row.new_periods),
        revised_periods=json.loads(row.revised_periods),
        observations=row.observations,
        initial=bool(row.initial),
        evaluated_at=parse_ts(row.evaluated_at),
    )


def list_releases(
    store: Any, *, source: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[ReleaseRecord], int]:
    """(a page of releases, newest first, how many in all), of one source if given; each with its
    ``alerts`` counted by state."""
    t = s.releases
    query = sa.select(t).order_by(t.c.id.desc()).limit(limit).offset(offset)
    count = sa.select(sa.func.count()).select_from(t)
    if source:
        query = query.where(t.c.source == source)
        count = count.where(t.c.source == source)
    with store.engine.connect() as conn:
        releases = [_release(r) for r in conn.execute(query)]
        total = int(conn.execute(count).scalar() or 0)
        if releases:
            a = s.alerts
            ids = [r.id for r in releases]
            grouped = conn.execute(
                sa.select(a.c.last_release_id, a.c.state, sa.func.count())
                .where(a.c.last_release_id.in_(ids))
                .group_by(a.c.last_release_id, a.c.state)
            )
            by_id = {r.id: r for r in releases}
            for release_id, state, n in grouped:
                by_id[release_id].alerts[state] = int(n)
    return releases, total


def get_release(store: Any, release_id: int) -> ReleaseRecord | None:
    """The release with this id (its ``alerts`` left empty), or None."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(s.releases).where(s.releases.c.id == release_id)).first()
    return _release(row) if row is not None else None


# -- series and their vintages ------------------------------------------------------------------
def series_frame(series: Mapping[str, str]) -> pd.DataFrame:
    """A series as the store looks it up: a one-row frame of its ``SERIES_KEY`` columns, as text."""
    return pd.DataFrame({k: pd.Series([str(series[k])], dtype="str") for k in SERIES_KEY})


def series_vintages(
    store: Any,
    source: str,
    series: Mapping[str, str],
    *,
    first: str | None = None,
    last: str | None = None,
) -> pd.DataFrame:
    """Every vintage of one series for months [first, last]: ``period, release_id,
    recorded_at, value, unit``, in release order.

    Reads the data plane's vintage segments of those months only (one small decode each), not
    the whole source: ``SqlStore.vintages`` materialises every series of the source.
    """
    from monitor.store.segments import decode_rows

    columns = ["period", "release_id", "recorded_at", "value", "unit"]
    g, r = s.segments, s.releases
    with store.engine.connect() as conn:
        _, dictionary = store.data.dictionary(conn, source)
        if not len(dictionary):
            return pd.DataFrame(columns=columns)
        sid = int(dictionary.ids_for(series_frame(series), add=False)[0])
        if sid < 0:
            return pd.DataFrame(columns=columns)
        query = (
            sa.select(g.c.period, g.c.release_id, g.c.data, r.c.detected_at)
            .outerjoin(r, r.c.id == g.c.release_id)
            .where(g.c.source == source, g.c.kind == "vintage")
            .order_by(g.c.release_id, g.c.period)
        )
        if first:
            query = query.where(g.c.period >= period_to_month(first))
        if last:
            query = query.where(g.c.period <= period_to_month(last))
        found = []
        for row in conn.execution_options(yield_per=1).execute(query):
            rows = decode_rows(row.data)
            at = int(np.searchsorted(rows.ids, sid))
            if at < len(rows) and int(rows.ids[at]) == sid:
                found.append(
                    (
                        month_to_period(int(row.period)),
                        row.release_id,
                        row.detected_at,
                        float(rows.values[at]),
                        rows.unit_names[int(rows.units[at])],
                    )
                )
    return pd.DataFrame(found, columns=columns)


@dataclass
class Vintage:
    """One figure published for a month: the release that brought it (None: migrated data) and when
    it was recorded."""

    release_id: int | None
    recorded_at: datetime | None
    value: float
    unit: str


@dataclass
class MonthHistory:
    """One month of a series: what was first published and every later figure."""

    period: str
    vintages: list[Vintage]

    @property
    def first(self) -> Vintage:
        """The figure first published for the month."""
        return self.vintages[0]

    @property
    def current(self) -> Vintage:
        """The month's latest figure (the first one if never revised)."""
        return self.vintages[-1]

    @property
    def revised(self) -> bool:
        """Whether a later release changed the month's figure."""
        return len(self.vintages) > 1


def month_histories(frame: pd.DataFrame) -> list[MonthHistory]:
    """``series_vintages`` grouped by month, oldest month first, vintages in release order."""
    out: dict[str, list[Vintage]] = {}
    for row in frame.to_dict("records"):
        release_id, recorded_at = row["release_id"], row["recorded_at"]
        out.setdefault(str(row["period"]), []).append(
            Vintage(
                release_id=None if pd.isna(release_id) else int(release_id),
                recorded_at=parse_ts(recorded_at) if isinstance(recorded_at, str) else None,
                value=float(row["value"]),
                unit=str(row["unit"]),
            )
        )
    return [MonthHistory(p, out[p]) for p in sorted(out)]


# -- console actions ----------------------------------------------------------------------------
@dataclass
class ConsoleAction:
    """One recorded console write: when, who, from where, what and on what."""

    id: int
    at: datetime | None
    who: str
    remote: str | None
    action: str
    target: str
    detail: dict[str, Any]


def _actions_table() -> sa.Table:
    import importlib

    table: sa.Table = importlib.import_module(
        "monitor.store.migrations.0005_console_actions"
    ).console_actions
    return table


def console_actions(
    store: Any, *, action_prefix: str | None = None, limit: int = 50
) -> list[ConsoleAction]:
    """The newest ``limit`` recorded console writes, newest first; with ``action_prefix``
    (``silence.``, ``outbox.``) only those actions."""
    t = _actions_table()
    query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
    if action_prefix:
        query = query.where(t.c.action.like(f"{_like_escape(action_prefix)}%", escape="\\"))
    with store.engine.connect() as conn:
        return [
            ConsoleAction(
                id=r.id,
                at=parse_ts(r.at),
                who=r.who,
                remote=r.remote,
                action=r.action,
                target=r.target,
                detail=json.loads(r.detail),
            )
            for r in conn.execute(query)
        ]
