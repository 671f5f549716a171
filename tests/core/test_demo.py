"""`customs-monitor demo`: the real daemon over the bundled data fires the story's alerts."""

from __future__ import annotations

import io

import pytest

from monitor.demo import run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    stream = io.StringIO()
    summary = run_demo(out, tick=0.0, stream=stream)
    return summary, stream.getvalue(), out


def fired(summary) -> list[str]:
    return summary.fired


@pytest.mark.slow
def test_demo_replays_every_month_and_ends(demo):
    """The replay covers every published month of the dataset and stops by itself."""
    summary, text, _ = demo
    assert summary.releases == 15
    assert summary.periods[0] == "2018-07" and summary.periods[-1] == "2025-12"
    assert "customs-monitor demo: summary" in text


@pytest.mark.slow
def test_demo_world_six_month_high_in_july_2025(demo):
    """2025-07: China's total (5,577 t) at a six-month high with 3 of 6 months known."""
    assert (
        "2025-07  WORLD   5,577 t  6-month high (3 of 6 months known)  "
        "[magnets-six-month-high]" in fired(demo[0])
    )


@pytest.mark.slow
def test_demo_us_six_month_high_in_july_2025(demo):
    """2025-07: exports to the US (619 t) at a six-month high: the seed story's headline."""
    assert (
        "2025-07  US        619 t  6-month high (3 of 6 months known)  "
        "[magnets-six-month-high]" in fired(demo[0])
    )


@pytest.mark.slow
def test_demo_us_jump_in_june_2025(demo):
    """2025-06: exports to the US up 667% month on month (46 t -> 353 t)."""
    assert "2025-06  US        353 t  +667.4% vs 2025-05  [magnets-monthly-jump]" in fired(demo[0])


@pytest.mark.slow
def test_demo_us_six_month_high_in_october_2025(demo):
    """2025-10: exports to the US at a six-month high (656 t; May-Sep all known)."""
    assert (
        "2025-10  US        656 t  6-month high (6 of 6 months known)  "
        "[magnets-six-month-high]" in fired(demo[0])
    )


@pytest.mark.slow
def test_demo_us_share_up_in_october_2025(demo):
    """2025-10: the US share of the total up 4.7 points (7.3% -> 12.0%)."""
    assert (
        "2025-10  US        656 t  share 7.3% -> 12.0% (+4.7 pp)  [magnets-share-shift]"
        in fired(demo[0])
    )


@pytest.mark.slow
def test_demo_prints_slack_and_email_and_writes_the_outbox(demo):
    """Every message is printed for Slack and email and written to the outbox folder."""
    summary, text, out = demo
    assert "as Slack shows it" in text and "Subject: [customs-monitor]" in text
    assert summary.messages_pending == 0 and summary.messages_sent > 0
    written = list((out / "outbox").rglob("*.*"))
    assert {p.suffix for p in written} == {".json", ".eml"}
    assert len(written) == summary.messages_sent // 2
