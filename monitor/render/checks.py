"""Template checks for ``customs-monitor validate``: catch template mistakes before an alert.

- every ``.j2`` file of the override folder parses, and the message templates use only the
  variables the renderer provides (a typo would otherwise fail at the first real alert);
- every template *variant* named by a route, a channel or a rule exists as a folder.

Rule ``summary`` strings are checked by the engine's rule validation (it knows each
condition's context keys).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from monitor.errors import Problem
from monitor.render.env import TemplateEnv
from monitor.resources import bundled_path

# What each message template sees (monitor.render.view.digest_view, plus the loop item ``n``).
DIGEST_NAMES = {
    "channel",
    "variant",
    "source",
    "source_url",
    "release_id",
    "release_date",
    "route",
    "test",
    "kind",
    "count",
    "notices",
    "more",
    "periods",
    "period_names",
    "rules",
    "top",
    "subject",
    "n",
}
REPORT_NAMES = {"title", "generated", "total", "sections", "charts", "periods"}


def _known_for(relative: str) -> set[str]:
    return REPORT_NAMES if relative.startswith("report/") else DIGEST_NAMES


def check_template_dir(templates: TemplateEnv, folder: str) -> list[Problem]:
    """Syntax and unknown variables of every template in an override folder."""
    problems: list[Problem] = []
    root = Path(folder)
    for path in sorted(root.rglob("*.j2")):
        relative = path.relative_to(root).as_posix()
        # Variant folders mirror the defaults: ``terse/slack/notice.md.j2``.
        parts = relative.split("/")
        base = "/".join(parts[1:]) if len(parts) > 2 else relative
        for message in templates.check(relative, _known_for(base)):
            problems.append(_located(message, str(path)))
    return problems


def _located(message: str, path: str) -> Problem:
    # TemplateEnv.check says "<file>:<line>: ..." or "<file>: ..."; keep the line if given.
    head, _, rest = message.partition(": ")
    if ":" in head:
        _, _, line = head.rpartition(":")
        if line.isdigit():
            return Problem(path, int(line), 1, rest)
    return Problem(path, 0, 0, rest or message)


def _variant_exists(name: str, override_dir: str | None) -> bool:
    roots = [Path(override_dir)] if override_dir else []
    roots.append(bundled_path("templates"))
    return any((root / name).is_dir() for root in roots)


def check_variants(
    named: Iterable[tuple[str, str, int, str]], override_dir: str | None
) -> list[Problem]:
    """``named``: (variant, path, line, who) for each route/channel/rule naming a template."""
    problems = []
    for variant, path, line, who in named:
        if variant and not _variant_exists(variant, override_dir):
            where = f"{override_dir}/" if override_dir else "the templates folder "
            problems.append(
                Problem(
                    path,
                    line,
                    1 if line else 0,
                    f"{who}: template {variant!r} not found (expected a folder "
                    f"{where}{variant}/ with the templates it overrides)",
                )
            )
    return problems


def check_templates(config: Any, rules: Any = ()) -> list[Problem]:
    """Everything above for a loaded Config and RuleSet."""
    problems: list[Problem] = []
    try:
        templates = TemplateEnv(config.templates)
    except Exception as exc:  # a ConfigError naming the missing folder
        return list(getattr(exc, "problems", [Problem(config.where, 0, 0, str(exc))]))
    if config.templates:
        problems += check_template_dir(templates, config.templates)
    named = [
        (r.template, config.where, 0, f"route {r.name!r}") for r in config.routes if r.template
    ]
    named += [
        (str(o["template"]), config.where, 0, f"channel {n!r}")
        for n, o in config.channels.items()
        if isinstance(o, dict) and o.get("template")
    ]
    named += [
        (r.template, r.path or config.where, r.line, f"rule {r.id!r}")
        for r in rules
        if getattr(r, "template", None)
    ]
    problems += check_variants(named, config.templates)
    return problems
