"""customs-monitor backtest: run rule packs over history, as if each month was just released."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from monitor.errors import ConfigError, MonitorError, Problem
from monitor.model import (
    COLUMNS,
    OBSERVATION_KEY,
    Alert,
    RejectedRow,
    normalize_period,
)
from monitor.render.text import alert_text

if TYPE_CHECKING:
    from monitor.engine.evaluate import AlertTable
    from monitor.engine.rules import RuleSet

FORMATS = ("jsonl", "table", "summary")


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``backtest --data FILE``, run here or on Dask (``--cluster``, ``--workers``)."""
    p = sub.add_parser(
        "backtest",
        help="run rules over historical data",
        description="Evaluate rule packs for every period in range as if it had just been "
        "released (using only data up to it); print the alerts that would have fired.",
    )
    p.add_argument(
        "--rules",
        nargs="+",
        metavar="PATH",
        help="rule pack files or folders (default: the bundled rules/)",
    )
    p.add_argument("--data", required=True, metavar="FILE", help="CSV or Parquet, canonical layout")
    p.add_argument("--from", dest="start", metavar="YYYY-MM", help="first period to evaluate")
    p.add_argument("--to", dest="end", metavar="YYYY-MM", help="last period to evaluate")
    p.add_argument("--format", choices=FORMATS, default="jsonl")
    p.add_argument("--report", metavar="FILE.html", help="also write an HTML report")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="evaluate on the Dask scheduler at ADDRESS (tcp://host:8786; the dask extra)",
    )
    where.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="evaluate on a local Dask cluster of N worker processes (the dask extra)",
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up on a --cluster scheduler that does not answer within this (default 30)",
    )
    p.add_argument(
        "--partition-rows",
        type=_positive,
        metavar="N",
        help="observations per partition on a cluster (default 2,000,000)",
    )
    p.add_argument(
        "--scratch",
        metavar="DIR",
        help="folder for the partitions' pieces, readable by every worker (default: temp)",
    )
    p.set_defaults(func=_run)


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return n


def read_frame(path: str) -> pd.DataFrame:
    """A canonical CSV or Parquet file, read in chunks into one frame with categorical text
    columns (a few bytes per row); a bad file or row becomes a located ConfigError."""
    from monitor.errors import SourceError
    from monitor.sources.file import CanonicalFile

    file = Path(path)
    if not file.is_file():
        raise ConfigError(Problem(path, 0, 0, "no such data file"))
    reader = CanonicalFile(file, what="data file", fallback_source=file.stem)
    try:
        result = reader.whole()
    except SourceError as exc:
        raise ConfigError(Problem(path, 0, 0, exc.message)) from None
    if result.rejected:
        raise ConfigError(
            [
                Problem(path, reader.row_number(r.row), 0, f"column {r.column}: {r.reason}")
                for r in result.rejected[:10]
            ]
        )
    frame = result.frame
    return frame


def read_observations(path: str) -> pd.DataFrame:
    """A canonical file as text columns sorted by key (small files: ``render --data``)."""
    frame = read_frame(path)
    frame = frame.astype({c: "str" for c in COLUMNS if c != "value"})
    twice = frame.duplicated([*OBSERVATION_KEY, "source"], keep=False)
    if twice.any():
        first = frame[twice].iloc[0]
        where = ", ".join(f"{k}={first[k]}" for k in OBSERVATION_KEY)
        raise ConfigError(Problem(path, 0, 0, f"duplicate observation for {where}"))
    return frame.sort_values(OBSERVATION_KEY, kind="stable").reset_index(drop=True)


def file_chunks(path: str) -> Callable[[], Iterator[pd.DataFrame]]:
    """A canonical file as normalized chunks (read again at each call, bounded memory); bad
    rows become a located ConfigError as ``read_frame`` gives, after the first pass."""
    from monitor.errors import SourceError
    from monitor.sources.file import CanonicalFile

    file = Path(path)
    if not file.is_file():
        raise ConfigError(Problem(path, 0, 0, "no such data file"))
    reader = CanonicalFile(file, what="data file", fallback_source=file.stem)

    def chunks() -> Iterator[pd.DataFrame]:
        rejected: list[RejectedRow] = []
        try:
            for part in reader.chunks():
                rejected += part.rejected[: 10 - len(rejected)]
                yield part.frame
        except SourceError as exc:
            raise ConfigError(Problem(path, 0, 0, exc.message)) from None
        if rejected:
            raise ConfigError(
                [
                    Problem(path, reader.row_number(r.row), 0, f"column {r.column}: {r.reason}")
                    for r in rejected
                ]
            )

    return chunks


