"""``customs-monitor render``: preview exactly what a rule would send for a month.

Evaluates one rule on the data (``--data FILE`` or the state store), routes and renders the
alerts with the configured channels and templates as the daemon would, prints each message and
writes it as a file (``.json`` payload / ``.eml``). Nothing is sent and nothing is stored.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.errors import ConfigError, Problem

if TYPE_CHECKING:
    import pandas as pd

    from monitor.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``render --rule ID --period YYYY-MM`` (a preview: nothing sent or stored)."""
    p = sub.add_parser(
        "render",
        help="preview the messages a rule would send for a month",
        description="Evaluate one rule for one month and print/write exactly what each channel "
        "would send (Slack JSON, .eml), without sending anything.",
    )
    p.add_argument("--rule", required=True, metavar="ID", help="rule id")
    p.add_argument("--period", required=True, metavar="YYYY-MM", help="month to evaluate")
    p.add_argument(
        "--channel",
        metavar="NAME",
        action="append",
        help="only this channel (repeatable; default: every routed channel)",
    )
    p.add_argument(
        "--data",
        metavar="FILE",
        help="observations (CSV/Parquet, canonical layout); default: the state store",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default="render-preview",
        help="folder for the rendered files (default: ./render-preview); files of an earlier "
        "preview there are replaced, nothing else is",
    )
    p.set_defaults(func=_run)


def _observations(args: argparse.Namespace, config: Config) -> pd.DataFrame:
    if args.data:
        from monitor.commands.backtest import read_observations

        return read_observations(args.data)
    from monitor.runtime import open_state

    store = open_state(config)
    try:
        frame = store.observations()
    finally:
        store.close()
    if frame.empty:
        raise ConfigError(
            f"the state store {config.state.split('://')[0]}://... holds no data "
            "yet: poll first (customs-monitor run --once) or pass --data FILE"
        )
    return frame


def _run(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from monitor.config_checks import did_you_mean
    from monitor.engine import RuleSet, evaluate
    from monitor.model import normalize_period
    from monitor.notify.base import Notice
    from monitor.notify.dispatch import plan
    from monitor.notify.preview import slack_problems, terminal_view, write_files
    from monitor.render.history import attach_history
    from monitor.runtime import build_channels, load_rules, template_env

    try:
        period = normalize_period(args.period)
    except ValueError:
        raise ConfigError(f"--period {args.period!r}: expected a month as YYYY-MM") from None
    config = load_config(args.config)
    rules = load_rules(config)
    try:
        rule = rules.by_id(args.rule)
    except KeyError:
        ids = [r.id for r in rules]
        raise ConfigError(
            Problem(
                config.where,
                0,
                0,
                f"unknown rule {args.rule!r}"
                f"{did_you_mean(args.rule, ids)} (known: {', '.join(ids)})",
            )
        ) from None
    channels = build_channels(config, template_env(config))
    for name in args.channel or []:
        if name not in channels:
            raise ConfigError(
                f"--channel {name!r}: no such channel"
                f"{did_you_mean(name, channels)} (configured: "
                f"{', '.join(sorted(channels)) or 'none'})"
            )
    observations = _observations(args, config)
    alerts = evaluate(observations, RuleSet([rule]), [period])
    if not alerts:
        fired = sorted({a.period for a in evaluate(observations, RuleSet([rule]))})
        hint = f"; it fires for {', '.join(fired[-6:])}" if fired else "; it never fires here"
        print(
            f"rule {rule.id!r} does not fire for {period}: nothing would be sent{hint}",
            file=sys.stderr,
        )
        return 0
    notices = attach_history([Notice(a) for a in alerts], observations)
    now = datetime.now(UTC)
    result = plan(
        notices,
        release=None,
        source=Path(args.data).name if args.data else (alerts[0].source or "preview"),
        source_url=None,
        routes=config.routes,
        channels=channels,
        silences=None,
        now=now,
    )
    wanted = set(args.channel or channels)
    out = Path(args.out)
    shown = 0
    for entry in result.messages:
        if entry.channel not in wanted:
            continue
        from monitor.notify.base import RenderedMessage

        message = RenderedMessage.from_json(entry.message)
        stem = f"{rule.id}-{period}-{entry.channel}"
        files = write_files(channels[entry.channel], message, out, stem)
        print(
            f"{'=' * 72}\n{entry.channel} ({channels[entry.channel].type}): "
            f"{', '.join(str(f) for f in files)}\n{'=' * 72}"
        )
        print(terminal_view(message))
        for problem in slack_problems(message):
            print(
                f"warning: {entry.channel}: Slack would refuse this message: {problem}",
                file=sys.stderr,
            )
        shown += 1
    if result.unrouted:
        print(
            f"note: {len(result.unrouted)} alert(s) match no route and would not be sent",
            file=sys.stderr,
        )
    if not shown:
        print(
            "no configured route sends this rule's alerts to the chosen channel(s)", file=sys.stderr
        )
    return 0
