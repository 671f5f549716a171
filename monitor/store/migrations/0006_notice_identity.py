"""Ops incidents are notices identified by their labels, no longer by stand-in series fields.

Up to schema 5 an incident was recorded as an alert on a made-up series: ``reporter`` and
``measure`` "ops", ``partner`` its subject, ``commodity`` when it began (or ``release-N``),
``flow`` "export"; releases before the ``customs-monitor`` source recorded it under the failing
source's name. Each such alert becomes a notice: empty series fields, labels ``ops``,
``subject`` and ``incident_id``, source ``customs-monitor``, and the key those labels make. The
outbox messages that carry it name it by its new key. Its state, figures, fingerprint and times
are kept, so an open incident stays open and clears with one notice, and nothing is sent again.

The key formula is written out here, not imported: a shipped migration must not change with the
model (``monitor.model.notice_key`` is the same formula today).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

VERSION = 6
tables: list[sa.Table] = []

_OPS_SOURCE = "customs-monitor"
_SERIES = ("reporter", "partner", "commodity", "flow", "measure")
_alerts = sa.table(
    "alerts", sa.column("key"), sa.column("rule_id"), sa.column("source"), sa.column("payload")
)
_outbox = sa.table("outbox", sa.column("id"), sa.column("alert_keys"))


def _is_stand_in(payload: dict[str, Any]) -> bool:
    labels = payload.get("labels") or {}
    return (
        payload.get("reporter") == "ops"
        and payload.get("measure") == "ops"
        and labels.get("ops") == "true"
    )


def _as_notice(payload: dict[str, Any]) -> dict[str, Any]:
    labels = dict(payload.get("labels") or {})
    labels.setdefault("subject", str(payload.get("partner", "")))
    labels["incident_id"] = str(payload.get("commodity", ""))
    return {
        **payload,
        **dict.fromkeys(_SERIES, ""),
        "labels": labels,
        "source": _OPS_SOURCE,
    }


def _key(payload: dict[str, Any]) -> str:
    labels = payload["labels"]
    return "|".join(
        [payload["rule"], *(f"{k}={v}" for k, v in sorted(labels.items())), payload["period"]]
    )


def upgrade(conn: sa.Connection) -> None:
    """Turn each stand-in ops alert into a notice under its new key, and rename that key in
    the outbox messages that list it; other alerts and messages are left as they are."""
    renamed: dict[str, str] = {}
    encoder = json.JSONEncoder(default=str)  # the store's payload encoding
    rows = conn.execute(
        sa.select(_alerts.c.key, _alerts.c.payload).where(_alerts.c.rule_id.like("ops-%"))
    ).all()
    for key, text in rows:
        payload = json.loads(text)
        if not _is_stand_in(payload):
            continue
        notice = _as_notice(payload)
        renamed[key] = _key(notice)
        conn.execute(
            _alerts.update()
            .where(_alerts.c.key == key)
            .values(key=renamed[key], source=_OPS_SOURCE, payload=encoder.encode(notice))
        )
    if not renamed:
        return
    # Only an ops notice's message names a stand-in key, and each such key holds "|ops|".
    messages = conn.execute(
        sa.select(_outbox.c.id, _outbox.c.alert_keys).where(_outbox.c.alert_keys.like("%|ops|%"))
    ).all()
    for message_id, text in messages:
        keys = json.loads(text)
        if any(k in renamed for k in keys):
            conn.execute(
                _outbox.update()
                .where(_outbox.c.id == message_id)
                .values(alert_keys=json.dumps([renamed.get(k, k) for k in keys]))
            )
