"""customs-monitor backtest: run rule packs over history, as if each month was just released."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

from monitor.errors import ConfigError, MonitorError, Problem
from monitor.model import normalize, normalize_period

FORMATS = ("jsonl", "table", "summary")


def register(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=_run)


def read_observations(path: str) -> pd.DataFrame:
    """A CSV or Parquet file in the canonical layout; bad files become located ConfigErrors."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(Problem(path, 0, 0, "no such data file"))
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(file)
            frame = frame.astype({c: "str" for c in frame.columns if c != "value"})
        else:
            frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(Problem(path, 0, 0, f"cannot read data: {exc}")) from None
    try:
        return normalize(frame)
    except ValueError as exc:
        raise ConfigError(Problem(path, 0, 0, f"not in the canonical layout: {exc}")) from None


def _period_arg(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    try:
        return normalize_period(value)
    except ValueError:
        raise ConfigError(f"{flag} {value!r}: expected a month as YYYY-MM") from None


def _table(alerts: list) -> str:
    lines = [f"{'period':8} {'rule':32} {'series':40} {'value':>16}  why"]
    for a in alerts:
        series = f"{a.reporter}>{a.partner} {a.commodity} {a.flow} {a.measure}"
        c = a.context
        why = ", ".join(
            f"{k}={c[k]:.4g}" if isinstance(c[k], float) else f"{k}={c[k]}"
            for k in (
                "pct",
                "shift_points",
                "prior_max",
                "prior_min",
                "months_known",
                "z",
                "share",
                "streak_length",
            )
            if c.get(k) is not None
        )
        lines.append(f"{a.period:8} {a.rule_id:32} {series:40} {a.value:>16,.0f}  {why}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from monitor.engine import evaluate, load_rules
    from monitor.resources import bundled_path

    start, end = _period_arg(args.start, "--from"), _period_arg(args.end, "--to")
    if start and end and start > end:
        raise ConfigError(f"--from {start} is after --to {end}")
    rules = load_rules(args.rules or [str(bundled_path("rules"))])
    observations = read_observations(args.data)
    present = sorted(observations["period"].unique())
    periods = [p for p in present if (not start or p >= start) and (not end or p <= end)]
    alerts = evaluate(observations, rules, periods) if periods else []
    out = sys.stdout
    if args.format == "jsonl":
        for a in alerts:
            out.write(json.dumps(a.to_dict(), ensure_ascii=False, allow_nan=False) + "\n")
    elif args.format == "table":
        out.write(_table(alerts) + "\n")
    else:
        counts = Counter(a.rule_id for a in alerts)
        for rule in rules:
            out.write(f"{rule.id}\t{counts.get(rule.id, 0)}\n")
        out.write(f"total\t{len(alerts)}\t({len(periods)} periods)\n")
    if args.report:
        try:
            from monitor.render.report import write_report
        except ImportError as exc:
            raise MonitorError(f"--report needs the HTML report module ({exc})") from None
        write_report(args.report, alerts, observations)
        print(f"report written to {args.report}", file=sys.stderr)
    return 0
