"""monitor.yaml loading: defaults, ${VAR}, located errors."""

from __future__ import annotations

import textwrap

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "monitor.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


GOOD = """\
state: sqlite:///state/state.db
rules: [rules/]
sources:
  magnets:
    type: file
    path: data/magnets.csv
    schedule: "*/30 * * * *"
channels:
  trade-desk: {type: console}
routes:
  - match: {severity: critical}
    channels: [trade-desk]
  - channels: [trade-desk]
"""


def test_no_config_uses_the_embedded_default(monkeypatch, tmp_path):
    """Without a file the bundled dataset, rules and a console channel are used."""
    monkeypatch.delenv("CUSTOMS_MONITOR_CONFIG", raising=False)
    monkeypatch.setenv("CUSTOMS_MONITOR_STATE_DIR", str(tmp_path))
    config = load_config(None)
    assert config.path is None
    assert config.sources["magnets"].type == "file"
    assert config.state == f"sqlite:///{tmp_path / 'state.db'}"
    assert [r.channels for r in config.routes] == [("console",)]


def test_a_state_dir_with_a_colon_is_taken_whole(monkeypatch, tmp_path):
    """CUSTOMS_MONITOR_STATE_DIR is a path as given (a colon included); only systemd's
    STATE_DIRECTORY lists several, of which the first is taken."""
    from monitor.config import default_state_dir

    monkeypatch.setenv("CUSTOMS_MONITOR_STATE_DIR", str(tmp_path / "a:b"))
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/one:/var/lib/two")
    assert default_state_dir() == str(tmp_path / "a:b")
    monkeypatch.delenv("CUSTOMS_MONITOR_STATE_DIR")
    assert default_state_dir() == "/var/lib/one"


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    """rules and sqlite paths are relative to the config file, not the working directory."""
    config = load_config(write(tmp_path, GOOD))
    assert config.rules == [str(tmp_path / "rules")]
    assert config.state == f"sqlite:///{tmp_path / 'state' / 'state.db'}"
    assert config.routes[0].match == {"severity": ("critical",)}


def test_channel_files_resolve_against_the_config_folder(tmp_path, monkeypatch):
    """A file channel's folder and a *_file secret are found beside the config, wherever the
    daemon was started from."""
    monkeypatch.chdir("/")
    cfg = load_config(
        write(
            tmp_path,
            """\
            channels:
              outbox: {type: file, path: sent}
              desk: {type: slack, webhook_url_file: secrets/webhook}
              abs: {type: file, path: /var/tmp/out}
            routes:
              - channels: [outbox, desk, abs]
            """,
        )
    )
    assert cfg.channels["outbox"].path == str(tmp_path / "sent")
    assert cfg.channels["desk"].webhook_url_file == str(tmp_path / "secrets" / "webhook")
    assert cfg.channels["abs"].path == "/var/tmp/out"


def test_environment_variables_are_substituted(tmp_path):
    """${VAR} reads the environment."""
    text = GOOD.replace("{type: console}", '{type: console, stream: "${OUT}"}')
    config = load_config(write(tmp_path, text), env={"OUT": "stderr"})
    assert config.channels["trade-desk"].stream == "stderr"


def test_missing_environment_variable_is_located_and_not_leaked(tmp_path):
    """A missing ${VAR} is an error at its line; the message names the variable only."""
    text = GOOD.replace("{type: console}", '{type: console, stream: "${SLACK_URL}"}')
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert "monitor.yaml:9:" in str(err.value)
    assert "environment variable SLACK_URL is not set" in str(err.value)


def test_unknown_key_suggests_the_right_one(tmp_path):
    """A typo in a top-level key is located, with 'did you mean'."""
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD.replace("routes:", "route:")))
    assert "monitor.yaml:10:1: unknown key 'route' (did you mean 'routes'?)" in str(err.value)


def test_unknown_channel_in_route_is_an_error(tmp_path):
    """Routes may only name configured channels."""
    with pytest.raises(
        ConfigError,
        match=r"monitor.yaml:12:\d+: route 'route-1': unknown "
        r"channel 'trade-dsk' \(did you mean 'trade-desk'\?\)",
    ):
        load_config(
            write(
                tmp_path,
                GOOD.replace("channels: [trade-desk]\n  - ", "channels: [trade-dsk]\n  - "),
            )
        )


def test_unknown_source_type_lists_the_known_ones(tmp_path):
    """A misspelt source type is located and suggested."""
    with pytest.raises(
        ConfigError,
        match=r"monitor.yaml:5:\d+: source 'magnets': unknown type "
        r"'fiel' \(did you mean 'file'\?\)",
    ):
        load_config(write(tmp_path, GOOD.replace("type: file", "type: fiel")))


def test_duplicate_keys_are_rejected(tmp_path):
    """YAML would silently keep the second 'state'; we refuse."""
    with pytest.raises(ConfigError, match=r"monitor.yaml:2:1: duplicate key 'state'"):
        load_config(write(tmp_path, "state: sqlite:///a.db\nstate: sqlite:///b.db\n"))


def test_wrong_type_is_located(tmp_path):
    """A value of the wrong type names its key and line."""
    with pytest.raises(ConfigError, match=r"monitor.yaml:2:8: rules must be a list, got"):
        load_config(write(tmp_path, GOOD.replace("rules: [rules/]", "rules: {a: 1}")))


def test_broken_yaml_is_located(tmp_path):
    """A YAML syntax error gives path:line:column."""
    with pytest.raises(ConfigError, match=r"monitor.yaml:\d+:\d+: invalid YAML"):
        load_config(write(tmp_path, "sources: [\n"))


def test_state_timeout_defaults_to_thirty_seconds_and_can_be_set(tmp_path):
    """state_timeout says how long to wait for a store locked by another process."""
    assert load_config(write(tmp_path, GOOD)).state_timeout == 30.0
    assert load_config(write(tmp_path, "state_timeout: 2\n" + GOOD)).state_timeout == 2.0
    with pytest.raises(ConfigError, match="state_timeout"):
        load_config(write(tmp_path, "state_timeout: 0\n" + GOOD))
