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
    """2025-07: China's total (5,577 t) at a six-month high over June's 3,188 t, 3 of 6 known."""
    assert (
        "2025-07  WORLD   5,577 t  previous high 3,188 t in June 2025; 3 of 6 months known  "
        "[magnets-six-month-high]" in fired(demo[0])
    )


@pytest.mark.slow
def test_demo_us_six_month_high_in_july_2025(demo):
    """2025-07: exports to the US (619 t) above June's 353 t: the seed story's six-month high."""
    assert (
        "2025-07  US        619 t  previous high 353 t in June 2025; 3 of 6 months known  "
        "[magnets-six-month-high]" in fired(demo[0])
    )


@pytest.mark.slow
def test_demo_us_jump_in_june_2025(demo):
    """2025-06: exports to the US up 667% month on month (46 t -> 353 t)."""
    assert "2025-06  US        353 t  +667.4% vs May 2025 (46 t)  [magnets-monthly-jump]" in fired(
        demo[0]
    )


@pytest.mark.slow
def test_demo_us_six_month_high_in_october_2025(demo):
    """2025-10: exports to the US at a six-month high (656 t over July's 619 t; all known)."""
    assert (
        "2025-10  US        656 t  previous high 619 t in July 2025; 6 of 6 months known  "
        "[magnets-six-month-high]" in fired(demo[0])
    )


@pytest.mark.slow
def test_demo_us_share_up_in_october_2025(demo):
    """2025-10: the US share of the total up 4.7 points (7.3% -> 12.0%)."""
    assert (
        "2025-10  US        656 t  share 7.3% -> 12.0% (+4.7 pp vs September 2025)  "
        "[magnets-share-shift]" in fired(demo[0])
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


def _tree(folder) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def test_demo_refuses_a_folder_it_did_not_create(tmp_path):
    """`demo --out DIR` on a non-empty folder without the demo's marker: exit 2, nothing touched."""
    import subprocess
    import sys

    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "notes.txt").write_text("x\n")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--out", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "not created by the demo" in result.stderr and "Traceback" not in result.stderr
    assert _tree(folder) == {"notes.txt"}
    assert (folder / "notes.txt").read_text() == "x\n"


def test_demo_refuses_a_file_as_out(tmp_path):
    """--out naming a file is refused and the file is kept."""
    from monitor.demo import prepare_out_dir
    from monitor.errors import ConfigError

    target = tmp_path / "report.txt"
    target.write_text("keep")
    with pytest.raises(ConfigError, match="must be a folder"):
        prepare_out_dir(target)
    assert target.read_text() == "keep"


def test_demo_uses_an_empty_folder_and_marks_it(tmp_path):
    """An existing empty folder is used; the demo writes its marker into it."""
    from monitor.demo import MARKER, prepare_out_dir

    folder = tmp_path / "empty"
    folder.mkdir()
    prepare_out_dir(folder)
    assert _tree(folder) == {MARKER}


def test_demo_marks_a_folder_it_creates(tmp_path):
    """A missing --out folder is created (parents too) and marked."""
    from monitor.demo import MARKER, prepare_out_dir

    folder = tmp_path / "a" / "b"
    prepare_out_dir(folder)
    assert _tree(folder) == {MARKER}


@pytest.mark.slow
def test_demo_clears_only_what_an_earlier_demo_wrote(demo, tmp_path):
    """A folder a real demo run wrote is cleared back to its marker before the next run."""
    import shutil

    from monitor.demo import MARKER, prepare_out_dir

    _, _, out = demo
    copy = tmp_path / "again"
    shutil.copytree(out, copy)
    assert {"state.db", "outbox/slack", "outbox/email", MARKER} <= _tree(copy)
    prepare_out_dir(copy)
    assert _tree(copy) == {MARKER}


@pytest.mark.slow
def test_demo_folder_with_a_foreign_file_is_refused_whole(demo, tmp_path):
    """A user's file inside a demo folder stops the clean-up: nothing at all is deleted."""
    import shutil

    from monitor.demo import prepare_out_dir
    from monitor.errors import ConfigError

    _, _, out = demo
    copy = tmp_path / "again"
    shutil.copytree(out, copy)
    (copy / "outbox" / "slack" / "my-notes.txt").write_text("mine")
    before = _tree(copy)
    with pytest.raises(ConfigError, match=r"did not write \(outbox/slack/my-notes.txt\)"):
        prepare_out_dir(copy)
    assert _tree(copy) == before


def test_demo_marker_must_be_a_real_file(tmp_path):
    """A marker that is a symlink (planted to claim a folder) does not make a folder ours."""
    from monitor.demo import MARKER, prepare_out_dir
    from monitor.errors import ConfigError

    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("")
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "state.db").write_text("someone's database")
    (folder / MARKER).symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="not created by the demo"):
        prepare_out_dir(folder)
    assert (folder / "state.db").read_text() == "someone's database"
