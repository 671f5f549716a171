"""write_report: one self-contained HTML page with a chart per fired alert."""

from __future__ import annotations

import base64
import re

import pytest

from monitor.engine import evaluate, load_rules
from monitor.render.report import write_report
from monitor.resources import bundled_path
from tests.notify.realdata import magnets


@pytest.mark.slow
def test_report_is_self_contained_with_one_chart_per_alert(tmp_path) -> None:
    """Backtesting the bundled rules on the real data gives a page with an inline PNG per
    alert and no reference to anything on the network."""
    frame = magnets()
    alerts = evaluate(frame, load_rules([str(bundled_path("rules"))]))
    assert alerts, "the bundled rules fire on the bundled data"
    out = write_report(tmp_path / "sub" / "report.html", alerts, frame)
    html = out.read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(alerts)
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    for rule_id in {a.rule_id for a in alerts}:
        assert f'id="{rule_id}"' in html


def test_report_without_alerts_says_so(tmp_path) -> None:
    """An empty backtest still writes a page, saying nothing fired."""
    html = write_report(tmp_path / "r.html", [], magnets()).read_text(encoding="utf-8")
    assert "No rule fired in this range." in html


def test_report_escapes_summaries(tmp_path) -> None:
    """Rule summaries are HTML-escaped in the report."""
    from tests.notify.realdata import alert

    frame = magnets()
    a = alert(frame, "DE", "2025-07", summary="<script>alert(1)</script>")
    html = write_report(tmp_path / "r.html", [a], frame).read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html
