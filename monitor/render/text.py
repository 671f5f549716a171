"""An alert in words, outside a message: for ``status``, ``backtest``, the demo's summary.

``alert_text`` is the same rendering the messages use (monitor.render.view): the rule's summary
rendered for the alert (never the raw template), and the figures behind it in the rule's units
(tonnes for kg, US$ million for USD, percent and points for shares), by notice kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.model import Alert
from monitor.render import filters
from monitor.render.env import TemplateEnv
from monitor.render.kinds import KIND_ALERT, KIND_MISSING, alert_kind
from monitor.render.view import facts, missing_facts, ops_facts

_DEFAULT: TemplateEnv | None = None


@dataclass(frozen=True)
class AlertText:
    """An alert in words: its summary, the figures behind it and its value."""

    summary: str  # the rule's summary rendered for this alert, or the default headline
    why: str  # the figures that made the rule fire, "; "-separated, in the rule's units
    value: str | None  # the alert's value with its unit; None when it has none (a missing release)


def alert_text(alert: Alert | Mapping[str, Any], templates: TemplateEnv | None = None) -> AlertText:
    """``alert`` as an Alert or its ``to_dict()`` (what the store and ``backtest`` hold)."""
    global _DEFAULT
    if not isinstance(alert, Alert):
        alert = Alert.from_dict(dict(alert))
    if templates is None:
        if _DEFAULT is None:
            _DEFAULT = TemplateEnv()
        templates = _DEFAULT
    kind = alert_kind(alert)
    if kind == KIND_ALERT:
        why = facts(dict(alert.context), alert.unit)
        value: str | None = filters.quantity(alert.value, alert.unit)
    else:
        why = missing_facts(alert) if kind == KIND_MISSING else ops_facts(alert)
        value = None
    return AlertText(summary=templates.render_summary(alert), why="; ".join(why), value=value)
