"""``backtest --report``: one self-contained HTML page with a chart per fired alert.

Charts are PNGs embedded as ``data:`` URIs and the styles are inline, so the file opens offline,
as an email attachment or from a shared drive. Alerts are grouped by rule, newest first, so an
analyst tuning a rule sees at a glance what it would have sent and why; share alerts chart the
partner's share. The page ends with a marker comment: an existing file is only replaced when it
carries it (an earlier report), never a file the program did not write; the page is written to
a temporary file first and renamed, so a failed run leaves the earlier report whole.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from monitor.errors import ConfigError, MonitorError, Problem
from monitor.model import Alert
from monitor.render.chart import chart_png
from monitor.render.env import TemplateEnv
from monitor.render.history import (
    HISTORY_MONTHS,
    SHARE_CONDITIONS,
    history_for,
    share_history_for,
)
from monitor.render.view import facts, severity_rank

MAX_CHARTS = 500  # beyond this the page would be tens of MB; the rest are listed
MARKER = "<!-- written by customs-monitor backtest --report -->"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def write_report(
    path: str | Path,
    alerts: Sequence[Alert],
    observations: pd.DataFrame,
    *,
    templates: TemplateEnv | None = None,
    title: str = "Backtest report",
    months: int = HISTORY_MONTHS,
) -> Path:
    """Write the report of ``alerts`` to ``path`` and return the path; the charts are drawn from
    ``observations`` (``months`` each, for the first ``MAX_CHARTS`` alerts).

    An existing file that is not an earlier report is refused (ConfigError) before any work; a
    failed write raises MonitorError and leaves the earlier report whole.
    """
    target = Path(path)
    _check_replaceable(target)  # before the work, not after it
    env = templates or TemplateEnv()
    by_rule: dict[str, list[Alert]] = {}
    for a in alerts:
        by_rule.setdefault(a.rule_id, []).append(a)
    sections = []
    charts = 0
    for rule_id in sorted(by_rule):
        items = []
        # Newest month first; within a month the most severe first, partners A to Z.
        in_month = sorted(by_rule[rule_id], key=lambda x: (severity_rank(x.severity), x.partner))
        for a in sorted(in_month, key=lambda x: x.period, reverse=True):
            chart = None
            if charts < MAX_CHARTS:
                window = a.context.get("window")
                share = a.context.get("condition") in SHARE_CONDITIONS
                history = (share_history_for if share else history_for)(a, observations, months)
                chart = _data_uri(
                    chart_png(
                        history,
                        fired_period=a.period,
                        unit="%" if share else a.unit,
                        window=window if isinstance(window, int) and not share else None,
                        title=f"{a.reporter} → {a.partner}, {a.commodity} {a.flow}, "
                        + ("share of the total" if share else a.measure),
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
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".html")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(html.rstrip("\n") + "\n" + MARKER + "\n")
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        raise MonitorError(f"cannot write report {target}: {exc.strerror or exc}") from None
    return target


def _check_replaceable(target: Path) -> None:
    """Refuse to replace anything but an earlier report (its last line is the marker)."""
    if not (target.exists() or target.is_symlink()):
        return
    ours = False
    if target.is_file() and not target.is_symlink():
        try:
            with target.open("rb") as fh:
                fh.seek(max(0, target.stat().st_size - 256))
                ours = MARKER.encode() in fh.read()
        except OSError:
            ours = False
    if not ours:
        raise ConfigError(
            Problem(
                str(target),
                0,
                0,
                "exists and is not a report written by customs-monitor: refusing to replace "
                "it (choose another --report file)",
            )
        )
