"""A PostgreSQL state URL on an installation without the postgresql extra: `validate`, `run`,
`run --once` and `status` all say which extra to install, located at the config's `state:`,
exit 2, never a traceback. The real CLI runs as a subprocess with psycopg hidden
(tests/e2e/inject.py); no database is contacted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import run_cli
from tests.e2e.inject import HIDE

STATE = "postgresql://monitor:s3cret@127.0.0.1:5432/customs_never_created"


def write_config(folder: Path) -> Path:
    (folder / "feed.csv").write_text("period,reporter,partner,commodity,flow,measure,value\n")
    config = folder / "monitor.yaml"
    config.write_text(
        f"# the state store of an HA pair\nstate: {STATE}\n"
        "sources:\n  feed: {type: file, path: feed.csv}\n"
    )
    return config


@pytest.mark.parametrize("command", [["validate"], ["run"], ["run", "--once"], ["status"]])
def test_missing_driver_names_the_extra_to_install(tmp_path: Path, command: list[str]) -> None:
    """Without psycopg: one located problem naming the extra, exit 2, no traceback."""
    config = write_config(tmp_path)
    done = run_cli(config, *command, env={HIDE: "psycopg"}, module="tests.e2e.inject")
    err = done.stderr.decode()
    assert done.returncode == 2, err[-2000:]
    assert "Traceback" not in err and "ModuleNotFoundError" not in err
    assert (
        f"{config}:2:8: state: postgresql://monitor:***@127.0.0.1:5432/customs_never_created "
        "needs the psycopg driver, which is not installed: "
        "pip install 'customs-monitor[postgresql]'"
    ) in err
    assert "s3cret" not in err + done.stdout.decode()


def test_installed_driver_passes_validate(tmp_path: Path) -> None:
    """With psycopg installed the same config validates (the check does not connect)."""
    done = run_cli(write_config(tmp_path), "validate")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.decode().startswith("ok: ")
