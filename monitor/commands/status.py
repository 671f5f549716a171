"""``customs-monitor status``: the figures of /metrics, for a human, read from the state store.

Works whether or not the daemon runs (it reads the same database), and on an HA pair it also
says which instance holds the lease.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from monitor.clock import SystemClock
from monitor.errors import MonitorError
from monitor.store.base import OUTBOX_FAILED, OUTBOX_PENDING, OutboxEntry, SourceState


@dataclass
class StatusReport:
    """What ``status`` shows; ``active`` is the lease holder (None: not asked, '': nobody)."""

    now: dt.datetime
    sources: list[SourceState]
    pending: list[OutboxEntry]
    failed: list[OutboxEntry]
    releases: list[Any]
    alerts: list[Any]
    incidents: list[Any] = field(default_factory=list)  # open ops incidents, oldest first
    active: str | None = None
    #: why the lease holder could not be read (``active`` is None then)
    active_error: str | None = None


def gather(store: Any, now: dt.datetime, *, recent: int = 5) -> StatusReport:
    """Read a ``StatusReport`` from the store: every source's state, the pending and failed
    outbox, the ``recent`` newest releases and alerts, the open incidents (``active`` unset)."""
    from monitor.daemon.ops import open_incidents

    newest = store.alerts(newest=recent).values()
    alerts = sorted(newest, key=lambda a: a.fired_at, reverse=True)
    return StatusReport(
        now=now,
        sources=sorted(store.source_states(), key=lambda s: s.source),
        pending=store.outbox(state=OUTBOX_PENDING),
        failed=store.outbox(state=OUTBOX_FAILED),
        releases=store.releases(limit=recent),
        alerts=alerts,
        incidents=sorted(open_incidents(store).values(), key=lambda a: a.fired_at),
    )


def _incident_error(incident: Any) -> str:
    return str(incident.alert.get("error") or incident.alert.get("last_error") or "")


def _ago(now: dt.datetime, when: dt.datetime | None) -> str:
    if when is None:
        return "never"
    seconds = int((now - when).total_seconds())
    if seconds < 0:
        return when.isoformat(timespec="seconds")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _periods(periods: tuple[str, ...], shown: int = 4) -> str:
    """The newest few periods of a release; a backfill of 15 years would flood the screen."""
    newest = sorted(periods)[-shown:]
    more = len(periods) - len(newest)
    return (f"{more} earlier, " if more else "") + ", ".join(newest)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers).rstrip(), *(fmt.format(*r).rstrip() for r in rows)]


def format_status(report: StatusReport) -> str:
    """The report as ``status`` prints it: incidents, sources, outbox per channel, recent releases
    and alerts, with ages relative to ``report.now``."""
    now = report.now
    lines = []
    if report.active is not None:
        lines += [f"active instance: {report.active or 'none (no daemon holds the lease)'}", ""]
    elif report.active_error is not None:
        lines += [f"active instance: unknown ({report.active_error})", ""]
    lines.append("Open incidents")
    for i in report.incidents:
        error = _incident_error(i)
        lines.append(
            f"  since {_ago(now, i.fired_at)}: {i.alert.get('summary', i.rule_id)}"
            + (f": {error[:100]}" if error else "")
        )
    if not report.incidents:
        lines.append("  none")
    lines += ["", "Sources"]
    if report.sources:
        lines += [
            "  " + x
            for x in _table(
                [
                    "source",
                    "last poll",
                    "last success",
                    "polls",
                    "failures",
                    "in a row",
                    "last error",
                ],
                [
                    [
                        s.source,
                        _ago(now, s.last_poll_at),
                        _ago(now, s.last_success_at),
                        str(s.polls),
                        str(s.failures),
                        str(s.consecutive_failures),
                        (s.last_error or "")[:60] if s.consecutive_failures else "",
                    ]
                    for s in report.sources
                ],
            )
        ]
    else:
        lines.append("  (no source polled yet)")
    lines += ["", "Outbox"]
    channels = sorted({m.channel for m in report.pending} | {m.channel for m in report.failed})
    if channels:
        rows = []
        for ch in channels:
            waiting = [m for m in report.pending if m.channel == ch]
            oldest = min((m.created_at for m in waiting if m.created_at), default=None)
            rows.append(
                [
                    ch,
                    str(len(waiting)),
                    _ago(now, oldest) if oldest else "-",
                    str(sum(m.channel == ch for m in report.failed)),
                ]
            )
        lines += ["  " + x for x in _table(["channel", "pending", "oldest", "failed"], rows)]
        for m in report.failed[-5:]:
            lines.append(f"  failed #{m.id} {m.channel}: {(m.last_error or '')[:80]}")
    else:
        lines.append("  empty")
    lines += ["", "Recent releases"]
    if report.releases:
        for r in report.releases:
            what = []
            if r.new_periods:
                what.append("new " + _periods(r.new_periods))
            if r.revised_periods:
                what.append("revised " + _periods(r.revised_periods))
            lines.append(
                f"  #{r.id} {r.detected_at[:16]} {r.source}: {'; '.join(what) or '-'}"
                + (" (initial)" if r.initial else "")
            )
    else:
        lines.append("  none")
    lines += ["", "Recent alerts"]
    if report.alerts:
        for a in report.alerts:
            summary = _summary(a.alert)
            lines.append(
                f"  {a.fired_at.isoformat(timespec='minutes')} {a.rule_id} "
                f"{a.period} [{a.state}] {summary}".rstrip()
            )
    else:
        lines.append("  none")
    return "\n".join(lines) + "\n"


def _summary(alert: dict[str, Any]) -> str:
    """The alert's summary as its messages said it (rendered, never the raw template)."""
    from monitor.render.text import alert_text

    try:
        return alert_text(alert).summary
    except (KeyError, TypeError, ValueError):  # a row from an older schema: show the rule only
        return ""


