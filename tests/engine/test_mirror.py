"""mirror_gap: one country's figure against its partner's mirror figure from another source,
at the common HS6 level, over a rolling window (expectations worked out by hand; the figures
are synthetic, chosen so the sums are easy to check)."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.service import Service
from monitor.engine import evaluate, load_rules
from monitor.model import normalize

M = 1_000_000.0
MONTHS = ["2025-04", "2025-05", "2025-06", "2025-07"]
# China's exports to the US (GACC codes), US$ million per month
CHINA = {"85051110": [10, 10, 10, 10], "85051190": [1, 1, 1, 1]}
# The US's imports from China (HTS10 codes), US$ million per month
US = {"8505110070": [12, 12, 12, 20], "8505110050": [1, 1, 1, 1]}


def side(reporter, partner, flow, codes, source, drop=()) -> pd.DataFrame:
    rows = [
        {
            "period": p,
            "reporter": reporter,
            "partner": partner,
            "commodity": code,
            "flow": flow,
            "measure": "value_usd",
            "value": v * M,
            "unit": "USD",
            "source": source,
        }
        for code, values in codes.items()
        for p, v in zip(MONTHS, values, strict=True)
        if (code, p) not in drop
    ]
    return normalize(pd.DataFrame(rows))


def china(drop=()) -> pd.DataFrame:
    return side("CN", "US", "export", CHINA, "gacc", drop)


def us() -> pd.DataFrame:
    return side("US", "CN", "import", US, "census")


PACK = """pack: mirror
defaults:
  select: {reporter: US, flow: import, measure: value_usd}
rules:
  - id: us-china-magnets
    select: {commodity: {prefix: "850511"}, partner: CN}
    condition: {type: mirror_gap, window: 3, %s, source: gacc}
"""


def rules_of(tmp_path, condition: str = "pct: 20"):
    path = tmp_path / "p.yaml"
    path.write_text(PACK % condition, encoding="utf-8")
    return load_rules([str(path)])


def test_gap_over_three_months_fires_with_both_figures(tmp_path):
    """May-July: US imports 13+13+21 = 47, China's exports 11+11+11 = 33: gap 14, 42.4 %."""
    (a,) = evaluate(us(), rules_of(tmp_path), ["2025-07"], {"gacc": china()})
    c = a.context
    assert (a.reporter, a.partner, a.commodity) == ("US", "CN", "850511")
    assert (c["sum_reported"], c["sum_mirror"], c["gap"]) == (47 * M, 33 * M, 14 * M)
    assert c["gap_pct"] == pytest.approx(14 / 33 * 100)
    assert (c["mirror_window"], c["mirror_start"], c["mirror_source"]) == (3, "2025-05", "gacc")
    assert c["coverage"] == "2 of 2 codes reported"
    assert (c["mirror_members_reported"], c["mirror_members_expected"]) == (2, 2)


def test_the_alert_names_the_known_reasons_for_a_gap(tmp_path):
    """Valuation (CIF/FOB), timing and re-exports via Hong Kong travel with the alert."""
    (a,) = evaluate(us(), rules_of(tmp_path), ["2025-07"], {"gacc": china()})
    reasons = a.context["mirror_reasons"]
    assert "CIF" in reasons and "FOB" in reasons
    assert "timing" in reasons and "Hong Kong" in reasons


def test_a_gap_under_the_threshold_does_not_fire(tmp_path):
    """April-June: 39 against 33 is 18.2 %, under 20 %."""
    assert evaluate(us(), rules_of(tmp_path), ["2025-06"], {"gacc": china()}) == []


def test_a_month_missing_on_either_side_gives_no_figure(tmp_path):
    """Without China's June figures, the May-July window has no figure."""
    partial = china(drop={("85051190", "2025-06"), ("85051110", "2025-06")})
    rules = rules_of(tmp_path)
    assert evaluate(us(), rules, ["2025-07"], {"gacc": partial}) == []


