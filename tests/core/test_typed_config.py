"""Typed options: every source, channel and daemon option is checked by type, located, and
handed to its component as the validated model; ``validate`` reports every problem at once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.commands.validate import collect_problems
from monitor.config import ConfigModel, load_config, read_config
from monitor.config.channels import AnyChannelOptions
from monitor.config.options import registry
from monitor.config.sources import AnySourceOptions
from monitor.errors import ConfigError
from monitor.resources import bundled_path, default_dataset
from monitor.runtime import build_channels, build_source

MAIL = """\
channels:
  mail:
    type: email
    host: 127.0.0.1
    port: {port}
    from: monitor@example.org
    to: [desk@example.org]
    starttls: {starttls}
routes:
  - channels: [mail]
"""


def write(folder: Path, text: str, name: str = "monitor.yaml") -> str:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def problems_of(folder: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    _config, found = read_config(write(folder, text), env=env or {})
    return [str(p) for p in found]


def test_a_port_that_is_not_a_number_is_located_with_its_value(tmp_path):
    """port: "twenty-five" is refused at its value, naming the channel and what it got."""
    [problem] = problems_of(tmp_path, MAIL.format(port='"twenty-five"', starttls="true"))
    assert problem.endswith(
        "monitor.yaml:5:11: channel 'mail': port must be an integer, got 'twenty-five'"
    )


def test_send_test_with_a_wrong_port_is_a_config_error_not_a_traceback(tmp_path):
    """send-test stops at the config (exit 2, the located problem), before any SMTP."""
    path = write(tmp_path, MAIL.format(port='"twenty-five"', starttls="true"))
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", path, "send-test", "--channel", "mail"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "port must be an integer, got 'twenty-five'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_misspelt_boolean_is_refused_never_read_as_false(tmp_path):
    """starttls: flase is an error at its value (TLS is never silently off)."""
    [problem] = problems_of(tmp_path, MAIL.format(port=587, starttls="flase"))
    assert problem.endswith(
        "monitor.yaml:8:15: channel 'mail': starttls must be true or false, got 'flase'"
    )


@pytest.mark.parametrize(
    ("written", "read"),
    [("false", False), ("no", False), ("off", False), ('"false"', False), ("yes", True)],
)
def test_boolean_spellings_are_read(tmp_path, written, read):
    """YAML's boolean spellings (and quoted true/false) are read as the boolean they say."""
    config = load_config(write(tmp_path, MAIL.format(port=587, starttls=written)), env={})
    assert config.channels["mail"].starttls is read


def test_an_unknown_source_option_suggests_the_right_one(tmp_path):
    """A misspelt source option is located at the key, with "did you mean"."""
    [problem] = problems_of(
        tmp_path,
        """\
        sources:
          feed:
            type: url
            url: https://example.org/trade.csv
            rate_limt: 2
        """,
    )
    assert problem.endswith(
        "monitor.yaml:5:5: source 'feed': unknown key 'rate_limt' (did you mean 'rate_limit'?)"
    )


def test_an_unknown_daemon_option_suggests_the_right_one(tmp_path):
    """The daemon section is typed too: a misspelt key is located, with "did you mean"."""
    [problem] = problems_of(tmp_path, "daemon:\n  deliver_intervall: 5\n")
    assert problem.endswith(
        "monitor.yaml:2:3: daemon: unknown key 'deliver_intervall' "
        "(did you mean 'deliver_interval'?)"
    )


@pytest.mark.parametrize(
    ("instance_id", "why"),
    [("hôte-a", "printable ASCII"), ("h" * 48, "at most 47 characters")],
)
def test_an_instance_id_postgres_cannot_show_is_refused(tmp_path, instance_id, why):
    """daemon.instance_id must be what the HA lease can show as the holder: printable ASCII
    that fits PostgreSQL's application_name with the 'customs-monitor ' prefix."""
    [problem] = problems_of(tmp_path, f"daemon:\n  instance_id: {instance_id}\n")
    assert "monitor.yaml:2:16: daemon.instance_id must be " in problem and why in problem


def test_an_instance_id_of_47_printable_characters_is_taken(tmp_path):
    """The longest instance id that fits is accepted."""
    assert problems_of(tmp_path, f"daemon:\n  instance_id: {'h' * 47}\n") == []


def test_an_unset_variable_is_one_problem_naming_it(tmp_path):
    """${SLACK_URL} unset: one problem naming the variable, no "missing webhook_url" besides."""
    found = problems_of(
        tmp_path,
        """\
        channels:
          team: {type: slack, webhook_url: "${SLACK_URL}"}
        routes:
          - channels: [team]
        """,
    )
    assert len(found) == 1
    assert found[0].endswith("monitor.yaml:2:36: environment variable SLACK_URL is not set")


def test_a_variable_used_twice_is_one_problem(tmp_path):
    """The same unset variable in two places is one problem that lists the other place."""
    found = problems_of(
        tmp_path,
        """\
        channels:
          team: {type: slack, webhook_url: "${SLACK_URL}"}
          ops: {type: slack, webhook_url: "${SLACK_URL}"}
        routes:
          - channels: [team, ops]
        """,
    )
    assert found == [
        f"{tmp_path / 'monitor.yaml'}:2:36: environment variable SLACK_URL is not set "
        "(also used at line 3)"
    ]


def test_a_number_from_the_environment_is_typed(tmp_path):
    """port: ${SMTP_PORT} becomes the integer the variable holds."""
    path = write(tmp_path, MAIL.format(port='"${SMTP_PORT}"', starttls="true"))
    config = load_config(path, env={"SMTP_PORT": "2525"})
    assert config.channels["mail"].port == 2525