def _on_cluster(
    args: argparse.Namespace, rules: RuleSet, start: str | None, end: str | None
) -> tuple[AlertTable | None, list[str]]:
    """The backtest's alert table from a Dask cluster (None when no period is in range) and
    the periods evaluated: the data file split into pieces the workers read."""
    from monitor.engine.cluster import (
        PARTITION_ROWS,
        PartitionKey,
        cluster_client,
        evaluate_pieces,
        split,
    )

    chunks = file_chunks(args.data)
    with cluster_client(args.cluster, args.workers, timeout=args.connect_timeout) as client:
        started = time.perf_counter()
        pieces = split(
            chunks, PartitionKey.of(rules), args.partition_rows or PARTITION_ROWS, args.scratch
        )
        print(
            f"{pieces.rows:,} observations split into {len(pieces.pieces)} partitions "
            f"in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        try:
            periods = [
                p for p in pieces.periods if (not start or p >= start) and (not end or p <= end)
            ]
            if not periods:
                return None, periods
            table = evaluate_pieces(client, pieces, rules, periods, progress=sys.stderr)
        finally:
            pieces.remove()
    return table, periods


def _period_arg(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    try:
        return normalize_period(value)
    except ValueError:
        raise ConfigError(f"{flag} {value!r}: expected a month as YYYY-MM") from None


def _table(alerts: list[Alert], *, header: bool = True) -> str:
    """One line per alert: its figures in the rule's units, as the messages word them."""
    lines = [f"{'period':8} {'rule':32} {'series':40} {'value':>14}  why"] if header else []
    for a in alerts:
        text = alert_text(a)
        series = f"{a.reporter}>{a.partner} {a.commodity} {a.flow} {a.measure}"
        lines.append(f"{a.period:8} {a.rule_id:32} {series:40} {text.value or '':>14}  {text.why}")
    return "\n".join(lines)


def _jsonl(alert: Alert) -> str:
    """An alert as a JSON line, its summary rendered (never the template) and its why."""
    text = alert_text(alert)
    record = {**alert.to_dict(), "summary": text.summary, "why": text.why}
    return json.dumps(record, ensure_ascii=False, allow_nan=False, default=_plain) + "\n"


def _plain(value: object) -> object:
    return None if isinstance(value, float) else str(value)


def _run(args: argparse.Namespace) -> int:
    from monitor.engine import load_rules
    from monitor.engine.evaluate import evaluate_table
    from monitor.engine.panel import DuplicateObservation
    from monitor.resources import bundled_path

    start, end = _period_arg(args.start, "--from"), _period_arg(args.end, "--to")
    if start and end and start > end:
        raise ConfigError(f"--from {start} is after --to {end}")
    rules = load_rules(args.rules or [str(bundled_path("rules"))])
    observations: pd.DataFrame | None = None
    try:
        if args.cluster or args.workers:
            table, periods = _on_cluster(args, rules, start, end)
        else:
            observations = read_frame(args.data)
            present = sorted(str(p) for p in pd.unique(observations["period"]))
            periods = [p for p in present if (not start or p >= start) and (not end or p <= end)]
            table = evaluate_table(observations, rules, periods) if periods else None
    except DuplicateObservation as exc:
        raise ConfigError(Problem(args.data, 0, 0, str(exc))) from None
    out = sys.stdout
    if args.format == "summary" or table is None:
        counts = table.counts() if table is not None else {}
        for rule in rules:
            out.write(f"{rule.id}\t{counts.get(rule.id, 0)}\n")
        out.write(f"total\t{sum(counts.values())}\t({len(periods)} periods)\n")
    elif args.format == "jsonl":
        for batch in table.batches():
            out.write("".join(_jsonl(a) for a in batch))
    else:
        for i, batch in enumerate(table.batches()):
            out.write(_table(batch, header=i == 0) + "\n")
    if args.report:
        try:
            from monitor.render.report import write_report
        except ImportError as exc:
            raise MonitorError(f"--report needs the HTML report module ({exc})") from None
        alerts = table.alerts() if table is not None else []
        if observations is None:
            observations = read_frame(args.data)
        text = observations.astype({c: "str" for c in COLUMNS if c != "value"})
        write_report(args.report, alerts, text)
        print(f"report written to {args.report}", file=sys.stderr)
    return 0
