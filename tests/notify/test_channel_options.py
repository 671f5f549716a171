"""Channel option checks that ``validate`` reports, located in monitor.yaml."""

from __future__ import annotations

import pytest

from monitor.notify import channel_class
from monitor.yamlload import load_yaml_file


def problems_for(tmp_path, text: str) -> list[str]:
    path = tmp_path / "monitor.yaml"
    path.write_text(text)
    raw = load_yaml_file(str(path))
    out = []
    for name, options in raw["channels"].items():
        cls = channel_class(str(options["type"]))
        out += [str(p) for p in cls.check_options(name, options, str(path))]
    return out


def test_missing_webhook_url_is_located(tmp_path) -> None:
    """A Slack channel without any form of its URL is reported at the channel."""
    [problem] = problems_for(tmp_path, "channels:\n  team:\n    type: slack\n")
    assert problem.endswith(
        "channel 'team': missing webhook_url (or webhook_url_file / webhook_url_env)"
    )
    assert ":3:" in problem


def test_secret_given_twice(tmp_path) -> None:
    """Giving a secret two ways is ambiguous and reported."""
    [problem] = problems_for(
        tmp_path,
        "channels:\n  bot:\n    type: slack_api\n    channel: C1\n    token: a\n    token_env: B\n",
    )
    assert "give token one way only" in problem and ":6:" in problem


@pytest.mark.parametrize(
    ("channel", "secret", "second"),
    [
        ("{type: email, host: h, from: a@b, to: c@d, username: u", "password", "password_file"),
        ('{type: alertmanager, url: "http://am:9093", username: u', "password", "password_env"),
        ('{type: alertmanager, url: "http://am:9093"', "bearer_token", "bearer_token_file"),
        ('{type: webhook, url: "http://x/in"', "secret", "secret_env"),
    ],
)
def test_optional_secret_given_twice(tmp_path, channel, secret, second) -> None:
    """An optional secret given two ways is refused like a required one, at the second key."""
    [problem] = problems_for(
        tmp_path, f"channels:\n  c: {channel},\n    {secret}: hunter2, {second}: X}}\n"
    )
    assert problem.endswith(f"channel 'c': give {secret} one way only (found {secret}, {second})")
    assert ":3:" in problem and "hunter2" not in problem


def test_unknown_console_format(tmp_path) -> None:
    """A console format that does not exist is reported with the choices."""
    [problem] = problems_for(
        tmp_path, "channels:\n  c:\n    type: console\n    format: [slack, mail]\n"
    )
    assert problem.endswith(
        ":4:21: channel 'c': format[1] must be one of text, slack, email, got 'mail' "
        "(did you mean 'email'?)"
    )


def test_unknown_option_suggests(tmp_path) -> None:
    """A misspelt option gets a suggestion (the shared key check)."""
    [problem] = problems_for(
        tmp_path,
        "channels:\n  m:\n    type: email\n    host: h\n"
        "    from: a@b\n    to: c@d\n    pasword_file: x\n",
    )
    assert "unknown key 'pasword_file'" in problem and "did you mean 'password_file'" in problem


def test_valid_channels_have_no_problems(tmp_path) -> None:
    """A correct configuration of every built-in channel passes."""
    assert (
        problems_for(
            tmp_path,
            """channels:
  a: {type: slack, webhook_url_env: SLACK_URL}
  b: {type: slack_api, token_file: /run/t, channel: C1}
  c: {type: email, host: h, from: a@b, to: [c@d], password_env: P, username: u}
  d: {type: alertmanager, url: "http://am:9093"}
  e: {type: webhook, url: "http://x/in", secret_env: S}
  f: {type: console, format: [slack, email]}
  g: {type: file, path: out, format: email}
""",
        )
        == []
    )