def test_a_wrong_value_from_the_environment_is_not_shown(tmp_path):
    """A variable's value that fails its check is not repeated in the message."""
    found = problems_of(
        tmp_path,
        MAIL.format(port='"${SMTP_PORT}"', starttls="true"),
        env={"SMTP_PORT": "hunter2"},
    )
    assert [p.split(": ", 1)[1] for p in found] == ["channel 'mail': port must be an integer"]


def test_a_secret_of_the_wrong_type_is_not_shown(tmp_path):
    """A password given as a list is refused without repeating it."""
    found = problems_of(
        tmp_path,
        MAIL.format(port=587, starttls="true").replace(
            "    starttls: true\n", "    starttls: true\n    password: [hunter2]\n"
        ),
    )
    assert [p.split(": ", 1)[1] for p in found] == ["channel 'mail': password must be text"]


def test_the_daemon_gets_the_typed_section(tmp_path):
    """daemon: values arrive typed (a number written as text is a number)."""
    config = load_config(write(tmp_path, 'daemon:\n  deliver_interval: "5"\n'), env={})
    assert config.daemon.deliver_interval == 5.0
    assert config.daemon.health.port == 9464


def test_components_receive_the_models_of_the_config(tmp_path):
    """build_source and build_channels hand each component the config's own model."""
    shutil.copy(default_dataset(), tmp_path / "magnets.csv")
    text = "sources:\n  magnets: {type: file, path: magnets.csv}\n" + MAIL.format(
        port=2525, starttls="false"
    )
    config = load_config(write(tmp_path, text), env={})
    source = build_source(config, "magnets")
    channels = build_channels(config)
    assert source.options is config.sources["magnets"]
    assert channels["mail"].options is config.channels["mail"]
    assert channels["mail"].port == 2525 and channels["mail"].starttls is False


def test_a_mapping_given_to_a_component_is_checked_by_its_model():
    """A channel built from a plain mapping refuses a wrong option as the config would."""
    from monitor.notify.email import EmailChannel

    with pytest.raises(ConfigError, match="channel 'mail': starttls must be true or false"):
        EmailChannel("mail", {"host": "h", "from": "a@b", "to": "c@d", "starttls": "flase"})


RULES_WITH_BAD_DEFAULTS = """\
pack: p
defaults:
  severity: hihg
rules:
  - id: a
    condition: {type: period_high, window: 6}
  - id: b
    condition: {type: period_high, window: 6}
  - id: c
    condition: {type: period_high, window: 6}
"""


def test_a_problem_in_defaults_is_reported_once(tmp_path):
    """A bad severity in a pack's defaults is one problem of the defaults, not one per rule."""
    rules = write(tmp_path, RULES_WITH_BAD_DEFAULTS, "rules.yaml")
    config = write(tmp_path, "rules: [rules.yaml]\n")
    found, _ = collect_problems(config, [])
    assert [str(p) for p in found] == [
        f"{rules}:3:13: defaults: severity 'hihg' is not one of info, warning, critical"
    ]


def test_validate_reports_config_rules_and_templates_in_one_run(tmp_path):
    """A config problem does not hide the rule packs' or the templates' problems."""
    shutil.copy(bundled_path("rules") / "rare_earth_magnets.yaml", tmp_path / "good.yaml")
    write(tmp_path, "pack: broken\nrules:\n  - id: x\n    conditon: {}\n", "broken.yaml")
    (tmp_path / "templates" / "slack").mkdir(parents=True)
    (tmp_path / "templates" / "slack" / "notice.md.j2").write_text("{{ summary_text\n")
    config = write(
        tmp_path,
        "rules: [good.yaml, broken.yaml]\ntemplates: templates/\n"
        + MAIL.format(port='"twenty-five"', starttls="true"),
    )
    found, _ = collect_problems(config, [])
    files = {Path(p.path).name for p in found}
    assert files == {"monitor.yaml", "broken.yaml", "notice.md.j2"}
    assert any("port must be an integer" in p.message for p in found)
    assert any("unknown key 'conditon'" in p.message for p in found)
    assert any("syntax error" in p.message for p in found)


def test_yaml_problems_and_option_problems_come_together(tmp_path):
    """A duplicate key does not stop the check of the options around it."""
    found = problems_of(
        tmp_path,
        """\
        state_timeout: 5
        state_timeout: 6
        daemon: {deliver_interval: soon}
        """,
    )
    assert len(found) == 2
    assert "duplicate key 'state_timeout'" in found[0]
    assert found[1].endswith("daemon.deliver_interval must be a number, got 'soon'")


def test_schema_types_every_option_of_every_source_and_channel(capsys):
    """schema's config part offers each type by its ``type`` and lists each of its options,
    refusing any other; the daemon section is typed to its leaves."""
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)["config"]
    defs = schema["$defs"]
    for field, union in (("sources", AnySourceOptions), ("channels", AnyChannelOptions)):
        entry = schema["properties"][field]["additionalProperties"]
        mapping = entry["discriminator"]["mapping"]
        assert set(mapping) == set(registry(union))
        for tag, model in registry(union).items():
            ref = defs[mapping[tag].rsplit("/", 1)[-1]]
            names = {info.alias or name for name, info in model.model_fields.items()}
            assert set(ref["properties"]) == names, tag
            assert ref["additionalProperties"] is False
    email = defs[mapping["email"].rsplit("/", 1)[-1]]["properties"]
    assert email["starttls"]["type"] == "boolean"
    assert email["port"]["anyOf"][0] == {"maximum": 65535, "minimum": 1, "type": "integer"}
    health = defs["HealthOptions"]["properties"]["port"]
    assert (health["type"], health["maximum"]) == ("integer", 65535)
    assert set(schema["properties"]) == set(ConfigModel.model_fields)
