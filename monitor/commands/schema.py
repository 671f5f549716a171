"""customs-monitor schema: JSON Schema of the rule pack and config formats (for editors)."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``schema``, which prints the rule pack and config JSON Schemas."""
    p = sub.add_parser(
        "schema",
        help="print JSON Schemas for editor completion",
        description='Print {"rule_pack": <JSON Schema>, "config": <JSON Schema>}.',
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from monitor.engine.schema import rule_pack_schema

    try:
        from monitor.config import config_json_schema
    except ImportError:  # the config module may not offer a schema yet
        config = None
    else:
        config = config_json_schema()
    json.dump({"rule_pack": rule_pack_schema(), "config": config}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
