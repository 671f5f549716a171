"""``customs-monitor sources check NAME``: fetch a source once and show what it would ingest.

Nothing is stored and nothing is moved (a GACC drop folder is left as it is): it is the way to
try a new source's options, key or drop folder before the daemon polls it. It ends with a
summary: rows, periods, commodities, partners, measures with their units, and what was read
but not ingested, with the reason. ``--commodity`` and ``--partner`` narrow what is shown;
``--format jsonl`` prints every row (the summary then goes to standard error).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import pandas as pd

from monitor.clock import SystemClock


def register(subparsers: Any) -> None:
    """Register ``sources check NAME`` and ``sources list``; bare ``sources`` prints help (2)."""
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
        help="table (default, the first --limit rows) or every canonical observation, one a line",
    )
    check.add_argument(
        "--commodity",
        action="append",
        metavar="CODE",
        help="only commodities starting with CODE (repeat or comma-separate for several)",
    )
    check.add_argument(
        "--partner",
        action="append",
        metavar="ISO2",
        help="only these partners (ISO alpha-2 or WORLD; repeat or comma-separate)",
    )
    check.add_argument(
        "--limit",
        type=int,
        default=20,
        metavar="N",
        help="rows shown in the table (default 20; 0 = all, as in alerts list; jsonl prints all)",
    )
    check.set_defaults(func=run_check)
    listing = sub.add_parser("list", help="list the configured sources and their types")
    listing.set_defaults(func=run_list)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def run_list(args: argparse.Namespace) -> int:
    """Print each configured source as ``name<TAB>type``, sorted by name."""
    from monitor.config import load_config

    config = load_config(args.config)
    for name, options in sorted(config.sources.items()):
        print(f"{name}\t{options.type}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Fetch source ``args.name`` once (a drop folder in dry run: nothing moved), print the rows
    and the summary; nothing is stored."""
    from monitor.config import load_config
    from monitor.runtime import build_source

    config = load_config(args.config)
    source = build_source(config, args.name, clock=SystemClock())
    if hasattr(source, "dry_run"):
        source.dry_run = True  # read the drop folder, move nothing
    try:
        result = source.fetch()
        fetched = result.frame()  # a streamed file is read here, whole
    finally:
        source.close()
    if result.stream is not None and result.stream.rejected_rows:
        reason = "bad rows skipped (bad_rows: skip): " + "; ".join(result.stream.rejected[:3])
        result.rejected[reason] = result.stream.rejected_rows
    shown = select(fetched, _values(args.commodity), _values(args.partner))
    summary_out = sys.stderr if args.format == "jsonl" else sys.stdout
    write_observations(shown, args.format, sys.stdout, limit=args.limit)
    filters = _describe_filters(_values(args.commodity), _values(args.partner))
    print(
        f"{args.name}: {result.description or 'fetched'}"
        + (" (unchanged: nothing new since the last poll)" if result.unchanged else ""),
        file=summary_out,
    )
    for line in summarize(shown, total=len(fetched), filters=filters, rejected=result.rejected):
        print(line, file=summary_out)
    return 0


def _values(given: list[str] | None) -> list[str]:
    return [v.strip() for item in given or [] for v in item.split(",") if v.strip()]


def _describe_filters(commodities: list[str], partners: list[str]) -> str:
    parts = []
    if commodities:
        parts.append("commodity " + ", ".join(f"{c}*" for c in commodities))
    if partners:
        parts.append("partner " + ", ".join(partners))
    return "; ".join(parts)


def select(frame: pd.DataFrame, commodities: list[str], partners: list[str]) -> pd.DataFrame:
    """Rows whose commodity starts with one of ``commodities`` and partner is in ``partners``."""
    keep = pd.Series(True, index=frame.index)
    if commodities and not frame.empty:
        keep &= frame["commodity"].str.startswith(tuple(commodities))
    if partners and not frame.empty:
        keep &= frame["partner"].str.upper().isin([p.upper() for p in partners])
    return frame[keep]


def _listing(values: pd.Series, most: int = 8) -> str:
    unique = sorted(set(values))
    shown = ", ".join(unique[:most]) + (
        f", ... ({len(unique) - most} more)" if len(unique) > most else ""
    )
    return f"{len(unique):,} ({shown})" if unique else "0"


def summarize(
    frame: pd.DataFrame, *, total: int, filters: str = "", rejected: dict[str, int] | None = None
) -> list[str]:
    """The closing summary of `sources check`, one line per fact."""
    rows = f"{len(frame):,}"
    if filters:
        rows += f" of {total:,} fetched (filters: {filters})"
    lines = [f"  rows         {rows}"]
    if not frame.empty:
        periods = sorted(set(frame["period"]))
        lines.append(f"  periods      {periods[0]} .. {periods[-1]} ({len(periods)})")
        lines.append(f"  commodities  {_listing(frame['commodity'])}")
        lines.append(f"  partners     {_listing(frame['partner'])}")
        lines.append("  measures")
        for measure, group in frame.groupby("measure", sort=True):
            units = ", ".join(sorted(set(group["unit"])))
            lines.append(f"    {measure:<28} {len(group):>9,} rows  unit {units}")
    if rejected:
        lines.append("  not ingested")
        for reason, count in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"    {count:>9,}  {reason}")
    else:
        lines.append("  not ingested none")
    return lines


def write_observations(
    frame: pd.DataFrame, fmt: str, out: Any, *, limit: int | None = None
) -> None:
    """Write ``frame`` to ``out``: every row as a JSON line for ``jsonl``, else a table of the first
    ``limit`` rows (all when None, 0 or negative) and how many more there are."""
    if fmt == "jsonl":
        for record in frame.to_dict(orient="records"):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    if frame.empty:
        out.write("(no observations)\n")
        return
    head = frame if limit is None or limit <= 0 else frame.head(limit)
    with pd.option_context(
        "display.max_rows", None, "display.width", 200, "display.float_format", "{:,.2f}".format
    ):
        out.write(head.to_string(index=False) + "\n")
    if len(head) < len(frame):
        out.write(f"... {len(frame) - len(head):,} more row(s): --format jsonl prints them all\n")
