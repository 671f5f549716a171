"""``customs-monitor send-test --channel NAME``: send a clearly marked test message now.

The message is marked [TEST] in its title and body and carries a real sample alert (China's
magnet exports to Germany, July 2025, from the bundled data) so the layout can be checked. It is
sent directly, not through the outbox, and the result is printed: a failure says whether
retrying could help (e.g. a 404 webhook will not).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from monitor.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``send-test --channel NAME`` (repeatable)."""
    p = sub.add_parser(
        "send-test",
        help="send a clearly marked test message to a channel",
        description="Send a [TEST] message through one configured channel.",
    )
    p.add_argument(
        "--channel",
        required=True,
        metavar="NAME",
        action="append",
        help="channel name (repeatable)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from monitor.config_checks import did_you_mean
    from monitor.errors import DeliveryError
    from monitor.notify.dispatch import RoutedDigest
    from monitor.notify.preview import sample_notice
    from monitor.runtime import build_channels, template_env

    config = load_config(args.config)
    channels = build_channels(config, template_env(config))
    for name in args.channel:
        if name not in channels:
            raise ConfigError(
                f"--channel {name!r}: no such channel"
                f"{did_you_mean(name, channels)} (configured: "
                f"{', '.join(sorted(channels)) or 'none'})"
            )
    today = datetime.now(UTC).date().isoformat()
    digest = RoutedDigest(
        source="customs-monitor",
        release_id=None,
        release_date=today,
        route="send-test",
        notices=(sample_notice(),),
        test=True,
    )
    failures = 0
    for name in args.channel:
        channel = channels[name]
        try:
            channel.send(channel.render(digest))
        except DeliveryError as exc:
            failures += 1
            hint = (
                "permanent: fix the channel's configuration"
                if exc.permanent
                else "temporary: the daemon would retry"
            )
            print(f"FAILED {exc} ({hint})")
            continue
        finally:
            channel.close()
        print(f"sent a test message through {name!r} ({channel.type})")
    return 1 if failures else 0
