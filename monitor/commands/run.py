"""customs-monitor run [--once]."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the daemon",
        description="Run the monitor daemon (APScheduler) until stopped.",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="run one poll-evaluate-notify cycle over every source and exit",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from monitor.daemon.runner import Daemon

    config = load_config(args.config)
    daemon = Daemon(config)
    try:
        if args.once:
            polls, evaluations, sent = daemon.run_once()
            failed = [p for p in polls if not p.ok]
            alerts = sum(e.new + e.revised + e.resolved for e in evaluations)
            print(
                f"polled {len(polls)} source(s) ({len(failed)} failed), "
                f"{len(evaluations)} release(s) evaluated, {alerts} alert notice(s), "
                f"{sent} message(s) sent"
            )
            return 1 if failed else 0
        daemon.run()
        return 0
    finally:
        daemon.close()
