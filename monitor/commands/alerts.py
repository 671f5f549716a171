"""``customs-monitor alerts list|show``: the console's Alerts pages in a terminal.

Reads the state store like ``status`` does (the daemon need not run) through the same queries as
the console, so both list the same alerts for the same filters.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.errors import ConfigError, Problem

_AGO = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")


def parse_since(text: str, now: datetime) -> datetime:
    """``7d`` / ``12h`` / ``2w`` ago, a month ``2025-08`` (its first day), a date or a
    date-time (UTC unless it says otherwise)."""
    m = _AGO.match(text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return (
            now - {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
        )
    raw = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}", raw):
        raw += "-01"
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            Problem(
                "<command line>",
                0,
                0,
                f"--since {text!r}: expected 7d / 12h / 2w, a month (2025-08), a date "
                "(2025-08-20) or a date-time (2025-08-20T02:00Z)",
            )
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``alerts list`` (filtered, newest change first) and ``alerts show KEY``."""
    p = sub.add_parser(
        "alerts",
        help="list recorded alerts, or show one with its delivery per channel",
        description="The alerts the daemon recorded (fired, silenced, resolved), as the web "
        "console shows them.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="alerts matching filters, most recently changed first")
    ls.add_argument("--rule", metavar="ID", help="rule id or pattern (magnets-*)")
    ls.add_argument("--partner", metavar="CODE", help="partner code or pattern (US)")
    ls.add_argument("--commodity", metavar="CODE", help="commodity code or pattern (8505*)")
    ls.add_argument("--since", metavar="WHEN", help="recorded since: 7d, 2025-08, 2025-08-20")
    ls.add_argument("--period", metavar="YYYY-MM", help="the month the alert is about")
    ls.add_argument("--severity", choices=["critical", "error", "warning", "info"])
    ls.add_argument("--state", choices=["firing", "silenced", "resolved"])
    ls.add_argument("--source", metavar="NAME", help="only this source")
    ls.add_argument("--limit", type=int, default=100, help="at most N (default 100; 0 = all)")
    ls.add_argument("--format", choices=["table", "jsonl"], default="table")
    ls.set_defaults(func=_list)
    show = actions.add_parser("show", help="one alert: figures, state and delivery per channel")
    show.add_argument("key", metavar="KEY", help="the alert's key (alerts list shows it)")
    show.add_argument("--format", choices=["text", "json"], default="text")
    show.set_defaults(func=_show)


def _open(args: argparse.Namespace) -> tuple[Any, Any]:
    """(the state store, the template environment: headlines and the console's address)"""
    from monitor.config import load_config
    from monitor.runtime import open_state, template_env

    config = load_config(args.config)
    return open_state(config), template_env(config)


def _delivery_word(d: Any) -> str:
    if d.state == "sent":
        return "sent"
    if d.state == "failed":
        return "failed"
    return "queued"


def _record_json(record: Any, deliveries: list[Any], templates: Any, url: str | None) -> dict:
    a = record.alert
    return {
        "key": record.key,
        "state": record.state,
        "summary": templates.render_summary(a),
        "fired_at": record.fired_at.isoformat() if record.fired_at else None,
        "updated_at": record.updated_at.isoformat() if record.updated_at else None,
        "first_release_id": record.first_release_id,
        "last_release_id": record.last_release_id,
        "alert": a.to_dict(),
        "deliveries": [
            {
                "message": d.id,
                "channel": d.channel,
                "kind": d.kind,
                "state": d.state,
                "queued_at": d.created_at.isoformat() if d.created_at else None,
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
                "attempts": d.attempts,
                "error": d.last_error,
            }
            for d in deliveries
        ],
        "url": url,
    }


def _list(args: argparse.Namespace) -> int:
    from monitor.render import filters
    from monitor.render.links import alert_url
    from monitor.web import queries

    store, templates = _open(args)
    try:
        flt = queries.AlertFilter(
            rule=args.rule,
            partner=args.partner,
            commodity=args.commodity,
            period=args.period,
            severity=args.severity,
            state=args.state,
            source=args.source,
            since=parse_since(args.since, datetime.now(UTC)) if args.since else None,
        )
        records, total = queries.list_alerts(store, flt, limit=args.limit or None)
        sent = queries.deliveries(store, records)
    finally:
        store.close()
    if args.format == "jsonl":
        for r in records:
            url = alert_url(templates.console_url, r.key)
            print(json.dumps(_record_json(r, sent[r.key], templates, url), default=str))
        return 0
    if not records:
        print("no alert recorded" + (" matches these filters" if flt.active() or flt.since else ""))
        return 0
    rows = []
    for r in records:
        a = r.alert
        channels = {d.channel: _delivery_word(d) for d in sent[r.key]}
        rows.append(
            [
                f"{r.fired_at:%Y-%m-%d %H:%M}" if r.fired_at else "-",
                r.state,
                a.severity,
                a.rule_id,
                f"{a.reporter}>{a.partner} {a.commodity}" if a.is_series else a.subject,
                a.period,
                filters.quantity(a.value, a.unit) if a.value == a.value else "-",
                " ".join(f"{c}:{w}" for c, w in sorted(channels.items())) or "-",
                r.key,
            ]
        )
    headers = ["recorded", "state", "severity", "rule", "series", "period", "value", "sent", "key"]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    for line in [headers, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    if total > len(records):
        print(f"({len(records)} of {total} shown; --limit 0 for all)")
    return 0


def _show(args: argparse.Namespace) -> int:
    from monitor.render import filters
    from monitor.render.links import alert_url
    from monitor.render.view import facts
    from monitor.web import queries

    store, templates = _open(args)
    try:
        record = queries.get_alert(store, args.key)
        if record is None:
            raise ConfigError(
                Problem(
                    "<command line>",
                    0,
                    0,
                    f"no alert recorded with key {args.key!r} (customs-monitor alerts list "
                    "shows the keys)",
                )
            )
        deliveries = queries.deliveries(store, [record], with_text=True)[record.key]
    finally:
        store.close()
    url = alert_url(templates.console_url, record.key)
    if args.format == "json":
        print(json.dumps(_record_json(record, deliveries, templates, url), indent=2, default=str))
        return 0
    a = record.alert

    def when(value: datetime | None) -> str:
        return f"{value:%Y-%m-%d %H:%M} UTC" if value else "-"

    value = filters.quantity(a.value, a.unit) if a.value == a.value else "no figure"
    lines = [
        record.key,
        f"  {templates.render_summary(a)}",
        "  "
        + " · ".join([f"{value} in {filters.month_name(a.period)}", *facts(a.context, a.unit)]),
        f"  {record.state} · {a.severity} · rule {a.rule_id} · source {a.source}",
        f"  series {a.reporter} -> {a.partner} · {a.commodity} · {a.flow} · {a.measure}"
        if a.is_series
        else f"  about {a.subject}",
        f"  recorded {when(record.fired_at)}"
        + (f" (release {record.first_release_id})" if record.first_release_id else "")
        + f", last changed {when(record.updated_at)}"
        + (f" (release {record.last_release_id})" if record.last_release_id else ""),
        "  delivery:",
    ]
    if not deliveries:
        lines.append(
            "    none (silenced: recorded, not sent)"
            if record.state == "silenced"
            else "    no message carried it"
        )
    for d in deliveries:
        state = {
            "sent": f"sent {when(d.sent_at)}",
            "failed": f"failed: {d.last_error or 'no reason recorded'}",
        }.get(d.state, f"queued, {d.attempts} attempt(s), next {when(d.next_attempt_at)}")
        lines.append(f"    {d.channel:<12} {d.kind} #{d.id:<5} {state}")
    if url:
        lines.append(f"  console: {url}")
    print("\n".join(lines))
    return 0
