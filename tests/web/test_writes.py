"""The console's writes: silences (the CLI's validation, a preview, expire) and re-sending a
failed message; each needs a signed-in token holder and a CSRF token, and is recorded."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta

import pytest

from monitor.cli import main
from monitor.clock import ManualClock
from monitor.notify import silences
from monitor.notify.deliver import deliver_due
from monitor.store.base import OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENT
from monitor.web import queries
from tests.notify.servers import Reply
from tests.web.conftest import TOKENS, csrf_of, sign_in


def silence_form(client, **fields):
    token = csrf_of(client.get("/silences").get_data(as_text=True))
    data = {"rule": "", "matches": "", "until": "", "comment": "", "step": "add", **fields}
    return client.post("/silences", data={**data, "csrf_token": token})


def test_adding_a_silence_records_who_and_when(fresh) -> None:
    """The silence is stored as the signed-in token holder's, and the action is recorded."""
    client = fresh.app().test_client()
    sign_in(client, "bob")
    answer = silence_form(
        client,
        rule="magnets-six-month-high",
        matches="partner=US",
        until="7d",
        comment="known: export licences",
    )
    assert answer.status_code == 302
    (added,) = silences.list_silences(fresh.store, include_expired=True)
    assert added.created_by == "bob"
    assert added.rule == "magnets-six-month-high" and added.matchers == {"partner": "US"}
    assert added.ends_at == fresh.clock.now() + timedelta(days=7)
    (action,) = queries.console_actions(fresh.store)
    assert (action.who, action.action, action.target) == ("bob", "silence.add", str(added.id))
    assert action.at == fresh.clock.now() and action.remote == "127.0.0.1"
    page = client.get("/silences").get_data(as_text=True)
    assert "Silence 1 added: rule=magnets-six-month-high, partner=US" in page


def test_preview_shows_what_the_silence_would_mute(fresh) -> None:
    """Preview: the recorded alerts it matches, and nothing is stored."""
    client = fresh.app().test_client()
    sign_in(client)
    answer = silence_form(
        client,
        step="preview",
        rule="magnets-six-month-high",
        matches="partner=US",
        until="2w",
        comment="c",
    )
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200
    expected = {
        r.key
        for r in queries.list_alerts(fresh.store, queries.AlertFilter(), limit=None)[0]
        if r.alert.rule_id == "magnets-six-month-high" and r.alert.partner == "US"
    }
    assert len(expected) == 3
    assert "<strong>3</strong> match it, on 1 series" in body
    shown = set(re.findall(r'<h2><a href="/alerts/([^"]+)"', body))
    assert {k.replace("|", "%7C") for k in expected} == shown
    assert silences.list_silences(fresh.store, include_expired=True) == []


@pytest.mark.parametrize(
    ("fields", "cli"),
    [
        (
            {"rule": "magnets-*", "until": "yesterday", "comment": "x"},
            ["--rule", "magnets-*", "--until", "yesterday", "--comment", "x"],
        ),
        (
            {"rule": "", "matches": "", "until": "7d", "comment": "x"},
            ["--until", "7d", "--comment", "x"],
        ),
        (
            {"rule": "r", "matches": "partner", "until": "7d", "comment": "x"},
            ["--rule", "r", "--match", "partner", "--until", "7d", "--comment", "x"],
        ),
        (
            {"rule": "r", "until": "2000-01-01", "comment": "x"},
            ["--rule", "r", "--until", "2000-01-01", "--comment", "x"],
        ),
    ],
)
def test_the_console_refuses_what_the_cli_refuses(fresh, capsys, fields, cli) -> None:
    """Same input, same refusal, same words, nothing stored."""
    client = fresh.app().test_client()
    sign_in(client)
    answer = silence_form(client, **fields)
    assert answer.status_code == 400
    code = main(["--config", str(fresh.folder / "monitor.yaml"), "silence", "add", *cli])
    assert code == 2
    cli_problem = capsys.readouterr().err.splitlines()[0].split(": ", 1)[1]
    page = answer.get_data(as_text=True).replace("&#39;", "'")
    assert cli_problem in page
    assert silences.list_silences(fresh.store, include_expired=True) == []


