"""The ``daemon.web`` section of monitor.yaml: where the console listens and who may write.

    daemon:
      web:
        bind: 127.0.0.1            # loopback by default
        port: 9465                 # beside the health endpoint's 9464
        public_url: https://monitor.example.org/console   # links in messages point here
        token_file: /etc/customs-monitor/console-tokens   # NAME:TOKEN per line; writes need one
        require_login: false       # true: reads need a sign-in too (forced off loopback)
        enabled: true              # the console runs when daemon.web is present

Binding to an address other than loopback without ``token_file`` is refused: the console would
otherwise be open to the network. The token file is read when the console starts; its tokens
never appear in an error, a log line or a page.
"""

from __future__ import annotations

import hmac
import importlib.util
import ipaddress
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.config_checks import check_keys, problem_at
from monitor.errors import ConfigError, Problem

log = logging.getLogger(__name__)

KEYS = {"enabled", "bind", "port", "public_url", "token_file", "require_login"}
DEFAULT_PORT = 9465
MIN_TOKEN_LENGTH = 16
#: what the console needs beyond the core dependencies (the ``web`` extra)
WEB_MODULES = ("flask", "flask_wtf", "waitress")


@dataclass(frozen=True)
class WebOptions:
    enabled: bool = False
    bind: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    public_url: str | None = None
    token_file: str | None = None
    require_login: bool = False

    @property
    def loopback(self) -> bool:
        return is_loopback(self.bind)

    @property
    def login_for_reads(self) -> bool:
        """Reads need a sign-in too: asked for, or the console is reachable from the network."""
        return self.require_login or not self.loopback


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _as_bool(value: Any) -> bool:
    if hasattr(value, "as_bool"):  # yamlload.YamlBool: "yes"/"no" kept as text
        return bool(value.as_bool())
    return bool(value)


def _base_dir(path: str | None) -> str:
    if path and not path.startswith("<") and os.path.exists(path):
        return os.path.dirname(os.path.abspath(path))
    return os.getcwd()


def web_options(daemon: dict[str, Any] | None, config_path: str | None = None) -> WebOptions:
    """Typed options from the ``daemon:`` mapping; ``token_file`` resolved against the config
    file's folder. Assumes ``check_web_options`` found no problems."""
    raw = (daemon or {}).get("web")
    if raw is None:
        return WebOptions()
    d = WebOptions()
    token_file = raw.get("token_file")
    if token_file:
        token_file = str(token_file)
        if not os.path.isabs(token_file):
            token_file = os.path.normpath(os.path.join(_base_dir(config_path), token_file))
    public_url = raw.get("public_url")
    return WebOptions(
        enabled=_as_bool(raw.get("enabled", True)),
        bind=str(raw.get("bind", d.bind)),
        port=int(raw.get("port", d.port)),
        public_url=str(public_url).rstrip("/") if public_url else None,
        token_file=token_file or None,
        require_login=_as_bool(raw.get("require_login", False)),
    )


def public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the console's public address (None when it can)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.username or parts.password:
        return "must not carry a user name or password (links are shown to everyone)"
    if parts.query or parts.fragment:
        return "must not have a query or fragment (alert paths are appended to it)"
    return None


def check_web_options(
    obj: Any, path: str, *, health_port: int | None = None, installed: bool | None = None
) -> list[Problem]:
    """Located problems with ``daemon.web`` (None is fine: no console)."""
    if obj is None:
        return []
    problems = check_keys(obj, allowed=KEYS, path=path, what="daemon.web")
    if not isinstance(obj, dict):
        return problems
    if "port" in obj:
        port = obj["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            problems.append(
                problem_at(
                    obj, "port", path, f"daemon.web.port must be an integer 0-65535, got {port!r}"
                )
            )
        elif port and health_port is not None and port == health_port:
            problems.append(
                problem_at(
                    obj,
                    "port",
                    path,
                    f"daemon.web.port {port} is the health endpoint's port: give the console "
                    f"its own (default {DEFAULT_PORT})",
                )
            )
    bind = str(obj.get("bind", WebOptions.bind))
    if "bind" in obj:
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            problems.append(
                problem_at(
                    obj,
                    "bind",
                    path,
                    f"daemon.web.bind must be an IP address such as 127.0.0.1, got {bind!r}",
                )
            )
            bind = WebOptions.bind
    if "public_url" in obj:
        why = public_url_problem(str(obj["public_url"]))
        if why:
            problems.append(problem_at(obj, "public_url", path, f"daemon.web.public_url {why}"))
    enabled = _as_bool(obj.get("enabled", True))
    token_file = obj.get("token_file")
    if token_file:
        where = str(token_file)
        if not os.path.isabs(where):
            where = os.path.normpath(os.path.join(_base_dir(path), where))
        try:
            load_tokens(where)
        except ConfigError as exc:
            problems.extend(exc.problems)
    elif enabled and not is_loopback(bind):
        problems.append(
            problem_at(
                obj,
                "bind",
                path,
                f"daemon.web.bind {bind} is reachable from the network: set daemon.web.token_file "
                "(then every page needs a sign-in), or bind to 127.0.0.1",
            )
        )
    if enabled:
        have = installed if installed is not None else web_extra_installed()
        if not have:
            problems.append(
                problem_at(
                    obj,
                    None,
                    path,
                    "daemon.web: the console needs the web extra: "
                    "pip install 'customs-monitor[web]' (or set daemon.web.enabled: false)",
                )
            )
    return problems


