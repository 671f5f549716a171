"""customs-monitor run [--once]."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``run [--once]``: the daemon, or one cycle over every source."""
    p = sub.add_parser(
        "run",
        help="run the daemon",
        description="Run the monitor daemon (APScheduler) until stopped.",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="run one poll-evaluate-notify cycle over every source and exit (1 if a source "
        "failed, input was rejected or a release failed to evaluate)",
    )
    p.set_defaults(func=_run)


def cycle_failures(
    polls: Sequence[Any], evaluations: Sequence[Any], pass_error: str | None
) -> list[str]:
    """Everything that went wrong in one cycle, one line each (empty: the cycle was clean)."""
    from monitor.daemon.runner import evaluation_error, rejected_rows

    failures = []
    for poll in polls:
        if not poll.ok:
            failures.append(f"source {poll.source!r} failed: {poll.error}")
        if rejected_rows(poll):
            failures.append(
                f"source {poll.source!r} rejected {rejected_rows(poll)} row(s) "
                "(bad_rows: skip; the log lists them)"
            )
    for evaluation in evaluations:
        error = evaluation_error(evaluation)
        if error:
            release = evaluation.release
            failures.append(
                f"release {release.id} of {release.source!r} failed to evaluate: {error}"
            )
    if pass_error is not None:
        failures.append(f"evaluating pending releases failed: {pass_error}")
    return list(dict.fromkeys(failures))  # a release retried in the same cycle: said once


def _run(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from monitor.daemon.runner import evaluation_error
    from monitor.daemon.service import Service, run_daemon
    from monitor.web.server import start_console

    config = load_config(args.config)
    service = Service(
        config, config_path=config.path, exit_at_deadline=True, start_console=start_console
    )
    try:
        if args.once:
            failed_passes = service.stats.evaluation_pass_failures
            polls, evaluations, sent = service.run_once()
            pass_error = (
                service.last_evaluation_failure
                if service.stats.evaluation_pass_failures > failed_passes
                else None
            )
            failures = cycle_failures(polls, evaluations, pass_error)
            alerts = sum(e.new + e.revised + e.resolved for e in evaluations)
            print(
                f"polled {len(polls)} source(s) ({sum(not p.ok for p in polls)} failed), "
                f"{len(evaluations)} release(s) evaluated "
                f"({sum(1 for e in evaluations if evaluation_error(e))} failed), "
                f"{alerts} alert notice(s), {sent} message(s) sent"
            )
            for failure in failures:
                print(f"error: {failure}", file=sys.stderr)
            return 1 if failures else 0
        run_daemon(service)
        return 0
    finally:
        service.close()
