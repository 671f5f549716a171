"""Self-monitoring: notices to the ops route when the monitor itself is unwell.

``check`` looks at the store (not at in-process counters) so an HA standby that takes over sees
the same streaks. It returns plain ``Alert``s the runner hands to the pipeline for the channels in
``daemon.ops.channels``. Each incident has a stable identity (rule + source/channel + when it
began), and incidents already recorded in the store's alerts are left out, so a failing source
produces one notice per failure streak rather than one per check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from monitor.daemon.options import OpsOptions
from monitor.model import Alert
from monitor.store.base import OUTBOX_PENDING

RULE_SOURCE_FAILING = "ops-source-failing"
RULE_OUTBOX_STUCK = "ops-outbox-stuck"
_NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _month(when: dt.datetime) -> str:
    return f"{when.year:04d}-{when.month:02d}"


def _ops_alert(
    rule: str,
    subject: str,
    since: dt.datetime,
    value: float,
    unit: str,
    summary: str,
    context: dict[str, Any],
    *,
    source: str = "",
) -> Alert:
    # Series fields carry the subject so the key (rule|...|period) is unique per incident;
    # the period is the month the incident began, which stays fixed while it lasts.
    return Alert(
        rule_id=rule,
        period=_month(since),
        reporter="ops",
        partner=subject,
        commodity=since.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
        flow="export",
        measure="ops",
        value=float(value),
        unit=unit,
        severity="critical",
        summary=summary,
        labels={"ops": "true", "subject": subject},
        context=context,
        source=source,
    )


def source_alerts(
    store: Any, ops: OpsOptions, thresholds: dict[str, int], now: dt.datetime
) -> list[Alert]:
    """A source that failed ``threshold`` polls in a row (per-source ``failure_alert_after``)."""
    out = []
    for st in store.source_states():
        threshold = thresholds.get(st.source, ops.source_failures)
        if st.consecutive_failures < threshold:
            continue
        # The streak began after the last success, which stays fixed while it lasts; a source
        # that never succeeded has one streak since the epoch (last_poll_at moves every poll).
        since = st.last_success_at or _NEVER
        out.append(
            _ops_alert(
                RULE_SOURCE_FAILING,
                st.source,
                since,
                st.consecutive_failures,
                "polls",
                f"source {st.source} failed {st.consecutive_failures} polls in a row",
                {
                    "last_error": st.last_error or "",
                    "last_success_at": st.last_success_at.isoformat()
                    if st.last_success_at
                    else "never",
                    "threshold": threshold,
                },
                source=st.source,
            )
        )
    return out


def outbox_alerts(store: Any, ops: OpsOptions, now: dt.datetime) -> list[Alert]:
    """The oldest message per channel that has waited longer than ``outbox_stuck_minutes``."""
    limit = dt.timedelta(minutes=ops.outbox_stuck_minutes)
    oldest: dict[str, Any] = {}
    for m in store.outbox(state=OUTBOX_PENDING):
        if m.created_at is None or now - m.created_at <= limit:
            continue
        if m.channel not in oldest or m.created_at < oldest[m.channel].created_at:
            oldest[m.channel] = m
    out = []
    for channel, m in sorted(oldest.items()):
        minutes = (now - m.created_at).total_seconds() / 60
        out.append(
            _ops_alert(
                RULE_OUTBOX_STUCK,
                channel,
                m.created_at,
                round(minutes),
                "minutes",
                f"channel {channel}: a message has waited {minutes:.0f} minutes "
                f"({m.attempts} attempts)",
                {"message_id": m.id, "attempts": m.attempts, "last_error": m.last_error or ""},
            )
        )
    return out


def check(
    store: Any, ops: OpsOptions, now: dt.datetime, *, thresholds: dict[str, int] | None = None
) -> list[Alert]:
    """Ops alerts that hold now and were not yet recorded (send these once)."""
    alerts = source_alerts(store, ops, thresholds or {}, now) + outbox_alerts(store, ops, now)
    if not alerts:
        return []
    known = store.alerts([a.key for a in alerts])
    return [a for a in alerts if a.key not in known]


def thresholds_from_sources(sources: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Per-source ``failure_alert_after`` overrides of ``daemon.ops.source_failures``."""
    return {
        name: int(opts["failure_alert_after"])
        for name, opts in sources.items()
        if isinstance(opts, dict) and "failure_alert_after" in opts
    }