def test_expiring_a_silence(fresh) -> None:
    """Expire ends it now and records who did."""
    client = fresh.app().test_client()
    sign_in(client)
    silence_form(client, rule="magnets-monthly-jump", until="1d", comment="noise")
    token = csrf_of(client.get("/silences").get_data(as_text=True))
    answer = client.post("/silences/1/expire", data={"csrf_token": token})
    assert answer.status_code == 302
    (s,) = silences.list_silences(fresh.store, include_expired=True)
    assert s.expired_at == fresh.clock.now()
    assert [a.action for a in queries.console_actions(fresh.store)] == [
        "silence.expire",
        "silence.add",
    ]


def lose_the_action_log(site) -> None:
    """Rename console_actions in the SQLite file, so recording an action fails for real."""
    with sqlite3.connect(site.folder / "state.db") as db:
        db.execute("ALTER TABLE console_actions RENAME TO console_actions_gone")


def test_a_silence_whose_action_is_not_recorded_is_not_stored(fresh) -> None:
    """Adding is all or nothing: when the action log cannot be written, no silence is kept."""
    client = fresh.app().test_client()
    sign_in(client)
    token = csrf_of(client.get("/silences").get_data(as_text=True))
    lose_the_action_log(fresh)
    data = {"rule": "magnets-monthly-jump", "until": "1d", "comment": "noise", "step": "add"}
    answer = client.post("/silences", data={**data, "matches": "", "csrf_token": token})
    assert answer.status_code == 503
    assert "console_actions" in answer.get_data(as_text=True)
    assert silences.list_silences(fresh.store, include_expired=True) == []


def test_an_expiry_whose_action_is_not_recorded_is_undone(fresh) -> None:
    """Expiring is all or nothing: when the action log cannot be written, the silence goes on."""
    client = fresh.app().test_client()
    sign_in(client)
    silence_form(client, rule="magnets-monthly-jump", until="1d", comment="noise")
    token = csrf_of(client.get("/silences").get_data(as_text=True))
    lose_the_action_log(fresh)
    answer = client.post("/silences/1/expire", data={"csrf_token": token})
    assert answer.status_code == 503
    (s,) = silences.list_silences(fresh.store, include_expired=True)
    assert s.expired_at is None and s.is_active(fresh.clock.now())


def test_a_match_value_may_hold_a_comma(fresh) -> None:
    """The matches field is one label=value per line: a comma stays inside its value."""
    client = fresh.app().test_client()
    sign_in(client)
    answer = silence_form(
        client, matches="ops=true\nsubject=gacc, customs", until="1d", comment="known"
    )
    assert answer.status_code == 302
    (added,) = silences.list_silences(fresh.store, include_expired=True)
    assert added.matchers == {"ops": "true", "subject": "gacc, customs"}


def test_resend_puts_a_failed_message_back_and_delivery_sends_it(fresh) -> None:
    """Re-send: failed -> pending (due now), recorded; once the server takes it, it is sent."""
    client = fresh.app().test_client()
    sign_in(client)
    failed = [m for m in fresh.store.outbox() if m.state == OUTBOX_FAILED]
    target = failed[0].id
    token = csrf_of(client.get("/outbox").get_data(as_text=True))
    answer = client.post(f"/outbox/{target}/resend", data={"csrf_token": token})
    assert answer.status_code == 302
    states = {m.id: m.state for m in fresh.store.outbox()}
    assert states[target] == OUTBOX_PENDING
    assert sum(s == OUTBOX_FAILED for s in states.values()) == len(failed) - 1
    (action,) = queries.console_actions(fresh.store)
    assert (action.who, action.action, action.detail) == (
        "alice",
        "outbox.resend",
        {"channel": "desk"},
    )
    fresh.hook.default = Reply(200, "ok")
    try:
        before = len(fresh.hook.accepted())
        report = deliver_due(
            fresh.store, fresh.daemon.channels, clock=ManualClock(fresh.clock.now())
        )
        assert report.sent == 1
        assert len(fresh.hook.accepted()) == before + 1
    finally:
        fresh.hook.default = Reply(404, "no_service")
    assert {m.id: m.state for m in fresh.store.outbox()}[target] == OUTBOX_SENT


