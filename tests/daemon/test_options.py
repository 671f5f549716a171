"""The ``daemon:`` section: defaults, typed values and located problems."""

from __future__ import annotations

from monitor.config.daemon import DaemonOptions, check_daemon_options
from monitor.yamlload import load_yaml


def _daemon(text: str):
    return load_yaml(text, "monitor.yaml")["daemon"]


def test_missing_section_means_defaults():
    """No daemon section: no problems, loopback health endpoint, ops after 3 failures."""
    assert check_daemon_options(None, "monitor.yaml") == []
    opts = DaemonOptions.from_config(None)
    assert opts.health.bind == "127.0.0.1"
    assert opts.ops.source_failures == 3
    assert opts.instance_id


def test_values_are_read():
    """Given values end up typed in DaemonOptions."""
    obj = _daemon(
        "daemon:\n  instance_id: host-a\n  health: {port: 9100, enabled: no}\n"
        "  ops: {channels: [ops-mail], source_failures: 5}\n  ha: {lease_name: prod}\n"
    )
    assert check_daemon_options(obj, "monitor.yaml") == []
    opts = DaemonOptions.from_config(obj)
    assert (opts.instance_id, opts.health.port, opts.health.enabled) == ("host-a", 9100, False)
    assert opts.ops.channels == ("ops-mail",)
    assert opts.ops.source_failures == 5
    assert opts.ha.lease_name == "prod"


def test_unknown_key_is_located_with_suggestion():
    """A misspelt key names its line and suggests the right one."""
    obj = _daemon("daemon:\n  ops:\n    source_failure: 3\n")
    [problem] = check_daemon_options(obj, "monitor.yaml")
    assert (problem.line, problem.column) == (3, 5)
    assert "did you mean 'source_failures'" in problem.message


def test_wrong_type_is_located():
    """A port that is not an integer is reported at its value."""
    obj = _daemon("daemon:\n  health:\n    port: high\n")
    [problem] = check_daemon_options(obj, "monitor.yaml")
    assert problem.line == 3
    assert "daemon.health.port must be an integer" in problem.message


def test_bind_must_be_an_address():
    """health.bind takes an IP address, not a host name."""
    obj = _daemon("daemon:\n  health: {bind: localhost}\n")
    [problem] = check_daemon_options(obj, "monitor.yaml")
    assert "must be an IP address" in problem.message


def test_ha_timings_that_break_fencing_are_rejected():
    """check + lost_after must stay below the server's dead-peer detection time."""
    obj = _daemon(
        "daemon:\n  ha: {keepalive_seconds: 3, check_seconds: 5, lost_after_seconds: 10}\n"
    )
    problems = check_daemon_options(obj, "monitor.yaml")
    assert any("must be below 4 x keepalive_seconds" in p.message for p in problems)


def test_default_ha_timings_are_consistent():
    """The defaults pass their own fencing and 30-second takeover checks."""
    obj = _daemon("daemon:\n  ha: {}\n")
    assert check_daemon_options(obj, "monitor.yaml") == []
