"""customs-monitor test FILES: run rule unit tests (see monitor/engine/ruletest.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``test [FILE...]``, the rule unit tests (exit 1 when one fails)."""
    p = sub.add_parser(
        "test",
        help="run rule unit tests",
        description="Run rule unit tests: input series and the alerts expected at given "
        "periods; print what differs. Exit 1 if any test fails.",
    )
    p.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="test files or folders (default: the bundled rules/tests/)",
    )
    p.set_defaults(func=_run)


def _files(paths: list[str]) -> list[str]:
    out: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(str(f) for f in sorted(p.glob("*.y*ml")))
        else:
            out.append(raw)
    return out


def _run(args: argparse.Namespace) -> int:
    from monitor.engine.ruletest import run_file
    from monitor.resources import bundled_path

    files = _files(args.files or [str(bundled_path("rules") / "tests")])
    failed = total = 0
    for f in files:
        for outcome in run_file(f):
            total += 1
            if outcome.failures:
                failed += 1
                print(f"FAIL {f}: {outcome.name}")
                for line in outcome.failures:
                    print(f"  {line}")
            else:
                print(f"ok   {f}: {outcome.name}")
    print(f"{total - failed} passed, {failed} failed", file=sys.stderr)
    return 1 if failed else 0