def as_json(report: StatusReport) -> str:
    """The report as ``status --format json`` prints it (the outbox as counts per channel)."""
    from monitor.daemon.ops import subject_of

    def iso(d: dt.datetime | None) -> str | None:
        return d.isoformat() if d else None

    data = {
        "now": iso(report.now),
        "active": report.active,
        "active_error": report.active_error,
        "incidents": [
            {
                "rule": i.rule_id,
                "subject": subject_of(i.alert) or None,
                "since": iso(i.fired_at),
                "summary": i.alert.get("summary"),
                "error": _incident_error(i) or None,
            }
            for i in report.incidents
        ],
        "sources": [
            {
                "source": s.source,
                "last_poll_at": iso(s.last_poll_at),
                "last_success_at": iso(s.last_success_at),
                "polls": s.polls,
                "failures": s.failures,
                "consecutive_failures": s.consecutive_failures,
                "last_error": s.last_error,
            }
            for s in report.sources
        ],
        "outbox": {
            "pending": len(report.pending),
            "failed": len(report.failed),
            "pending_by_channel": _count(report.pending),
            "failed_by_channel": _count(report.failed),
        },
        "releases": [
            {
                "id": r.id,
                "source": r.source,
                "detected_at": r.detected_at,
                "new_periods": list(r.new_periods),
                "revised_periods": list(r.revised_periods),
            }
            for r in report.releases
        ],
        "alerts": [
            {
                "key": a.key,
                "rule": a.rule_id,
                "period": a.period,
                "state": a.state,
                "fired_at": iso(a.fired_at),
                "summary": _summary(a.alert),
            }
            for a in report.alerts
        ],
    }
    return json.dumps(data, indent=2)


def _count(entries: list[OutboxEntry]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in entries:
        out[m.channel] = out.get(m.channel, 0) + 1
    return out


def run(args: argparse.Namespace) -> int:
    """The ``status`` command: gather from the store and, on PostgreSQL, ask which instance holds
    the HA lease (a failed look-up shows as unknown, with why); print text or JSON."""
    from monitor.config import load_config
    from monitor.daemon.ha import PgAdvisoryLease
    from monitor.runtime import open_state

    config = load_config(args.config)
    store = open_state(config)
    try:
        report = gather(store, SystemClock().now(), recent=args.recent)
    finally:
        store.close()
    if str(config.state).startswith("postgresql"):
        options = config.daemon
        lease = PgAdvisoryLease(config.state, options.ha, options.instance_id + "-status")
        try:
            report.active = lease.holder(raise_errors=True) or ""
        except MonitorError as exc:
            report.active_error = str(exc)
    print(as_json(report) if args.format == "json" else format_status(report), end="")
    return 0


def register(subparsers: Any) -> None:
    """Register ``status [--format text|json] [--recent N]``."""
    p = subparsers.add_parser(
        "status", help="sources, outbox, releases and alerts at a glance", description=__doc__
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--recent",
        type=int,
        default=5,
        metavar="N",
        help="how many recent releases and alerts to list (default 5)",
    )
    p.set_defaults(func=run)
