"""Security: sandboxed templates, secrets never written anywhere, TLS verification, safe YAML,
paths that stay in their folder, and a health endpoint on loopback by default.

Peers are real: HTTP(S) servers on 127.0.0.1 (tests/e2e/harness.py), an aiosmtpd server, the
CLI run as a subprocess. The self-signed certificate is generated here with ``cryptography``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests

from monitor.config.daemon import DaemonOptions
from monitor.errors import ConfigError, DeliveryError, SourceError
from monitor.model import Alert
from monitor.notify.base import RenderedMessage
from monitor.notify.slack import SlackWebhookChannel
from monitor.render.env import TemplateEnv, default_summary
from monitor.resources import default_dataset
from monitor.sources._common import resolve_path
from monitor.sources.file import FileSource
from monitor.sources.gacc import GaccSource
from monitor.sources.url import UrlSource
from monitor.yamlload import load_yaml, load_yaml_file
from tests.e2e.harness import Answer, HttpPeer, Publisher, http_peer, run_cli, self_signed

# -- templates ------------------------------------------------------------------------------

HOSTILE = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{{ joiner.__init__.__globals__.os.environ }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ range.__self__ }}",
    "{% for k in ''.__class__.__base__.__subclasses__() %}{{ k }}{% endfor %}",
    "{{ config.__class__.__init__.__globals__ }}",
    "{{ request.application.__globals__ }}",
]
ENV_SECRET = "ENVSECRET-9c1d"


def _alert(summary: str) -> Alert:
    return Alert(
        rule_id="r1",
        period="2025-07",
        reporter="CN",
        partner="US",
        commodity="85051110",
        flow="export",
        measure="net_weight_kg",
        value=619000.0,
        unit="kg",
        summary=summary,
    )


@pytest.mark.parametrize("template", HOSTILE)
def test_template_string_cannot_escape_the_sandbox(template: str) -> None:
    """A hostile template string raises a clean ConfigError and reveals nothing."""
    os.environ["PROVE_ENV_SECRET"] = ENV_SECRET
    try:
        with pytest.raises(ConfigError) as exc:
            TemplateEnv().render_string(template, {"value": 1}, where="rule 'r1' summary")
        assert ENV_SECRET not in str(exc.value)
        assert str(exc.value).startswith("rule 'r1' summary")
    finally:
        del os.environ["PROVE_ENV_SECRET"]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_rule_summary_falls_back_to_the_default(template: str) -> None:
    """A rule summary that tries to escape renders the default headline, nothing else."""
    alert = _alert(template)
    assert TemplateEnv().render_summary(alert) == default_summary(alert)


@pytest.mark.parametrize(
    "template",
    [
        "{% include '/etc/passwd' %}",
        "{% include '../../../../../../etc/passwd' %}",
        "{% import '/etc/hostname' as h %}",
        "{{ cycler.__init__.__globals__.os.environ }}",
    ],
)
def test_template_file_cannot_read_files_or_environment(tmp_path: Path, template: str) -> None:
    """An override template file that includes /etc/passwd or reads os.environ is refused."""
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notice.txt.j2").write_text(template + "\n")
    env = TemplateEnv(str(tmp_path))
    with pytest.raises(ConfigError) as exc:
        env.render_strict("text/notice.txt.j2", {"value": 1})
    assert "root:" not in str(exc.value)


# -- YAML and paths -------------------------------------------------------------------------


PYTHON_TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "!!python/name:os.system",
    "!!python/object:builtins.object {{}}",
]


def _plain(value: object) -> bool:
    """Only what safe YAML builds: str/int/float/bool/None/date and lists/dicts of them."""
    import datetime

    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(
        value, str | int | float | bool | datetime.date | datetime.datetime
    )


@pytest.mark.parametrize("tag", PYTHON_TAGS)
def test_yaml_python_tags_never_run_anything(tmp_path: Path, tag: str) -> None:
    """`!!python/...` tags never build Python objects or run a command."""
    marker = tmp_path / "pwned"
    path = tmp_path / "monitor.yaml"
    path.write_text("sources: {}\nstate_dir: " + tag.format(marker=marker) + "\n")
    try:
        data = load_yaml_file(str(path))
    except ConfigError:
        data = None
    assert _plain(data)
    assert not marker.exists()


@pytest.mark.parametrize("tag", PYTHON_TAGS)
def test_yaml_python_tags_are_rejected_with_a_location(tmp_path: Path, tag: str) -> None:
    """`!!python/...` tags are a ConfigError located at the tagged value's line."""
    path = tmp_path / "monitor.yaml"
    path.write_text("sources: {}\nstate_dir: " + tag.format(marker=tmp_path / "m") + "\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml_file(str(path))
    assert re.match(rf"^{re.escape(str(path))}:2:\d+: ", str(exc.value))


def test_yaml_alias_bomb_is_refused_with_a_location() -> None:
    """A billion-laughs alias chain is a located ConfigError, never a 10**9-item expansion."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(ConfigError) as exc:
        load_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert re.match(r"^bomb\.yaml:\d+:\d+: ", str(exc.value))


def test_relative_path_cannot_escape_the_config_folder(tmp_path: Path) -> None:
    """sources/_common.resolve_path: `../` out of the config folder is a SourceError."""
    with pytest.raises(SourceError, match="escapes the configuration folder"):
        resolve_path("feed", "../../etc/passwd", str(tmp_path))
    with pytest.raises(SourceError, match="escapes"):
        resolve_path("feed", "inbox/../../outside", str(tmp_path))
    assert resolve_path("feed", "inbox/x.csv", str(tmp_path)) == tmp_path.resolve() / "inbox/x.csv"


def test_gacc_drop_folder_cannot_escape(tmp_path: Path) -> None:
    """gacc: `path: ../elsewhere` is refused before anything is read."""
    (tmp_path / "elsewhere").mkdir()
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    source = GaccSource("gacc", {"path": "../elsewhere"}, base_dir=str(config_dir))
    with pytest.raises(SourceError, match="escapes the configuration folder"):
        source.fetch()


def test_file_source_path_cannot_escape(tmp_path: Path) -> None:
    """file: `path: ../outside.csv` is refused like every other relative source path."""
    (tmp_path / "outside.csv").write_bytes(default_dataset().read_bytes())
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    source = FileSource("f", {"path": "../outside.csv"}, base_dir=str(config_dir))
    with pytest.raises(SourceError, match="escapes"):
        source.fetch()


def test_health_endpoint_binds_loopback_by_default() -> None:
    """daemon.health.bind defaults to 127.0.0.1 (metrics are not for the internet)."""
    assert DaemonOptions.from_config({}).health.bind == "127.0.0.1"
    assert DaemonOptions.from_config({"health": {"port": 9999}}).health.bind == "127.0.0.1"


def test_health_server_listens_on_loopback_only() -> None:
    """The real HealthServer with default options accepts on 127.0.0.1 and nowhere else."""
    from monitor.daemon.health import HealthServer, Readiness
    from monitor.daemon.metrics import Metrics

    server = HealthServer(Metrics(None), lambda: Readiness(True, {}), port=0)
    try:
        assert server.httpd.server_address[0] == "127.0.0.1"
    finally:
        server.httpd.server_close()


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_peer(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(folder)
    with http_peer(tls=(cert, key)) as peer:
        Publisher(peer).publish(default_dataset().read_bytes())
        yield peer, cert


def test_url_source_refuses_a_self_signed_server(tls_peer: tuple[HttpPeer, Path]) -> None:
    """url source: HTTPS with an unknown CA fails with a SourceError (verification is on)."""
    peer, _ = tls_peer
    source = UrlSource("feed", {"url": peer.url("/feed.csv"), "timeout": 5})
    with pytest.raises(SourceError, match=r"TLS certificate of 127.0.0.1:\d+ not trusted"):
        source.fetch()


def test_url_source_accepts_the_server_with_its_ca_bundle(
    tls_peer: tuple[HttpPeer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """url source: the same server is read once its CA is configured as ca_bundle."""
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    peer, cert = tls_peer
    source = UrlSource("feed", {"url": peer.url("/feed.csv"), "ca_bundle": str(cert)})
    assert not source.fetch().observations.empty


def test_ca_bundle_wins_over_the_environment(
    tls_peer: tuple[HttpPeer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """url source: a configured ca_bundle is used even when REQUESTS_CA_BUNDLE is set."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    peer, cert = tls_peer
    source = UrlSource("feed", {"url": peer.url("/feed.csv"), "ca_bundle": str(cert)})
    assert not source.fetch().observations.empty


def test_slack_channel_refuses_a_self_signed_server(tls_peer: tuple[HttpPeer, Path]) -> None:
    """slack webhook: HTTPS with an unknown CA is a DeliveryError; nothing reaches the server."""
    peer, _ = tls_peer
    before = len(peer.posts)
    channel = SlackWebhookChannel("team", {"webhook_url": peer.url("/services/T/B/x")})
    with pytest.raises(DeliveryError, match="cannot connect"):
        channel.send(RenderedMessage(subject="s", text="t", payload={"text": "t"}))
    assert len(peer.posts) == before


def test_slack_channel_accepts_its_ca_bundle(tls_peer: tuple[HttpPeer, Path]) -> None:
    """slack webhook: `ca_bundle` is a known option and makes the self-signed server trusted."""
    peer, cert = tls_peer
    options = {"webhook_url": peer.url("/services/T/B/x"), "ca_bundle": str(cert)}
    assert SlackWebhookChannel.check_options("team", options, "monitor.yaml") == []
    SlackWebhookChannel("team", options).send(RenderedMessage("s", "t", {"text": "t"}))


def test_requests_default_verification_is_on(tls_peer: tuple[HttpPeer, Path]) -> None:
    """The shared session factory verifies certificates (never verify=False)."""
    from monitor.http import make_session

    peer, _ = tls_peer
    with pytest.raises(requests.exceptions.SSLError):
        make_session(retries=0).get(peer.url("/feed.csv"), timeout=5)


# -- secrets --------------------------------------------------------------------------------

SLACK_SECRET = "SLACKSECRET7f3a9e"
HOOK_SECRET = "HOOKSECRET41b7cc"
SMTP_SECRET = "SMTPPASS0d9e2f"
KEY_SECRET = "APIKEY5e6f7a8b"
SECRETS = (SLACK_SECRET, HOOK_SECRET, SMTP_SECRET, KEY_SECRET)


def _smtp_refusing_auth():
    """aiosmtpd with AUTH (no TLS required) refusing every password: 535."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.e2e.harness import free_port

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    attempts: list[int] = []

    def refuse(*args: object) -> AuthResult:
        attempts.append(1)
        return AuthResult(success=False)

    port = free_port()
    controller = Controller(
        Sink(), hostname="127.0.0.1", port=port, authenticator=refuse, auth_require_tls=False
    )
    controller.start()
    return controller, port, attempts


def _secret_leaks(tmp_path: Path, commands: list[tuple[str, ...]]) -> list[tuple[str, str]]:
    """Run the CLI commands against failing sinks; return (where, secret) for every leak."""
    controller, smtp_port, auth_attempts = _smtp_refusing_auth()
    with http_peer() as peer:
        try:
            Publisher(peer).publish(default_dataset().read_bytes())
            # The Census API answers 500 and echoes the request URL (with its key) in the body.
            peer.routes["/imports/hs"] = lambda h: Answer(
                500, f"internal error for /imports/hs?key={KEY_SECRET}".encode()
            )
            peer.post_default = Answer(404, b"no_service")  # the dead Slack webhook
            peer.routes["/services/T000/B000/" + SLACK_SECRET] = Answer(404, b"no_service")
            (tmp_path / "hook.secret").write_text(peer.url("/hooks/generic/" + HOOK_SECRET) + "\n")
            (tmp_path / "census.key").write_text(KEY_SECRET + "\n")
            config = tmp_path / "monitor.yaml"
            config.write_text(
                f"""\
state_dir: state
rules: [{Path(__file__).resolve().parents[2] / "rules"}]
sources:
  feed: {{type: url, url: "{peer.url("/feed.csv")}", initial: alert_all}}
  census:
    type: census
    endpoint: imports
    commodity: "8505110070"
    key_file: census.key
    base_url: "{peer.url("")}"
    rate_limit: 0
channels:
  team: {{type: slack, webhook_url: "${{SLACK_URL}}"}}
  hook: {{type: webhook, url_file: {tmp_path / "hook.secret"}}}
  mail:
    type: email
    host: 127.0.0.1
    port: {smtp_port}
    starttls: false
    from: monitor@example.org
    to: [desk@example.org]
    username: monitor
    password_env: SMTP_PASSWORD
  preview: {{type: file, path: outbox}}
routes:
  - channels: [team, hook, mail, preview]
"""
            )
            env = {
                "SLACK_URL": peer.url("/services/T000/B000/" + SLACK_SECRET),
                "SMTP_PASSWORD": SMTP_SECRET,
            }
            outputs = {}
            for i, args in enumerate(commands):
                outputs[f"{i}: {' '.join(args)}"] = run_cli(config, *args, env=env)
            # the run really exercised every failing sink and the failing source
            paths = {p.path for p in peer.posts}
            assert {"/services/T000/B000/" + SLACK_SECRET, "/hooks/generic/" + HOOK_SECRET} <= paths
            first = next(iter(outputs.values()))
            assert b"census" in first.stderr and b"HTTP 500" in first.stderr
            assert auth_attempts, "the SMTP password was never tried"
        finally:
            controller.stop()
    written = {f"{k} stdout": v.stdout for k, v in outputs.items()}
    written.update({f"{k} stderr": v.stderr for k, v in outputs.items()})
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name not in {"hook.secret", "census.key"}:
            written[str(path)] = path.read_bytes()
    assert any("state.db" in name for name in written)
    return [
        (name, secret)
        for name, data in written.items()
        for secret in SECRETS
        if secret.encode() in data
    ]


@pytest.mark.slow
def test_secrets_never_written_anywhere(tmp_path: Path) -> None:
    """run --once / status / validate / render with failing sinks and a failing
    source: no secret in stdout, stderr, the SQLite file, the file outbox or the previews."""
    commands = [
        ("run", "--once"),
        ("status",),
        ("status", "--format", "json"),
        ("validate",),
        ("render", "--rule", "magnets-six-month-high", "--period", "2025-07"),
    ]
    leaks = _secret_leaks(tmp_path, commands)
    assert any((tmp_path / "render-preview").iterdir()), "render wrote nothing"
    assert leaks == []


@pytest.mark.slow
def test_secrets_never_logged_at_debug(tmp_path: Path) -> None:
    """run --once --log-level DEBUG: no secret in any byte written."""
    assert _secret_leaks(tmp_path, [("--log-level", "DEBUG", "run", "--once")]) == []
