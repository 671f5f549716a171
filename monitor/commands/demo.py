"""customs-monitor demo."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``demo [--out DIR] [--tick SECONDS]`` (``monitor.demo.run_demo``)."""
    p = sub.add_parser(
        "demo",
        help="replay the bundled real data through the real daemon",
        description="Run the daemon on an accelerated clock over the bundled "
        "dataset (China's rare-earth magnet exports), print every "
        "alert as Slack and email would show it, and stop.",
    )
    p.add_argument(
        "--out",
        default="customs-monitor-demo",
        help="folder for the state store and rendered messages: a new or empty folder, or one an "
        "earlier demo made (only what that demo wrote is deleted)",
    )
    p.add_argument("--tick", type=float, default=0.05, help="seconds of real time per month")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import logging

    from monitor.demo import run_demo

    if args.log_level == "INFO":  # the demo's output is the messages, not the log
        logging.getLogger().setLevel(logging.WARNING)
    run_demo(args.out, tick=args.tick)
    return 0
