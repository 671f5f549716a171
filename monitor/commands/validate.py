"""customs-monitor validate [PATHS]: the config and every rule pack, every problem at once."""

from __future__ import annotations

import argparse
import sys

from monitor.errors import ConfigError, Problem


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check the config and rule packs",
        description="Check monitor.yaml and rule packs; print every problem as "
        "path:line:column: message; exit 2 if there is any.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="rule pack files or folders (default: the config's rules)",
    )
    p.set_defaults(func=_run)


def collect_problems(config_path: str | None, paths: list[str]) -> tuple[list[Problem], str]:
    from monitor.config import load_config
    from monitor.engine import validate_rules

    problems: list[Problem] = []
    config = None
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if config is not None:
        from monitor.config_checks import check_state_driver

        problems.extend(check_state_driver(config))
    rule_paths = paths or (config.rules if config else [])
    rule_problems = validate_rules(rule_paths)
    problems.extend(rule_problems)
    if config is not None and not rule_problems:
        from monitor.engine import load_rules
        from monitor.render.checks import check_templates

        problems.extend(check_templates(config, load_rules(rule_paths)))
    checked = f"config {config.where if config else config_path}, rules in " + ", ".join(
        rule_paths or ["(none)"]
    )
    return sorted(set(problems)), checked


def _run(args: argparse.Namespace) -> int:
    problems, checked = collect_problems(args.config, args.paths)
    if problems:
        raise ConfigError(problems)
    print(f"ok: {checked}", file=sys.stdout)
    return 0
