"""Turn a Digest into the plain variables every template sees (the same for every channel).

Templates then only lay things out: the numbers, names, sentences and sparkline are computed once
here, so Slack, email, the console, Alertmanager, ``status``, ``backtest`` and the plain fallback
all say the same thing about an alert. What is said depends on the notice's kind
(``monitor.render.kinds``): a figure that moved shows its value and the figures behind the rule;
a missing release shows when it was due and the last month on record, never a figure; an ops
notice shows what failed. A revision shows the figure sent before and the figure now.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from monitor.model import Alert
from monitor.notice import CHANGE_NEW, CHANGE_RESOLVED, CHANGE_REVISED, Digest, Notice
from monitor.render import filters
from monitor.render.env import TemplateEnv, summary_variables
from monitor.render.kinds import KIND_ALERT, KIND_MISSING, KIND_OPS, alert_kind
from monitor.render.links import alert_url

SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}
SEVERITY_ICONS = {"critical": "🔴", "error": "🔴", "warning": "🟠", "info": "🔵"}
CHANGE_LABELS = {CHANGE_NEW: "new", CHANGE_REVISED: "revised", CHANGE_RESOLVED: "no longer holds"}
DEFAULT_CAP = 20


def severity_rank(severity: str) -> int:
    """Sort position of a severity: ``critical`` first (0), ``info`` last of the known ones, an
    unknown severity after them."""
    return SEVERITY_ORDER.get(severity, len(SEVERITY_ORDER))


def sort_notices(notices: tuple[Notice, ...] | list[Notice]) -> list[Notice]:
    """Most severe first, then the biggest value, then a stable identity order."""
    return sorted(
        notices,
        key=lambda n: (
            severity_rank(n.alert.severity),
            -abs(_num(n.alert.value) or 0.0),
            n.alert.key,
        ),
    )


def _num(value: Any) -> float | None:
    """A finite number, else None (NaN and inf say nothing a reader can use)."""
    try:
        v = None if value is None else float(value)
    except (TypeError, ValueError):
        return None
    return v if v is not None and math.isfinite(v) else None


def facts(alert_context: dict[str, Any], unit: str) -> list[str]:
    """The figures behind an alert, in words, from the engine's context (keys per condition;
    see monitor/engine/spec.py). Unknown keys are left to custom templates."""
    c = alert_context
    out: list[str] = []
    if _num(c.get("pct")) is not None:
        line = f"{filters.pct(c['pct'])}"
        if c.get("base_period"):
            line += f" vs {filters.month_name(c['base_period'])}"
            if _num(c.get("base_value")) is not None:
                line += f" ({filters.quantity(c['base_value'], unit)})"
        out.append(line)
    if _num(c.get("prior_max")) is not None:
        out.append(
            f"previous high {filters.quantity(c['prior_max'], unit)}"
            + (
                f" in {filters.month_name(c['prior_max_period'])}"
                if c.get("prior_max_period")
                else ""
            )
        )
    if _num(c.get("prior_min")) is not None:
        out.append(
            f"previous low {filters.quantity(c['prior_min'], unit)}"
            + (
                f" in {filters.month_name(c['prior_min_period'])}"
                if c.get("prior_min_period")
                else ""
            )
        )
    if c.get("window") and c.get("months_known") is not None:
        out.append(f"{c['months_known']} of {c['window']} months known")
    if _num(c.get("shift_points")) is not None:
        share = f"{filters.number(c.get('share'), 1)}%"
        if _num(c.get("share_before")) is not None:
            share = f"{filters.number(c['share_before'], 1)}% -> {share}"
        line = f"share {share} ({filters.pp(c['shift_points'])}"
        if c.get("share_before_period"):
            line += f" vs {filters.month_name(c['share_before_period'])}"
        out.append(line + ")")
    elif _num(c.get("share")) is not None:
        out.append(f"share {filters.number(c['share'], 1)}%")
    if _num(c.get("z")) is not None and c.get("mean") is not None:
        out.append(f"z = {float(c['z']):.1f} against a mean of {filters.quantity(c['mean'], unit)}")
    if c.get("streak_length"):
        out.append(f"{c['streak_length']} months {c.get('direction', '')} in a row")
    if c.get("expected_by"):
        out.append(f"due by {c['expected_by']}")
    return out


def missing_facts(alert: Alert) -> list[str]:
    """A missing release in words: the month, when it was due, the last month on record."""
    c = alert.context
    out = [f"no figures for {filters.month_name(alert.period)} yet"]
    if c.get("expected_by"):
        out.append(f"due by {c['expected_by']}")
    if c.get("last_period"):
        out.append(f"latest month on record: {filters.month_name(c['last_period'])}")
    return out


def ops_facts(alert: Alert) -> list[str]:
    """What an ops notice knows besides its summary (monitor.daemon.ops's context)."""
    c = alert.context
    out = []
    if c.get("last_error"):
        out.append(f"last error: {c['last_error']}")
    if c.get("last_success_at"):
        out.append(f"last success: {c['last_success_at']}")
    if c.get("attempts") is not None:
        out.append(f"{c['attempts']} delivery attempts")
    return out


def figures(alert: Alert) -> list[str]:
    """The figures of an alert in words, first the value (none for a missing release)."""
    kind = alert_kind(alert)
    if kind == KIND_MISSING:
        return missing_facts(alert)
    if kind == KIND_OPS:
        return ops_facts(alert)
    head = f"{filters.quantity(alert.value, alert.unit)} in {filters.month_name(alert.period)}"
    return [head, *facts(dict(alert.context), alert.unit)]


def current_value(notice: Notice) -> float | None:
    """The series' figure for the alert's month now: what the notice carries, else the last
    point of its history (read from the store after the revision)."""
    if notice.current is not None:
        return notice.current
    if notice.history and notice.history[-1][0] == notice.alert.period:
        return notice.history[-1][1]
    return None


def change_text(notice: Notice) -> str | None:
    """What a revision did, in words; None for a new alert."""
    alert = notice.alert
    previous = notice.previous or {}
    before = _num(previous.get("value"))
    was = filters.quantity(before, alert.unit) if before is not None else filters.MISSING
    if notice.change == CHANGE_REVISED:
        return f"revised: {was} -> {filters.quantity(alert.value, alert.unit)}"
    if notice.change == CHANGE_RESOLVED:
        now = current_value(notice)
        text = filters.quantity(now, alert.unit) if now is not None else "no longer published"
        return f"no longer holds after a revision: was {was}, now {text}"
    return None


def notice_view(notice: Notice, templates: TemplateEnv) -> dict[str, Any]:
    """The variables of one notice (a template's ``n``): ``summary_variables`` plus its kind and
    change, the rendered summary, figures, history, sparkline and console link. ``chart_cid`` is
    left None for the email channel to set."""
    alert = notice.alert
    kind = alert_kind(alert)
    names = summary_variables(alert)
    previous = notice.previous or None
    prev_value = _num(previous.get("value")) if previous else None
    now = current_value(notice) if notice.change == CHANGE_RESOLVED else None
    history = [(p, v) for p, v in notice.history]
    return {
        **names,
        "alert": alert.to_dict(),
        "key": alert.key,
        "kind": kind,
        "is_alert": kind == KIND_ALERT,
        "is_missing": kind == KIND_MISSING,
        "is_ops": kind == KIND_OPS,
        "change": notice.change,
        "change_label": CHANGE_LABELS.get(notice.change, notice.change),
        "change_text": change_text(notice),
        "is_revised": notice.change == CHANGE_REVISED,
        "is_resolved": notice.change == CHANGE_RESOLVED,
        "severity": alert.severity,
        "severity_icon": SEVERITY_ICONS.get(alert.severity, "⚪"),
        "summary_text": templates.render_summary(alert),
        "figures": figures(alert),
        "previous": previous,
        "previous_value_text": (
            filters.quantity(prev_value, alert.unit) if prev_value is not None else None
        ),
        "current_value": now,
        "current_value_text": (
            filters.quantity(now, alert.unit) if now is not None else "no longer published"
        ),
        "history": history,
        "share_history": [(p, v) for p, v in notice.share_history],
        "spark": filters.sparkline(history) if history and kind == KIND_ALERT else "",
        "history_known": sum(1 for _, v in history if v is not None),
        "history_from": history[0][0] if history else None,
        "context": dict(alert.context),
        "facts": facts(dict(alert.context), alert.unit) if kind == KIND_ALERT else [],
        "labels": dict(alert.labels),
        "template": alert.template,
        "chart_cid": None,  # set by the email channel when it attaches a chart
        "chart_alt": None,
        "url": alert_url(templates.console_url, alert.key),  # the alert's console page
    }


def digest_view(
    digest: Digest,
    templates: TemplateEnv,
    *,
    cap: int | None = None,
    channel: str = "",
    variant: str | None = None,
) -> dict[str, Any]:
    """Variables for a whole message: the shown notices (sorted, capped) and the rest counted."""
    cap = cap if cap is not None else getattr(digest, "cap", None) or DEFAULT_CAP
    ordered = sort_notices(digest.notices)
    shown = [notice_view(n, templates) for n in ordered[:cap]]
    kinds = {n.change for n in digest.notices}
    kind = kinds.pop() if len(kinds) == 1 else "mixed"
    periods = sorted({n.alert.period for n in digest.notices})
    return {
        "channel": channel,
        "variant": variant,
        "source": digest.source,
        "source_url": digest.source_url,
        "release_id": digest.release_id,
        # Only a release has a release date: a missing-release or ops digest is not one.
        "release_date": digest.release_date if digest.release_id is not None else None,
        "route": digest.route,
        "test": digest.test,
        "kind": kind if digest.notices else CHANGE_NEW,
        "count": len(digest.notices),
        "notices": shown,
        "more": max(0, len(ordered) - len(shown)),
        "periods": periods,
        "period_names": [filters.month_name(p) for p in periods],
        "rules": sorted({n.alert.rule_id for n in digest.notices}),
        "top": shown[0] if shown else None,
    }


def message_key(digest: Digest) -> str:
    """A stable, file-name-safe identity of a digest (file channel names, email Message-ID)."""
    kinds = sorted({n.change for n in digest.notices}) or [CHANGE_NEW]
    release = (
        f"r{digest.release_id}"
        if digest.release_id is not None
        else "a"
        + hashlib.sha256(
            "\n".join(sorted(n.alert.key for n in digest.notices)).encode()
        ).hexdigest()[:12]
    )
    raw = f"{digest.source}-{release}-{digest.route}-{'+'.join(kinds)}"
    if digest.test:
        raw = f"test-{digest.release_date}-{raw}"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in raw)
