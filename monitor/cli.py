"""The command line: parse arguments, call one function, map errors to exit codes.

Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage. Every subcommand lives in its
own module under ``monitor/commands/`` exposing ``register(subparsers)``; the handler it sets as
``func`` takes the parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from typing import NoReturn

from monitor import __version__, commands
from monitor.errors import ConfigError, MonitorError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 with a one-line hint
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _global_options(parser: argparse.ArgumentParser, *, default: object = None) -> None:
    parser.add_argument(
        "--config",
        "-c",
        metavar="PATH",
        default=default,
        help="monitor.yaml (default: $CUSTOMS_MONITOR_CONFIG, else the embedded default)",
    )
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default="INFO" if default is None else default,
    )


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:  # argparse keeps subcommands here (no public accessor)
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to one parser
                found += [child, *_subparsers(child)]
    return found


def build_parser() -> argparse.ArgumentParser:
    """The ``customs-monitor`` parser: each ``monitor.commands`` module with a ``register`` adds
    its subcommand, and every subcommand also takes the global options after its name."""
    parser = _Parser(
        prog="customs-monitor", description="Alerting monitor for official trade statistics."
    )
    parser.add_argument("--version", action="version", version=f"customs-monitor {__version__}")
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"monitor.commands.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    # `customs-monitor run --config monitor.yaml` as well as `customs-monitor --config ... run`:
    # every subcommand accepts the global options too; SUPPRESS keeps a value given before the
    # subcommand when none is given after it.
    for child in _subparsers(parser):
        _global_options(child, default=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command line (default ``sys.argv[1:]``) and return its exit code: no subcommand
    prints the help (2), a ``ConfigError`` its problems (2), a ``MonitorError`` its message
    (its ``exit_code``), Ctrl-C 130; argparse exits 2 itself on a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # urllib3 logs every request line at DEBUG, webhook paths and API keys included.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLogger().level))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
        return 2
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `customs-monitor render ... | head`
        sys.stderr.close()
        return 0
