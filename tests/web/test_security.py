"""The console's security: headers on every response, sign-in rules, no secret in any byte it
serves, and the daemon.web checks validate runs."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest

from monitor.cli import main
from monitor.render.links import alert_path, series_path
from monitor.web.options import TokenFile, check_web_options
from tests.web.conftest import HMAC_SECRET, HOOK_SECRET_PATH, TOKENS, csrf_of, sign_in
from tests.web.scenario import SERIES

US_JULY_HIGH = "magnets-six-month-high|CN|US|85051110|export|net_weight_kg|2025-07"


def every_path() -> list[str]:
    return [
        "/alerts",
        "/alerts?" + urlencode({"partner": "US", "state": "firing"}),
        alert_path(US_JULY_HIGH),
        "/charts/alert.png?" + urlencode({"key": US_JULY_HIGH}),
        series_path("magnets", {**SERIES, "partner": "US"}),
        "/charts/series.png?" + series_path("magnets", {**SERIES, "partner": "US"}).split("?")[1],
        "/releases",
        "/releases/1",
        "/silences",
        "/outbox",
        "/sources",
        "/activity",
        "/login",
        "/static/console.css",
        "/no/such/page",
        alert_path("missing|CN|US|1|export|value_usd|2025-01"),
    ]


@pytest.fixture(scope="module")
def client(site):
    return site.app().test_client()


def test_every_response_sets_the_security_headers(client) -> None:
    """CSP without unsafe-inline (and no script at all), nosniff, no framing, a referrer policy."""
    for path in every_path():
        answer = client.get(path)
        answer.close()
        headers = answer.headers
        csp = headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert "default-src 'none'" in csp and "script-src" not in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "same-origin", path


def test_pages_are_not_cached_but_static_files_may_be(client) -> None:
    """Pages carry CSRF tokens and names: no-store; the stylesheet is cacheable."""
    assert client.get("/alerts").headers["Cache-Control"] == "no-store"
    css = client.get("/static/console.css")
    css.close()
    assert "no-store" not in css.headers.get("Cache-Control", "")


def test_no_page_has_inline_script_or_style(client) -> None:
    """Nothing a CSP without unsafe-inline would block: no <script>, no style attribute."""
    for path in every_path():
        answer = client.get(path)
        answer.close()
        if answer.mimetype != "text/html":
            continue
        body = answer.get_data(as_text=True)
        assert "<script" not in body and "<style" not in body, path
        assert not re.search(r"\sstyle=", body), path
        assert not re.search(r"\son[a-z]+=", body), path


def test_no_secret_in_any_page_or_header(site) -> None:
    """Webhook URL path, HMAC secret and the console tokens appear in no response, signed in
    or not (the outbox's errors name only the webhook's host)."""
    secrets = [HOOK_SECRET_PATH, HOOK_SECRET_PATH.rsplit("/", 1)[1], HMAC_SECRET, *TOKENS.values()]
    anonymous = site.app().test_client()
    signed = site.app().test_client()
    sign_in(signed, "alice")
    for client in (anonymous, signed):
        for path in every_path():
            answer = client.get(path)
            raw = answer.get_data() + str(answer.headers).encode()
            answer.close()
            for secret in secrets:
                assert secret.encode() not in raw, (path, secret)


def test_a_wrong_token_signs_nobody_in(client) -> None:
    """401, a message that does not echo the token, and no session."""
    token = csrf_of(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"token": "guess-guess-guess-guess", "csrf_token": token})
    assert answer.status_code == 401
    assert "guess-guess" not in answer.get_data(as_text=True)
    assert "Sign out" not in client.get("/alerts").get_data(as_text=True)


def test_sign_in_never_redirects_off_the_console(site) -> None:
    """next=https://elsewhere lands on /alerts (no open redirect)."""
    app = site.app()
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        client = app.test_client()
        token = csrf_of(client.get("/login").get_data(as_text=True))
        answer = client.post(
            "/login", data={"token": TOKENS["bob"], "csrf_token": token, "next": target}
        )
        assert answer.headers["Location"] == "/alerts", target


def test_session_cookie_is_httponly_and_samesite_strict(site) -> None:
    """The session cookie cannot be read by a script nor sent by another site's form."""
    client = site.app().test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"token": TOKENS["alice"], "csrf_token": token})
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_a_changed_token_ends_its_sessions(site, tmp_path) -> None:
    """The token file changes alice's token: her session ends at once, bob's goes on."""
    from monitor.web.app import create_app
    from monitor.web.options import WebOptions

    path = tmp_path / "tokens"
    path.write_text(f"alice:{TOKENS['alice']}\nbob:{TOKENS['bob']}\n")
    options = WebOptions(enabled=True, token_file=str(path))
    app = create_app(site.backend(), options, TokenFile(str(path)))
    alice, bob = app.test_client(), app.test_client()
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    assert "Sign out" in alice.get("/alerts").get_data(as_text=True)
    path.write_text(f"alice:a-brand-new-token-0000000000\nbob:{TOKENS['bob']}\n")
    assert "Sign out" not in alice.get("/alerts").get_data(as_text=True)
    assert "Sign out" in bob.get("/alerts").get_data(as_text=True)


