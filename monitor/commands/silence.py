"""``customs-monitor silence add|list|expire``: keep known situations quiet for a while.

Silenced alerts are still evaluated and recorded (state ``silenced``); they are just not sent.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from monitor.notify.silences import parse_until


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``silence add``, ``silence list`` and ``silence expire ID``."""
    p = sub.add_parser(
        "silence",
        help="add, list or expire silences",
        description="Silences keep matching alerts from being sent (they are still recorded).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="silence alerts of a rule (and labels) until a date")
    add.add_argument("--rule", metavar="ID", help="rule id or pattern (magnets-*)")
    add.add_argument(
        "--match",
        metavar="LABEL=VALUE",
        action="append",
        default=[],
        help="also require this label or field (partner=US); repeatable",
    )
    add.add_argument(
        "--until",
        required=True,
        metavar="DATE",
        help="end: 2027-01-15, 2027-01-15T12:00Z, or 12h / 7d / 2w from now",
    )
    add.add_argument("--comment", required=True, metavar="TEXT", help="why (shown in lists)")
    add.add_argument("--by", metavar="NAME", help="who (default: $USER)")
    add.set_defaults(func=_add)
    ls = actions.add_parser("list", help="list active and upcoming silences")
    ls.add_argument("--all", action="store_true", help="include ended and expired ones")
    ls.set_defaults(func=_list)
    ex = actions.add_parser("expire", help="end a silence now")
    ex.add_argument("id", type=int, metavar="ID")
    ex.set_defaults(func=_expire)


def _store(args: argparse.Namespace):
    from monitor.config import load_config
    from monitor.runtime import open_state

    return open_state(load_config(args.config))


def _add(args: argparse.Namespace) -> int:
    import os

    from monitor.config import load_config
    from monitor.daemon.ops import LABELS as OPS_LABELS
    from monitor.daemon.ops import RULES as OPS_RULES
    from monitor.notify import silences
    from monitor.runtime import load_rules, open_state

    now = datetime.now(UTC)
    matchers = silences.parse_matchers(args.match)
    until = parse_until(args.until, now)
    config = load_config(args.config)
    rules = list(load_rules(config))
    # Ops notices can be silenced too: their rules and labels (monitor.daemon.ops).
    silences.check_silence(
        args.rule,
        matchers,
        rule_ids=[r.id for r in rules] + list(OPS_RULES),
        labels={k for r in rules for k in r.labels} | set(OPS_LABELS),
    )
    store = open_state(config)
    try:
        s = silences.add(
            store,
            rule=args.rule,
            matchers=matchers,
            until=until,
            comment=args.comment,
            now=now,
            created_by=args.by or os.environ.get("USER"),
        )
    finally:
        store.close()
    print(f"silence {s.id} added: {s.describe()} until {s.ends_at:%Y-%m-%d %H:%M} UTC")
    return 0


def _list(args: argparse.Namespace) -> int:
    from monitor.notify import silences

    now = datetime.now(UTC)
    store = _store(args)
    try:
        rows = silences.list_silences(store, include_expired=args.all, now=now)
    finally:
        store.close()
    if not rows:
        print("no silences" if args.all else "no active silences")
        return 0
    print(f"{'id':>4}  {'state':8}  {'until (UTC)':16}  {'matches':40}  comment")
    for s in rows:
        state = (
            "expired"
            if s.expired_at
            else "active"
            if s.is_active(now)
            else "upcoming"
            if s.starts_at and s.starts_at > now
            else "ended"
        )
        print(
            f"{s.id:>4}  {state:8}  {s.ends_at:%Y-%m-%d %H:%M}  {s.describe():40}  "
            f"{s.comment}" + (f" ({s.created_by})" if s.created_by else "")
        )
    return 0


def _expire(args: argparse.Namespace) -> int:
    from monitor.notify import silences

    store = _store(args)
    try:
        s = silences.expire(store, args.id, now=datetime.now(UTC))
    finally:
        store.close()
    print(f"silence {s.id} expired ({s.describe()})")
    return 0
