"""customs-monitor validate [PATHS]: the config and every rule pack, every problem at once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from monitor.errors import ConfigError, Problem


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``validate [PATH...]`` (exit 2 with every problem found)."""
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
    """Every problem of the config, the rule packs and the templates, in one run: each stage
    checks what the others could read, however broken they are."""
    from monitor.config import read_config
    from monitor.config_checks import check_state_driver
    from monitor.engine import validate_rules
    from monitor.engine.cluster.connect import check_engine_options
    from monitor.render.checks import check_templates
    from monitor.web.options import check_web_options

    config, problems = read_config(config_path)
    if config is not None:
        problems += check_state_driver(config)
        problems += check_web_options(config)
        problems += check_engine_options(config)
    rule_paths = paths or (config.rules if config else [])
    problems += validate_rules(rule_paths)
    if config is not None:
        problems += check_templates(config, _loadable_rules(rule_paths))
    checked = f"config {config.where if config else config_path}, rules in " + ", ".join(
        rule_paths or ["(none)"]
    )
    return sorted(set(problems)), checked


def _loadable_rules(paths: list[str]) -> list[Any]:
    """The rules of every pack that loads (the others' problems are already listed), so the
    templates they name are checked in the same run."""
    from monitor.engine import load_rules
    from monitor.engine.rules import pack_files

    rules: list[Any] = []
    for path in pack_files(paths)[0]:
        try:
            rules.extend(load_rules([str(path)]))
        except ConfigError:
            continue
    return rules


def _run(args: argparse.Namespace) -> int:
    problems, checked = collect_problems(args.config, args.paths)
    if problems:
        raise ConfigError(problems)
    print(f"ok: {checked}", file=sys.stdout)
    return 0
