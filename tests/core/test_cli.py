"""The command line: exit codes, located errors, no tracebacks for user mistakes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

from monitor import __version__
from monitor.resources import bundled_path, default_dataset


def cli(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path):
    """A config folder with a copy of the bundled rule pack and dataset."""
    shutil.copytree(
        bundled_path("rules"), tmp_path / "rules", ignore=shutil.ignore_patterns("tests")
    )
    shutil.copy(default_dataset(), tmp_path / "magnets.csv")
    (tmp_path / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        state: sqlite:///state/state.db
        rules: [rules/]
        initial: alert_all
        sources:
          magnets: {{type: file, path: magnets.csv}}
        channels:
          out: {{type: file, format: email, path: {tmp_path / "sent"}}}
        routes:
          - channels: [out]
        """)
    )
    return tmp_path


def test_version():
    """--version prints the package version."""
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"customs-monitor {__version__}"


def test_no_command_prints_help_and_exits_2():
    """A bare invocation is a usage error."""
    result = cli()
    assert result.returncode == 2 and "COMMAND" in result.stdout


def test_unknown_option_is_a_usage_error():
    """argparse errors exit 2 without a traceback."""
    result = cli("run", "--bogus")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_validate_accepts_the_shipped_config_and_packs(project):
    """The bundled rule packs and a correct config validate cleanly."""
    result = cli("--config", str(project / "monitor.yaml"), "validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok:")


def test_broken_rule_file_is_located_and_exit_2(project):
    """A broken rule pack gives path:line:column and exit code 2, no traceback."""
    pack = project / "rules" / "rare_earth_magnets.yaml"
    pack.write_text(pack.read_text().replace("window: 6", "window: [6"))
    result = cli("--config", str(project / "monitor.yaml"), "validate")
    assert result.returncode == 2
    assert f"{pack}:" in result.stderr and "Traceback" not in result.stderr


def test_run_with_a_broken_rule_file_touches_nothing(project):
    """`run --once` refuses a broken pack before the state store is opened."""
    pack = project / "rules" / "rare_earth_magnets.yaml"
    pack.write_text(pack.read_text() + "\n  - id: Bad Id\n")
    result = cli("--config", str(project / "monitor.yaml"), "run", "--once")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{pack}:" in result.stderr
    assert not (project / "state").exists()


def test_run_once_twice_sends_nothing_the_second_time(project):
    """The second `run --once` over unchanged data sends no message."""
    first = cli("--config", str(project / "monitor.yaml"), "run", "--once")
    assert first.returncode == 0, first.stderr
    sent = sorted((project / "sent").iterdir())
    assert sent
    assert f"{len(sent)} message(s) sent" in first.stdout
    second = cli("--config", str(project / "monitor.yaml"), "run", "--once")
    assert second.returncode == 0, second.stderr
    assert "0 message(s) sent" in second.stdout
    assert sorted((project / "sent").iterdir()) == sent


def test_config_from_environment_variable(project):
    """CUSTOMS_MONITOR_CONFIG names the config when --config is absent."""
    import os

    env = {**os.environ, "CUSTOMS_MONITOR_CONFIG": str(project / "monitor.yaml")}
    result = cli("validate", env=env)
    assert result.returncode == 0 and str(project / "monitor.yaml") in result.stdout


def test_global_options_after_the_subcommand(project):
    """`customs-monitor run --config monitor.yaml` works like `--config ... run`."""
    result = cli("run", "--once", "--config", str(project / "monitor.yaml"))
    assert result.returncode == 0, result.stderr
    assert sorted((project / "sent").iterdir())


def test_global_options_after_a_nested_subcommand(project):
    """Options after `silence list` reach it too (-c and --log-level)."""
    result = cli("silence", "list", "-c", str(project / "monitor.yaml"), "--log-level", "ERROR")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no active silences"
    assert (project / "state" / "state.db").exists()


def test_global_option_given_twice_the_later_one_wins(project, tmp_path):
    """A config given after the subcommand overrides one given before it."""
    result = cli(
        "--config",
        str(tmp_path / "nowhere.yaml"),
        "validate",
        "--config",
        str(project / "monitor.yaml"),
    )
    assert result.returncode == 0, result.stderr