def test_an_incomplete_sum_in_the_window_gives_no_figure(tmp_path):
    """China's June sum lacking one of its two codes would inflate the gap: no figure."""
    partial = china(drop={("85051190", "2025-06")})
    rules = rules_of(tmp_path)
    assert evaluate(us(), rules, ["2025-07"], {"gacc": partial}) == []


def test_mirror_side_is_read_from_the_named_source_rows(tmp_path):
    """Without a mirrors mapping, the rows of source 'gacc' in the same frame are the mirror."""
    both = pd.concat([us(), china()], ignore_index=True)
    (a,) = evaluate(both, rules_of(tmp_path), ["2025-07"])
    assert a.context["gap"] == 14 * M


def test_no_mirror_data_no_alert(tmp_path):
    """A rule whose mirror source has nothing stays silent."""
    assert evaluate(us(), rules_of(tmp_path), ["2025-07"]) == []


@pytest.mark.parametrize(
    ("condition", "fires"),
    [
        ("absolute: 10 million USD", True),  # gap 14 M
        ("absolute: 15 million USD", False),
        ("pct: 40, absolute: 10 million USD", True),  # both hold
        ("pct: 50, absolute: 10 million USD", False),  # 42.4 % < 50 %
        ("pct: 20, direction: above", True),  # the US reports more
        ("pct: 20, direction: below", False),
    ],
)
def test_thresholds_and_direction(tmp_path, condition, fires):
    """absolute in the rule's unit, pct, both (both must hold), and the direction."""
    got = evaluate(us(), rules_of(tmp_path, condition), ["2025-07"], {"gacc": china()})
    assert bool(got) is fires


def test_published_hs6_series_need_no_sum(tmp_path):
    """Two reporters publishing HS6 (as Comtrade does) are mirrored as they are."""
    rows = [
        {"reporter": r, "partner": p, "flow": f, "value": v, "source": "comtrade"}
        for r, p, f, v in (("CN", "US", "export", 100.0), ("US", "CN", "import", 150.0))
    ]
    frame = normalize(
        pd.DataFrame(
            [
                {**row, "period": "2025-07", "commodity": "850511", "measure": "value_usd"}
                for row in rows
            ]
        )
    )
    path = tmp_path / "p.yaml"
    path.write_text(
        "pack: c\nrules:\n  - id: r\n    select: {reporter: CN, partner: US, flow: export,"
        ' commodity: "850511", measure: value_usd}\n'
        "    condition: {type: mirror_gap, window: 1, pct: 30}\n",
        encoding="utf-8",
    )
    (a,) = evaluate(frame, load_rules([str(path)]), ["2025-07"])
    assert (a.context["gap"], a.context["gap_pct"]) == (-50.0, pytest.approx(-100 / 3))


def test_the_daemon_reads_the_mirror_source_window(tmp_path):
    """Two file sources in one daemon: the Census release is evaluated against GACC's window
    and its alert carries both figures."""
    china().drop(columns="source").to_csv(tmp_path / "gacc.csv", index=False)
    us().drop(columns="source").to_csv(tmp_path / "census.csv", index=False)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "mirror.yaml").write_text(PACK % "pct: 20", encoding="utf-8")
    (tmp_path / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        state: sqlite:///{tmp_path / "state.db"}
        initial: alert_all
        rules: [rules/]
        sources:
          gacc: {{type: file, path: gacc.csv}}
          census: {{type: file, path: census.csv}}
        channels:
          outbox: {{type: file, path: {tmp_path / "sent"}}}
        routes:
          - channels: [outbox]
        """)
    )
    config = load_config(str(tmp_path / "monitor.yaml"), env={})
    from datetime import UTC, datetime

    daemon = Service(config, clock=ManualClock(datetime(2025, 9, 10, tzinfo=UTC)))
    try:
        _, evaluations, _ = daemon.run_once()
    finally:
        daemon.close()
    fired = [(e.release.source, n.alert) for e in evaluations for n in e.notices]
    assert [(s, a.period) for s, a in fired] == [("census", "2025-07")]
    assert fired[0][1].context["sum_mirror"] == 33 * M
