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


def test_report_refuses_to_replace_a_file_it_did_not_write(tmp_path) -> None:
    """--report naming an existing file of the user's is refused (exit 2) and left as it was."""
    from monitor.errors import ConfigError

    mine = tmp_path / "rules.yaml"
    mine.write_text("pack: mine\n")
    with pytest.raises(ConfigError, match="not a report written by customs-monitor"):
        write_report(mine, [], magnets())
    assert mine.read_text() == "pack: mine\n"


def test_report_replaces_an_earlier_report(tmp_path) -> None:
    """Running the same backtest again replaces the report it wrote before."""
    from tests.notify.realdata import alert

    frame = magnets()
    target = tmp_path / "r.html"
    write_report(target, [], frame)
    write_report(target, [alert(frame, "DE", "2025-07")], frame)
    assert "No rule fired" not in target.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_report_of_a_share_alert_charts_the_share(tmp_path) -> None:
    """A share-shift alert's chart is drawn from the share history (percent), not tonnes."""
    from monitor.render.chart import chart_png
    from monitor.render.history import share_history_for

    frame = magnets()
    rules = load_rules([str(bundled_path("rules"))])
    [a] = [
        x
        for x in evaluate(frame, rules, ["2025-10"])
        if x.rule_id == "magnets-share-shift" and x.partner == "US"
    ]
    html = write_report(tmp_path / "r.html", [a], frame).read_text(encoding="utf-8")
    [image] = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    expected = chart_png(
        share_history_for(a, frame, 24),
        fired_period="2025-10",
        unit="%",
        title="CN → US, 85051110 export, share of the total",
    )
    assert base64.b64decode(image) == expected


def test_report_lists_newest_month_first_then_most_severe_then_partner(tmp_path) -> None:
    """Within a rule: the newest month first; in a month, critical before info, A to Z."""
    from tests.notify.realdata import alert

    frame = magnets()
    alerts = [
        alert(frame, "US", "2025-06", severity="critical", summary="us june"),
        alert(frame, "DE", "2025-07", severity="info", summary="de july info"),
        alert(frame, "US", "2025-07", severity="critical", summary="us july critical"),
        alert(frame, "WORLD", "2025-07", severity="critical", summary="world july critical"),
    ]
    html = write_report(tmp_path / "r.html", alerts, frame).read_text(encoding="utf-8")
    order = ["us july critical", "world july critical", "de july info", "us june"]
    positions = [html.index(text) for text in order]
    assert positions == sorted(positions)