def test_require_login_guards_reads(site) -> None:
    """require_login: every page but sign-in redirects there; charts answer 401."""
    client = site.app(require_login=True).test_client()
    answer = client.get("/alerts?partner=US")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?" + urlencode({"next": "/alerts?partner=US"})
    assert client.get("/login").status_code == 200
    sign_in(client)
    assert client.get("/alerts?partner=US").status_code == 200


def test_off_loopback_every_read_needs_a_sign_in(site) -> None:
    """Bound to a non-loopback address, reads need a sign-in even without require_login."""
    assert site.app(bind="0.0.0.0").test_client().get("/sources").status_code == 302


# -- validate -----------------------------------------------------------------------------------
def config(tmp_path: Path, web: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(f"state_dir: {tmp_path}\ndaemon:\n  web: {web}\n")
    return path


def validate(path: Path, capsys) -> tuple[int, str]:
    code = main(["--config", str(path), "validate"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_validate_refuses_a_network_bind_without_tokens(tmp_path, capsys) -> None:
    """bind 0.0.0.0 and no token_file: exit 2, located at the bind key."""
    code, out = validate(config(tmp_path, "{bind: 0.0.0.0}"), capsys)
    assert code == 2
    assert f"{tmp_path / 'monitor.yaml'}:3:" in out
    wanted = "daemon.web: bind 0.0.0.0 is reachable from the network: set daemon.web.token_file"
    assert wanted in out


def test_validate_accepts_a_network_bind_with_tokens(tmp_path, capsys) -> None:
    """The same bind with a good token file is fine."""
    (tmp_path / "tokens").write_text("alice:0123456789abcdef0123\n")
    code, out = validate(config(tmp_path, "{bind: 0.0.0.0, token_file: tokens}"), capsys)
    assert code == 0, out


def test_token_file_problems_are_located_and_never_show_a_token(tmp_path, capsys) -> None:
    """Bad lines are named by file and line; the short token itself is not printed."""
    tokens = tmp_path / "tokens"
    tokens.write_text("# console\nalice:short-secret\nbob\nalice:0123456789abcdef0123\n")
    code, out = validate(config(tmp_path, "{token_file: tokens}"), capsys)
    assert code == 2
    assert f"{tokens}:2:7: the token of 'alice' is shorter than 16 characters" in out
    assert f"{tokens}:3:1: expected NAME:TOKEN" in out
    assert "short-secret" not in out and "0123456789abcdef0123" not in out


@pytest.mark.parametrize(
    ("web", "problem"),
    [
        ("{public_url: 'https://user:pw@example.org'}", "must not carry a user name or password"),
        ("{public_url: 'https://example.org/?a=1'}", "must not have a query or fragment"),
        ("{public_url: 'ftp://example.org'}", "must be an http:// or https:// URL"),
        ("{port: 9464}", "is the health endpoint's port"),
        ("{bind: localhost}", "must be an IP address"),
        ("{prot: 1}", "unknown key 'prot' (did you mean 'port'?)"),
    ],
)
def test_validate_checks_the_web_options(tmp_path, capsys, web, problem) -> None:
    """Each bad daemon.web option is one located problem."""
    code, out = validate(config(tmp_path, web), capsys)
    assert code == 2
    assert problem in out


def test_missing_web_extra_is_named(tmp_path) -> None:
    """A console configured without Flask installed says which extra to install."""
    from monitor.config import load_config

    problems = check_web_options(load_config(str(config(tmp_path, "{}"))), installed=False)
    assert [p.message for p in problems] == [
        "daemon.web: the console needs the web extra: pip install 'customs-monitor[web]' "
        "(or set daemon.web.enabled: false)"
    ]


def test_a_broken_token_file_allows_no_write(tmp_path, caplog) -> None:
    """A token file that stops parsing gives no token at all (logged without its content)."""
    path = tmp_path / "tokens"
    path.write_text(f"alice:{TOKENS['alice']}\n")
    tokens = TokenFile(str(path))
    assert tokens.current().who(TOKENS["alice"]) == "alice"
    path.write_text(f"alice {TOKENS['alice']}\n")  # the colon lost in an edit
    assert not tokens.current()
    assert TOKENS["alice"] not in caplog.text
    assert "token file refused, no writes until fixed" in caplog.text


def test_a_token_file_missing_at_start_is_logged(tmp_path, caplog) -> None:
    """A token file absent when the console starts is logged once, naming the file."""
    path = tmp_path / "console-tokens"
    tokens = TokenFile(str(path))
    assert not tokens.current()
    refused = [r.getMessage() for r in caplog.records if "token file refused" in r.getMessage()]
    assert len(refused) == 1
    assert str(path) in refused[0] and "cannot read" in refused[0]
