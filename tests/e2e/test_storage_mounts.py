"""Storage faults on a real filesystem: the state directory full, then read-only.

The state directory is a small tmpfs mounted for the test (this needs root, as CI and the
development machines here have; elsewhere the test is skipped with the reason). The cycle
(`run --once` subprocess) must fail with a clear error naming the state store, no traceback,
the SQLite file must pass its integrity check, and once the fault clears the next cycle ingests
and delivers the release. Data: generated with a fixed seed (tests/e2e/test_crash_safety).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Publisher, http_peer, integrity_ok, record_figure, run_cli
from tests.e2e.test_crash_safety import RULES, dataset


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_state_dir(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs as the state directory."""
    state = tmp_path / "state"
    state.mkdir()
    done = _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(state))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def _config(tmp_path: Path, feed_url: str, hook_url: str) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"""\
state_dir: state
state_timeout: 2
rules: [rules.yaml]
initial: alert_all
sources:
  feed: {{type: url, url: "{feed_url}", timeout: 5}}
channels:
  hook: {{type: webhook, url: "{hook_url}", timeout: 5}}
routes:
  - channels: [hook]
"""
    )
    return config


def _keys(peer) -> set[str]:
    return {a["key"] for p in peer.accepted("/hook") for a in p.json["alerts"]}


def _expected(months: int) -> set[str]:
    return {
        f"every-month|CN|{p}|85051110|export|net_weight_kg|2024-{m:02d}"
        for m in range(1, months + 1)
        for p in ["US", "DE", "JP", "KR", "VN"]
    }


@pytest.mark.slow
def test_full_state_directory_is_a_clear_error_and_recovers(
    tmp_path: Path, small_state_dir: Path
) -> None:
    """With no space left the poll fails cleanly and stores nothing; freed space recovers it."""
    with http_peer() as peer:
        feed = Publisher(peer)
        config = _config(tmp_path, feed.url, peer.url("/hook"))
        feed.publish(dataset(2))
        assert run_cli(config, "run", "--once").returncode == 0
        filler = small_state_dir / "filler"
        with open(filler, "wb") as fh:  # take every free byte of the tmpfs
            try:
                while True:
                    fh.write(b"\0" * 65536)
            except OSError:
                pass
        feed.publish(dataset(3))
        full = run_cli(config, "run", "--once")
        err = full.stderr.decode()
        assert full.returncode != 0
        assert "Traceback" not in err, err[-2000:]
        assert "state store" in err and "full" in err, err[-2000:]
        filler.unlink()
        assert integrity_ok(small_state_dir / "state.db") == "ok"
        recovered = run_cli(config, "run", "--once")
        assert recovered.returncode == 0, recovered.stderr.decode()[-2000:]
        keys = _keys(peer)
    record_figure(
        "storage_full", {"faults_injected": {"disk_full": 1}, "losses": len(_expected(3) - keys)}
    )
    assert keys == _expected(3)


@pytest.mark.slow
def test_read_only_state_directory_is_a_clear_error_and_recovers(
    tmp_path: Path, small_state_dir: Path
) -> None:
    """A read-only state directory fails the poll cleanly; remounted writable, it recovers."""
    with http_peer() as peer:
        feed = Publisher(peer)
        config = _config(tmp_path, feed.url, peer.url("/hook"))
        feed.publish(dataset(2))
        assert run_cli(config, "run", "--once").returncode == 0
        feed.publish(dataset(3))
        assert _mount("-o", "remount,ro", str(small_state_dir)).returncode == 0
        try:
            readonly = run_cli(config, "run", "--once")
        finally:
            assert _mount("-o", "remount,rw", str(small_state_dir)).returncode == 0
        err = readonly.stderr.decode()
        assert readonly.returncode != 0
        assert "Traceback" not in err, err[-2000:]
        assert "state store" in err, err[-2000:]
        assert integrity_ok(small_state_dir / "state.db") == "ok"
        recovered = run_cli(config, "run", "--once")
        assert recovered.returncode == 0, recovered.stderr.decode()[-2000:]
        keys = _keys(peer)
    record_figure(
        "storage_read_only",
        {"faults_injected": {"read_only": 1}, "losses": len(_expected(3) - keys)},
    )
    assert keys == _expected(3)
