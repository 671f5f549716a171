"""``customs-monitor backfill NAME --from YYYY-MM [--to YYYY-MM]``: load history politely.

The range is fetched in chunks through the connector's ``fetch_range`` (Comtrade, Census and
Eurostat have one; GACC and url sources are whatever their files hold). Each chunk is stored
silently (``evaluate=False``: history fires no alerts) together with the progress in the source
cursor, in the same transaction, so an interrupted backfill resumes after the last stored chunk
when the same command runs again. Requests keep the connector's rate limit. A terminal gets a
progress bar; otherwise (logs, CI) one plain line per chunk.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, TextIO

from monitor.clock import Clock, SystemClock
from monitor.errors import ConfigError, MonitorError, Problem
from monitor.model import month_to_period, normalize_period, period_to_month

log = logging.getLogger("monitor.backfill")

DEFAULT_CHUNK = 12


def register(subparsers: Any) -> None:
    """Register ``backfill NAME --from YYYY-MM [--to YYYY-MM] [--restart]``."""
    parser = subparsers.add_parser("backfill", help="load a source's history silently (resumable)")
    parser.add_argument("name", metavar="NAME", help="source name from the configuration")
    parser.add_argument("--from", dest="start", required=True, metavar="YYYY-MM")
    parser.add_argument(
        "--to",
        dest="end",
        metavar="YYYY-MM",
        help="last month (default: the previous calendar month)",
    )
    parser.add_argument(
        "--restart", action="store_true", help="ignore saved progress and start again at --from"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The ``backfill`` command: ``backfill`` on the configured store, closed afterwards."""
    from monitor.config import load_config
    from monitor.runtime import open_state

    config = load_config(args.config)
    store = open_state(config)
    try:
        return backfill(config, store, args.name, args.start, args.end, restart=args.restart)
    finally:
        store.close()


def _month(value: str, flag: str) -> str:
    try:
        return normalize_period(value)
    except ValueError:
        raise ConfigError(
            Problem("<command line>", 0, 0, f"{flag}: not a month (YYYY-MM): {value!r}")
        ) from None


def backfill(
    config: Any,
    store: Any,
    name: str,
    start: str,
    end: str | None,
    *,
    restart: bool = False,
    clock: Clock | None = None,
    session: Any = None,
    out: TextIO | None = None,
) -> int:
    """Store source ``name``'s history from ``start`` to ``end`` (default: the month before
    ``clock``'s) silently, in chunks of the source's ``BACKFILL_CHUNK_MONTHS`` (12), each chunk
    with its progress in the cursor; returns 0. The same range resumes after the last stored
    chunk unless ``restart``. A bad month or range, or a source without ``fetch_range``, is a
    ConfigError; a failed fetch says where to resume and is re-raised. Progress goes to ``out``
    (default stderr)."""
    from monitor.runtime import build_source

    clock = clock or SystemClock()
    out = out or sys.stderr
    start = _month(start, "--from")
    now = clock.now()
    end = _month(end, "--to") if end else month_to_period(now.year * 12 + now.month - 2)
    if period_to_month(end) < period_to_month(start):
        raise ConfigError(Problem("<command line>", 0, 0, f"--to {end} is before --from {start}"))
    state = store.source_state(name)
    source = build_source(config, name, clock=clock, cursor=state.cursor, session=session)
    if not hasattr(source, "fetch_range"):
        raise ConfigError(
            Problem(
                config.where,
                0,
                0,
                f"source {name!r} (type {source.type}) has no history to "
                "backfill: supported types are comtrade, census, eurostat",
            )
        )
    size = int(getattr(source, "BACKFILL_CHUNK_MONTHS", DEFAULT_CHUNK))
    first, last = period_to_month(start), period_to_month(end)
    progress = state.cursor.get("backfill") or {}
    resume_at = first
    if not restart and progress.get("from") == start and progress.get("to") == end:
        resume_at = period_to_month(progress["done"]) + 1
        if resume_at > last:
            print(f"{name}: backfill {start}..{end} already complete (--restart to redo)", file=out)
            return 0
        log.info("source %s: resuming backfill after %s", name, progress["done"])
    chunks = [(m, min(m + size - 1, last)) for m in range(resume_at, last + 1, size)]
    bar = _Progress(out, len(chunks), name)
    stored = 0
    try:
        for i, (a, b) in enumerate(chunks, start=1):
            lo, hi = month_to_period(a), month_to_period(b)
            try:
                result = source.fetch_range(lo, hi)
            except MonitorError:
                bar.finish()
                done = month_to_period(a - 1) if a > first else None
                print(
                    f"{name}: backfill stopped"
                    + (f" after {done}" if done else "")
                    + "; run the same command again to resume",
                    file=out,
                )
                raise
            cursor = {
                **store.source_state(name).cursor,
                "backfill": {"from": start, "to": end, "done": hi},
            }
            if len(result.observations):
                store.ingest(
                    name, result.observations, now=clock.now(), cursor=cursor, evaluate=False
                )
            else:
                store.record_poll(name, now=clock.now(), cursor=cursor)
            stored += len(result.observations)
            bar.step(i, f"{lo}..{hi}: {len(result.observations)} observations")
    finally:
        source.close()
    bar.finish()
    print(
        f"{name}: backfill {start}..{end} complete, {stored} observations stored silently", file=out
    )
    return 0


class _Progress:
    """A one-line bar on a terminal; plain log lines otherwise."""

    WIDTH = 30

    def __init__(self, out: TextIO, total: int, name: str) -> None:
        self.out, self.total, self.name = out, max(total, 1), name
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.drawn = False

    def step(self, done: int, what: str) -> None:
        if not self.tty:
            log.info("source %s: backfill chunk %d/%d %s", self.name, done, self.total, what)
            return
        filled = self.WIDTH * done // self.total
        self.out.write(
            f"\r{self.name} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
            f"{done}/{self.total} {what}\033[K"
        )
        self.out.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.drawn = False