def web_extra_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in WEB_MODULES)


@dataclass(frozen=True)
class Tokens:
    """Who may write: token -> name, compared in constant time."""

    by_name: dict[str, str] = field(default_factory=dict)  # name -> token
    source: str = ""

    def __bool__(self) -> bool:
        return bool(self.by_name)

    def who(self, presented: str) -> str | None:
        """The name whose token this is, else None. Every token is compared, so the time taken
        does not tell which one (or how much of one) matched."""
        found = None
        given = presented.encode()
        for name, token in self.by_name.items():
            if hmac.compare_digest(given, token.encode()):
                found = name
        return found

    def fingerprint(self, name: str) -> str:
        """A short digest of the named token: a session signed in with a token that was since
        changed or removed stops working."""
        import hashlib

        token = self.by_name.get(name, "")
        return hashlib.sha256(f"{name}:{token}".encode()).hexdigest()[:16]


class TokenFile:
    """The token file, re-read when it changes (size or modification time), so a token can be
    added or revoked without a restart. A file that cannot be read or parsed any more allows
    no write until it is fixed (logged, without its content)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._tokens = Tokens()
        self._lock = threading.Lock()
        self.current()

    def current(self) -> Tokens:
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if stamp != self._stamp or stamp is None:
                try:
                    self._tokens = load_tokens(self.path)
                except ConfigError as exc:
                    if stamp != self._stamp:
                        log.error("console: token file refused, no writes until fixed:\n%s", exc)
                    self._tokens = Tokens()
                self._stamp = stamp
            return self._tokens


def load_tokens(path: str) -> Tokens:
    """``NAME:TOKEN`` per line (``#`` comments and blank lines ignored). Errors name the file
    and line, never the token."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            Problem(path, 0, 0, f"daemon.web.token_file: cannot read: {exc.strerror or exc}")
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(Problem(path, 0, 0, "daemon.web.token_file: not UTF-8 text")) from None
    problems: list[Problem] = []
    by_name: dict[str, str] = {}
    seen_tokens: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, token = line.partition(":")
        name, token = name.strip(), token.strip()
        if not sep or not name or not token:
            problems.append(
                Problem(path, number, 1, "expected NAME:TOKEN (the name is recorded with writes)")
            )
            continue
        if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            problems.append(
                Problem(path, number, 1, f"name {name!r}: use letters, digits, '.', '-' or '_'")
            )
            continue
        if len(token) < MIN_TOKEN_LENGTH:
            problems.append(
                Problem(
                    path,
                    number,
                    len(name) + 2,
                    f"the token of {name!r} is shorter than {MIN_TOKEN_LENGTH} characters "
                    "(python3 -c 'import secrets; print(secrets.token_urlsafe(24))' makes one)",
                )
            )
            continue
        if name in by_name:
            problems.append(Problem(path, number, 1, f"name {name!r} is given twice"))
            continue
        if token in seen_tokens:
            problems.append(Problem(path, number, 1, f"the token of {name!r} is another's too"))
            continue
        by_name[name] = token
        seen_tokens.add(token)
    if not problems and not by_name:
        problems.append(Problem(path, 0, 0, "daemon.web.token_file: no NAME:TOKEN line"))
    if problems:
        raise ConfigError(problems)
    return Tokens(by_name=by_name, source=path)


def check_daemon_web(daemon: Any, path: str) -> list[Problem]:
    """``check_web_options`` for the ``daemon:`` mapping (the health port comes from it)."""
    if not isinstance(daemon, dict):
        return []
    health = daemon.get("health")
    health_port: int | None = 9464
    if isinstance(health, dict):
        port = health.get("port", 9464)
        enabled = _as_bool(health.get("enabled", True))
        health_port = port if isinstance(port, int) and enabled else None
    return check_web_options(daemon.get("web"), path, health_port=health_port)
