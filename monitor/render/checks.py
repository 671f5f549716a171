"""Template checks for ``customs-monitor validate``: catch template mistakes before an alert.

- every ``.j2`` file of the override folder parses, and the message templates use only the
  variables the renderer provides (a typo would otherwise fail at the first real alert);
- every template *variant* named by a route, a channel or a rule exists as a folder;
- every message template, for the defaults and each variant, renders a sample digest of each
  notice kind (new, revised, resolved, missing release, ops) within the sandbox's limits: a
  runtime error (``{{ 1 // 0 }}``, a recursive macro, a runaway loop) is reported at its file
  and line before it ever meets an alert.

Rule ``summary`` strings are checked by the engine's rule validation (it knows each
condition's context keys); it calls ``summary_runtime_problems`` here to render each summary
against a sample alert.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from monitor.errors import Problem
from monitor.model import Alert
from monitor.notice import CHANGE_NEW, CHANGE_RESOLVED, CHANGE_REVISED, Digest, Notice
from monitor.render.env import TemplateEnv, TemplateFailed, summary_variables
from monitor.render.sandbox import SUMMARY_LIMITS
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
        (o.template, config.where, 0, f"channel {n!r}")
        for n, o in config.channels.items()
        if o.template
    ]
    named += [
        (r.template, r.path or config.where, r.line, f"rule {r.id!r}")
        for r in rules
        if getattr(r, "template", None)
    ]
    problems += check_variants(named, config.templates)
    existing = [v for v, *_ in named if v and _variant_exists(v, config.templates)]
    problems += check_template_runtime(templates, existing)
    return problems


# -- rendering samples ------------------------------------------------------------------------

#: Context values shaped like a real alert's (China's magnet exports to the US, July 2025).
_SAMPLE_CONTEXT: dict[str, Any] = {
    "window": 6,
    "months_known": 6,
    "window_start": "2025-02",
    "prior_max": 353_000.0,
    "prior_max_period": "2025-06",
    "prior_min": 46_000.0,
    "prior_min_period": "2025-05",
    "periods": 1,
    "base_value": 353_000.0,
    "base_period": "2025-06",
    "pct": 75.4,
    "share": 11.1,
    "share_before": 7.3,
    "share_before_period": "2025-06",
    "shift_points": 3.8,
    "total": 5_577_000.0,
    "total_basis": "WORLD",
    "streak_length": 3,
    "direction": "up",
    "mean": 300_000.0,
    "std": 150_000.0,
    "z": 2.1,
    "history_months": 12,
    "above": 500_000.0,
    "below": 100_000.0,
    "expected_by": "2025-08-22",
    "last_period": "2025-06",
    "rank": 1,
    "partners_ranked": 10,
    # derived series (sums over codes or partner groups)
    "members_reported": 2,
    "members_expected": 2,
    "complete": True,
    "coverage": "2 of 2 codes reported",
    # mirror_gap
    "mirror_window": 3,
    "mirror_start": "2025-05",
    "sum_reported": 2_050_000.0,
    "sum_mirror": 1_562_000.0,
    "gap": 488_000.0,
    "gap_pct": 31.2,
    "mirror_source": "census",
    "mirror_reasons": "timing (shipments in transit at month ends)",
    "mirror_members_reported": 2,
    "mirror_members_expected": 2,
}


def sample_alert(
    condition: str = "period_high",
    keys: Iterable[str] | None = None,
    *,
    rule: str = "sample",
    partner: str = "US",
    summary: str = "",
) -> Alert:
    """An alert of ``condition`` carrying ``keys`` of context (default: the condition's own)."""
    wanted = set(keys) if keys is not None else set(_SAMPLE_CONTEXT)
    context = {k: v for k, v in _SAMPLE_CONTEXT.items() if k in wanted}
    context["condition"] = condition
    return Alert(
        rule_id=rule,
        period="2025-07",
        reporter="CN",
        partner=partner,
        commodity="85051110",
        flow="export",
        measure="net_weight_kg",
        value=619_000.0,
        unit="kg",
        severity="warning",
        summary=summary,
        labels={"desk": "magnets"},
        context=context,
        source="sample",
    )


def _ops_alert() -> Alert:
    # The shape monitor.daemon.ops gives its notices.
    return Alert.notice(
        "ops-source-failing",
        "2025-07",
        {"ops": "true", "subject": "gacc", "incident_id": "20250720T030000Z"},
        value=3.0,
        unit="polls",
        severity="critical",
        summary="source gacc failed 3 polls in a row",
        context={"last_error": "drop folder does not exist", "last_success_at": "never"},
        source="customs-monitor",
    )


_HISTORY = tuple((f"2025-{m:02d}", None if m < 5 else 100_000.0 * m) for m in range(1, 8))


def sample_notices() -> dict[str, list[Notice]]:
    """Two notices of each kind, as the pipeline and the daemon hand them to channels."""
    new = [Notice(sample_alert(partner=p), CHANGE_NEW, history=_HISTORY) for p in ("US", "DE")]
    before = {"value": 700_000.0, "unit": "kg"}
    missing = sample_alert("missing_release", ("expected_by", "last_period"))
    return {
        "new": new,
        "revised": [Notice(n.alert, CHANGE_REVISED, n.history, before) for n in new],
        "resolved": [
            Notice(n.alert, CHANGE_RESOLVED, n.history, n.alert.to_dict(), current=400_000.0)
            for n in new
        ],
        "missing release": [Notice(missing), Notice(sample_alert("missing_release", partner="DE"))],
        "ops": [Notice(_ops_alert())],
    }


_SAMPLE_ENV: TemplateEnv | None = None


def summary_runtime_problems(summary: str, keys: Iterable[str], condition: str) -> list[str]:
    """Render ``summary`` for a sample alert of ``condition`` with context ``keys``; the
    runtime error or limit it hits, if any (e.g. "ZeroDivisionError: ... (summary line 1)")."""
    global _SAMPLE_ENV
    if _SAMPLE_ENV is None:
        _SAMPLE_ENV = TemplateEnv()
    alert = sample_alert(condition, keys, summary=summary)
    try:
        _SAMPLE_ENV.render_string(
            summary, summary_variables(alert), where="summary", limits=SUMMARY_LIMITS
        )
    except TemplateFailed as exc:
        line = f" (summary line {exc.failure.line})" if exc.failure.line else ""
        return [f"{exc.failure.error}{line}"]
    return []


#: the templates a channel renders directly (the notice templates are included by them)
MESSAGE_TEMPLATES = (
    "email/subject.txt.j2",
    "email/body.txt.j2",
    "email/body.html.j2",
    "slack/header.txt.j2",
    "slack/notice.md.j2",
    "slack/footer.md.j2",
    "text/digest.txt.j2",
)


def check_template_runtime(templates: TemplateEnv, variants: Iterable[str | None]) -> list[Problem]:
    """Render every message template, for the defaults and each variant, with a sample digest
    of each notice kind; every runtime failure located at its file and line."""
    from monitor.render.view import digest_view  # imports the notify layer

    found: dict[tuple[str, int, str], list[str]] = {}
    for variant in dict.fromkeys([None, *variants]):
        for kind, notices in sample_notices().items():
            for shown in (notices[:1], notices):
                digest = Digest(
                    source="sample",
                    release_id=None if kind in ("missing release", "ops") else 1,
                    release_date="2025-08-20",
                    route="validate",
                    notices=tuple(shown),
                    source_url="https://stats.customs.gov.cn/",
                )
                view = digest_view(digest, templates, channel="validate", variant=variant)
                for i, n in enumerate(view["notices"]):
                    n["chart_cid"], n["chart_alt"] = f"chart{i}@validate", "chart"
                view["subject"] = "sample subject"
                for name in MESSAGE_TEMPLATES:
                    each = (
                        [{**view, "n": n} for n in view["notices"]] if "/notice" in name else [view]
                    )
                    for variables in each:
                        try:
                            templates.render_strict(name, variables, variants=[variant])
                        except TemplateFailed as exc:
                            f = exc.failure
                            kinds = found.setdefault((f.template, f.line, f.error), [])
                            if kind not in kinds:
                                kinds.append(kind)
    return [
        Problem(
            path,
            line,
            1 if line else 0,
            f"fails when rendering a {' / '.join(kinds)} notice: {error}",
        )
        for (path, line, error), kinds in found.items()
    ]
