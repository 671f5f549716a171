"""The render, send-test and silence commands through the real CLI entry point."""

from __future__ import annotations

import email
import email.policy
import json

import pytest

from monitor.cli import main
from monitor.notify.blockkit import check_payload
from monitor.notify.preview import MARKER
from monitor.resources import default_dataset
from tests.notify.servers import Reply

HOOK = "/services/T1/B1/cmdSECRET"


@pytest.fixture
def config(tmp_path, peer):
    path = tmp_path / "monitor.yaml"
    path.write_text(f"""
state: sqlite:///{tmp_path / "state.db"}
sources:
  magnets: {{type: file, path: {default_dataset()}}}
channels:
  team-slack: {{type: slack, webhook_url: "{peer.url}{HOOK}"}}
  mail-outbox: {{type: file, path: {tmp_path / "outbox"}, format: email}}
routes:
  - channels: [team-slack, mail-outbox]
""")
    return str(path)


def test_render_previews_slack_and_email(config, tmp_path, capsys, peer) -> None:
    """render prints each channel's message and writes the Slack JSON and the .eml; it sends
    nothing."""
    out = tmp_path / "preview"
    code = main(
        [
            "--config",
            config,
            "render",
            "--rule",
            "magnets-six-month-high",
            "--period",
            "2025-07",
            "--data",
            str(default_dataset()),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "United States hit a six-month high in July 2025" in printed
    slack = json.loads((out / "magnets-six-month-high-2025-07-team-slack.json").read_text())
    assert check_payload(slack) == []
    mail = email.message_from_bytes(
        (out / "magnets-six-month-high-2025-07-mail-outbox.eml").read_bytes(),
        policy=email.policy.default,
    )
    assert "619 t" in mail.get_body(("plain",)).get_content()
    assert peer.received == []


def test_render_only_one_channel(config, tmp_path) -> None:
    """--channel limits the preview to that channel."""
    out = tmp_path / "preview"
    main(
        [
            "--config",
            config,
            "render",
            "--rule",
            "magnets-six-month-high",
            "--period",
            "2025-07",
            "--data",
            str(default_dataset()),
            "--out",
            str(out),
            "--channel",
            "mail-outbox",
        ]
    )
    assert [p.suffix for p in out.iterdir() if p.name != MARKER] == [".eml"]


def _render(config: str, out) -> int:
    return main(
        [
            "--config",
            config,
            "render",
            "--rule",
            "magnets-six-month-high",
            "--period",
            "2025-07",
            "--data",
            str(default_dataset()),
            "--out",
            str(out),
            "--channel",
            "mail-outbox",
        ]
    )


def test_render_again_replaces_its_own_preview(config, tmp_path) -> None:
    """A second preview into the folder the first one made replaces its files."""
    out = tmp_path / "preview"
    assert _render(config, out) == 0
    eml = out / "magnets-six-month-high-2025-07-mail-outbox.eml"
    eml.write_bytes(b"stale")
    assert _render(config, out) == 0
    assert b"619 t" in eml.read_bytes()


def test_render_never_replaces_a_file_it_did_not_write(config, tmp_path, capsys) -> None:
    """In a folder that is not a preview folder, an existing file of the same name is kept and
    the command exits 2 naming it."""
    out = tmp_path / "docs"
    out.mkdir()
    mine = out / "magnets-six-month-high-2025-07-mail-outbox.eml"
    mine.write_text("my saved email")
    assert _render(config, out) == 2
    assert mine.read_text() == "my saved email"
    assert "not written by a preview" in capsys.readouterr().err


def test_render_unknown_rule_suggests(config, capsys) -> None:
    """A misspelt rule id exits 2 with a suggestion."""
    code = main(
        [
            "--config",
            config,
            "render",
            "--rule",
            "magnets-six-month-hihg",
            "--period",
            "2025-07",
            "--data",
            str(default_dataset()),
        ]
    )
    assert code == 2
    assert "did you mean 'magnets-six-month-high'" in capsys.readouterr().err


def test_render_when_rule_does_not_fire(config, capsys) -> None:
    """For a month the rule does not fire, render says so and lists months where it does."""
    code = main(
        [
            "--config",
            config,
            "render",
            "--rule",
            "magnets-six-month-high",
            "--period",
            "2024-07",
            "--data",
            str(default_dataset()),
        ]
    )
    assert code == 0
    assert "does not fire for 2024-07" in capsys.readouterr().err


def test_send_test_marks_the_message(config, peer, capsys) -> None:
    """send-test delivers one [TEST] message that validates as Block Kit."""
    assert main(["--config", config, "send-test", "--channel", "team-slack"]) == 0
    body = peer.received[0].json
    assert body["blocks"][0]["text"]["text"].startswith("[TEST]")
    assert "nothing fired" in body["text"]
    assert peer.block_problems == []
    assert "sent a test message through 'team-slack'" in capsys.readouterr().out


def test_send_test_failure_exit_1_without_secret(config, peer, capsys) -> None:
    """A dead webhook makes send-test fail (exit 1), say it is permanent, hide the URL."""
    peer.default = Reply(404, "no_service")
    assert main(["--config", config, "send-test", "--channel", "team-slack"]) == 1
    out = capsys.readouterr().out
    assert "permanent" in out and "cmdSECRET" not in out


def test_send_test_unknown_channel(config, capsys) -> None:
    """An unknown channel name exits 2 with the configured names."""
    assert main(["--config", config, "send-test", "--channel", "team-slak"]) == 2
    assert "did you mean 'team-slack'" in capsys.readouterr().err


def test_silence_add_list_expire(config, capsys) -> None:
    """A silence can be added, is listed as active, and expired by id."""
    assert (
        main(
            [
                "--config",
                config,
                "silence",
                "add",
                "--rule",
                "magnets-*",
                "--match",
                "partner=US",
                "--until",
                "7d",
                "--comment",
                "export licences",
            ]
        )
        == 0
    )
    assert "silence 1 added: rule=magnets-*, partner=US" in capsys.readouterr().out
    main(["--config", config, "silence", "list"])
    listed = capsys.readouterr().out
    assert "active" in listed and "export licences" in listed
    assert main(["--config", config, "silence", "expire", "1"]) == 0
    main(["--config", config, "silence", "list"])
    assert "no active silences" in capsys.readouterr().out


def test_silence_bad_until(config, capsys) -> None:
    """An unreadable --until is a usage error (exit 2) with the accepted forms."""
    assert (
        main(
            [
                "--config",
                config,
                "silence",
                "add",
                "--rule",
                "r",
                "--until",
                "soon",
                "--comment",
                "c",
            ]
        )
        == 2
    )
    assert "12h, 7d, 2w" in capsys.readouterr().err


def _silence(config: str, *extra: str) -> int:
    return main(["silence", "add", "--config", config, "--until", "7d", "--comment", "why", *extra])


def test_silence_with_a_misspelt_field_is_refused(config, capsys) -> None:
    """--match partnr=US could never match: exit 2, 'did you mean partner', nothing stored."""
    assert _silence(config, "--rule", "magnets-*", "--match", "partnr=US") == 2
    assert "did you mean 'partner'" in capsys.readouterr().err
    main(["--config", config, "silence", "list", "--all"])
    assert capsys.readouterr().out.strip() == "no silences"


def test_silence_of_an_unknown_rule_is_refused(config, capsys) -> None:
    """An unknown rule id is refused with the closest rule id."""
    assert _silence(config, "--rule", "magnets-six-month-hgh") == 2
    assert "did you mean 'magnets-six-month-high'" in capsys.readouterr().err


def test_silence_pattern_matching_no_rule_is_refused(config, capsys) -> None:
    """A rule pattern must match at least one rule."""
    assert _silence(config, "--rule", "magnet-*") == 2
    assert "matches no rule" in capsys.readouterr().err


def test_silence_on_a_rule_label_and_an_ops_rule_is_accepted(config, capsys) -> None:
    """Labels the rules declare (desk) and the ops notices' rules can be silenced."""
    assert _silence(config, "--match", "desk=magnets") == 0
    assert _silence(config, "--rule", "ops-source-failing", "--match", "subject=gacc") == 0


def test_every_ops_rule_and_incident_label_can_be_silenced(config, capsys) -> None:
    """Each ops rule (a failed release, a failing template...) and the incident_id label are
    accepted, not refused as unknown."""
    from monitor.daemon import ops

    for rule in ops.RULES:
        assert _silence(config, "--rule", rule) == 0, capsys.readouterr().err
    assert _silence(config, "--rule", "ops-*", "--match", "incident_id=release-7") == 0


def test_silence_with_an_unknown_severity_is_refused(config, capsys) -> None:
    """severity=critcal is refused, suggesting critical."""
    assert _silence(config, "--rule", "magnets-*", "--match", "severity=critcal") == 2
    assert "did you mean 'critical'" in capsys.readouterr().err
