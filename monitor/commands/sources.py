"""``customs-monitor sources check NAME``: fetch a source once and show what it would ingest.

Nothing is stored and nothing is moved (a GACC drop folder is left as it is): it is the way to
try a new source's options, key or drop folder before the daemon polls it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import pandas as pd

from monitor.clock import SystemClock


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sources", help="inspect configured sources")
    sub = parser.add_subparsers(
        dest="sources_command", metavar="SUBCOMMAND", parser_class=type(parser)
    )
    check = sub.add_parser(
        "check", help="fetch once and show what would be ingested (stores nothing)"
    )
    check.add_argument("name", metavar="NAME", help="source name from the configuration")
    check.add_argument(
        "--format",
        choices=["table", "jsonl"],
        default="table",
        help="table (default) or one canonical observation per line",
    )
    check.set_defaults(func=run_check)
    listing = sub.add_parser("list", help="list the configured sources and their types")
    listing.set_defaults(func=run_list)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def run_list(args: argparse.Namespace) -> int:
    from monitor.config import load_config

    config = load_config(args.config)
    for name, options in sorted(config.sources.items()):
        print(f"{name}\t{options.get('type')}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from monitor.runtime import build_source

    config = load_config(args.config)
    source = build_source(config, args.name, clock=SystemClock())
    if hasattr(source, "dry_run"):
        source.dry_run = True  # read the drop folder, move nothing
    try:
        result = source.fetch()
    finally:
        source.close()
    write_observations(result.observations, args.format, sys.stdout)
    print(
        f"{args.name}: {result.description or 'fetched'}; {len(result.observations)} "
        f"observation(s) would be ingested{' (unchanged)' if result.unchanged else ''}",
        file=sys.stderr,
    )
    return 0


def write_observations(frame: pd.DataFrame, fmt: str, out: Any) -> None:
    if fmt == "jsonl":
        for record in frame.to_dict(orient="records"):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    if frame.empty:
        out.write("(no observations)\n")
        return
    with pd.option_context(
        "display.max_rows", None, "display.width", 200, "display.float_format", "{:,.2f}".format
    ):
        out.write(frame.to_string(index=False) + "\n")
