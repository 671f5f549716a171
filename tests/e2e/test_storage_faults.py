"""Storage faults: the SQLite file locked by another process while a release arrives.

The cycle (``run --once`` subprocess) must fail with a clear, located error naming the state
store (no traceback), leave the file intact, and once the lock is released the next cycle
ingests and delivers the release. (A read-only or full state directory cannot be simulated here:
the tests run as root, which ignores permissions, and without a size-limited mount.)
Data: generated with a fixed seed (tests/e2e/test_crash_safety.dataset).
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import Publisher, http_peer, integrity_ok, record_figure, run_cli
from tests.e2e.test_crash_safety import RULES, dataset


def _locked_cycle(tmp_path: Path) -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
    """One good cycle, one with the file locked, one after release; (locked run, keys sent)."""
    with http_peer() as peer:
        feed = Publisher(peer)
        (tmp_path / "rules.yaml").write_text(RULES)
        config = tmp_path / "monitor.yaml"
        config.write_text(
            f"""\
state_dir: state
state_timeout: 2
rules: [rules.yaml]
initial: alert_all
sources:
  feed: {{type: url, url: "{feed.url}", timeout: 5}}
channels:
  hook: {{type: webhook, url: "{peer.url("/hook")}", timeout: 5}}
routes:
  - channels: [hook]
"""
        )
        feed.publish(dataset(2))
        assert run_cli(config, "run", "--once").returncode == 0
        db = tmp_path / "state" / "state.db"
        feed.publish(dataset(3))
        locker = sqlite3.connect(str(db), timeout=0)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            locked = run_cli(config, "run", "--once", timeout=120)
        finally:
            locker.rollback()
            locker.close()
        assert b"Traceback" not in locked.stderr, locked.stderr.decode()[-2000:]
        assert b"state store" in locked.stderr and b"locked" in locked.stderr
        assert integrity_ok(db) == "ok"
        recovered = run_cli(config, "run", "--once")
        assert recovered.returncode == 0, recovered.stderr.decode()[-2000:]
        keys = {a["key"] for p in peer.accepted("/hook") for a in p.json["alerts"]}
    return locked, keys


@pytest.fixture(scope="module")
def locked_cycle(tmp_path_factory: pytest.TempPathFactory):
    return _locked_cycle(tmp_path_factory.mktemp("locked"))


@pytest.mark.slow
def test_locked_state_store_is_a_clear_error_and_recovers(locked_cycle) -> None:
    """An exclusive lock held elsewhere: an error naming the store, no traceback, no
    corruption; after the lock is released the release is ingested and delivered."""
    _, keys = locked_cycle
    expected = {
        f"every-month|CN|{p}|85051110|export|net_weight_kg|2024-{m:02d}"
        for m in range(1, 4)
        for p in ["US", "DE", "JP", "KR", "VN"]
    }
    record_figure(
        "storage_faults",
        {"faults_injected": {"sqlite_locked": 1}, "losses": len(expected - keys)},
    )
    assert keys == expected


@pytest.mark.slow
def test_locked_state_store_makes_run_once_fail(locked_cycle) -> None:
    """`run --once` exits non-zero when the state store was locked during its poll."""
    locked, _ = locked_cycle
    assert locked.returncode != 0
