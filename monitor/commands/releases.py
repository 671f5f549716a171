"""``customs-monitor releases``: what arrived when, newest first (new and revised periods)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    """Register ``releases [--source NAME] [--limit N] [--format table|jsonl]``."""
    parser = subparsers.add_parser(
        "releases", help="list releases (new and revised periods) as they arrived"
    )
    parser.add_argument("--source", metavar="NAME", help="only this source")
    parser.add_argument("--limit", type=int, default=50, help="newest N (default 50; 0 = all)")
    parser.add_argument("--format", choices=["table", "jsonl"], default="table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the store's releases, newest first (``--limit 0``: all), as a table or JSON lines."""
    from monitor.config import load_config
    from monitor.runtime import open_state

    config = load_config(args.config)
    store = open_state(config)
    try:
        releases = store.releases(source=args.source, limit=args.limit or None)
    finally:
        store.close()
    if args.format == "jsonl":
        for r in releases:
            print(
                json.dumps(
                    {
                        "id": r.id,
                        "source": r.source,
                        "detected_at": r.detected_at,
                        "new_periods": list(r.new_periods),
                        "revised_periods": list(r.revised_periods),
                        "observations": r.observations,
                        "initial": r.initial,
                    }
                )
            )
        return 0
    if not releases:
        print("no releases yet" + (f" for source {args.source!r}" if args.source else ""))
        return 0
    rows = [
        [
            str(r.id),
            r.source,
            r.detected_at,
            _periods(r.new_periods),
            _periods(r.revised_periods),
            str(r.observations),
            "initial" if r.initial else "",
        ]
        for r in releases
    ]
    headers = ["id", "source", "detected at", "new periods", "revised periods", "observations", ""]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    for line in [headers, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return 0


def _periods(periods: tuple[str, ...]) -> str:
    """Compact: '2025-05, 2025-06' or '2019-01..2025-06 (78)' for long runs."""
    if not periods:
        return "-"
    if len(periods) <= 3:
        return ", ".join(periods)
    return f"{periods[0]}..{periods[-1]} ({len(periods)})"
