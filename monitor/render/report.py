"""``backtest --report``: one self-contained HTML page with a chart per fired alert.

Charts are PNGs embedded as ``data:`` URIs and the styles are inline, so the file opens offline,
as an email attachment or from a shared drive. Alerts are grouped by rule, newest first, so an
analyst tuning a rule sees at a glance what it would have sent and why.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from monitor.errors import MonitorError
from monitor.model import Alert
from monitor.render.chart import chart_png
from monitor.render.env import TemplateEnv
from monitor.render.history import history_for
from monitor.render.view import facts, severity_rank

MAX_CHARTS = 500  # beyond this the page would be tens of MB; the rest are listed


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def write_report(
    path: str | Path,
    alerts: Sequence[Alert],
    observations: pd.DataFrame,
    *,
    templates: TemplateEnv | None = None,
    title: str = "Backtest report",
    months: int = 24,
) -> Path:
    env = templates or TemplateEnv()
    by_rule: dict[str, list[Alert]] = {}
    for a in alerts:
        by_rule.setdefault(a.rule_id, []).append(a)
    sections = []
    charts = 0
    for rule_id in sorted(by_rule):
        items = []
        for a in sorted(
            by_rule[rule_id],
            key=lambda x: (x.period, severity_rank(x.severity), x.partner),
            reverse=True,
        ):
            history = history_for(a, observations, months)
            chart = None
            if charts < MAX_CHARTS:
                window = a.context.get("window")
                chart = _data_uri(
                    chart_png(
                        history,
                        fired_period=a.period,
                        unit=a.unit,
                        window=window if isinstance(window, int) else None,
                        title=f"{a.reporter} → {a.partner}, {a.commodity} {a.flow}, {a.measure}",
                    )
                )
                charts += 1
            items.append(
                {
                    "alert": a,
                    "summary": env.render_summary(a),
                    "facts": facts(dict(a.context), a.unit),
                    "chart": chart,
                }
            )
        sections.append({"rule": rule_id, "count": len(items), "items": items})
    html = env.render(
        "report/report.html.j2",
        {
            "title": title,
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "total": len(alerts),
            "sections": sections,
            "charts": charts,
            "periods": sorted({a.period for a in alerts}),
        },
    )
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise MonitorError(f"cannot write report {target}: {exc.strerror or exc}") from None
    return target