def test_only_a_failed_message_can_be_resent(fresh) -> None:
    """A sent message is refused (it was accepted: another send would be a duplicate)."""
    client = fresh.app().test_client()
    sign_in(client)
    sent = next(m for m in fresh.store.outbox() if m.state == OUTBOX_SENT)
    token = csrf_of(client.get("/outbox").get_data(as_text=True))
    client.post(f"/outbox/{sent.id}/resend", data={"csrf_token": token})
    page = client.get("/outbox").get_data(as_text=True)
    assert f"message {sent.id} is sent, not failed" in page
    assert queries.console_actions(fresh.store) == []


def test_writes_need_a_sign_in(fresh) -> None:
    """Anonymous POSTs are refused (401) and change nothing."""
    client = fresh.app().test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    failed = next(m for m in fresh.store.outbox() if m.state == OUTBOX_FAILED)
    assert client.post(f"/outbox/{failed.id}/resend", data={"csrf_token": token}).status_code == 401
    answer = client.post(
        "/silences",
        data={"rule": "x", "until": "1d", "comment": "c", "step": "add", "csrf_token": token},
    )
    assert answer.status_code == 401
    assert silences.list_silences(fresh.store, include_expired=True) == []
    assert {m.id: m.state for m in fresh.store.outbox()}[failed.id] == OUTBOX_FAILED


def test_a_post_without_the_csrf_token_is_refused(fresh) -> None:
    """Signed in, but no CSRF token (a forged cross-site form): 400, nothing stored."""
    client = fresh.app().test_client()
    sign_in(client)
    data = {"rule": "magnets-*", "until": "1d", "comment": "forged", "step": "add"}
    answer = client.post("/silences", data=data)
    assert answer.status_code == 400
    assert "CSRF" in answer.get_data(as_text=True)
    other = fresh.app().test_client()  # another session's token does not fit this one
    answer = client.post(
        "/silences",
        data={**data, "csrf_token": csrf_of(other.get("/login").get_data(as_text=True))},
    )
    assert answer.status_code == 400
    assert silences.list_silences(fresh.store, include_expired=True) == []


def test_a_bearer_token_writes_without_csrf(fresh) -> None:
    """A script with Authorization: Bearer needs no CSRF token; a wrong token gets 401."""
    client = fresh.app().test_client()
    data = {"rule": "magnets-monthly-drop", "until": "1d", "comment": "api", "step": "add"}
    answer = client.post(
        "/silences", data=data, headers={"Authorization": f"Bearer {TOKENS['alice']}"}
    )
    assert answer.status_code == 302
    assert silences.list_silences(fresh.store)[0].created_by == "alice"
    wrong = client.post("/silences", data=data, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert len(silences.list_silences(fresh.store, include_expired=True)) == 1


def test_no_token_file_means_read_only(site) -> None:
    """Without token_file the console shows no form and refuses every write (403)."""
    from monitor.web.app import create_app
    from monitor.web.options import WebOptions

    client = create_app(site.backend(), WebOptions(enabled=True)).test_client()
    page = client.get("/silences").get_data(as_text=True)
    assert "Writes are off" in page and 'name="csrf_token"' not in page
    answer = client.post("/silences", data={"rule": "x", "until": "1d", "comment": "c"})
    assert answer.status_code == 403
    assert "writes are off" in answer.get_data(as_text=True)
    assert silences.list_silences(site.store, include_expired=True) == []
