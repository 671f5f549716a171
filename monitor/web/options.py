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
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.config.daemon import is_loopback
from monitor.errors import ConfigError, Problem

log = logging.getLogger(__name__)

DEFAULT_PORT = 9465
MIN_TOKEN_LENGTH = 16
#: what the console needs beyond the core dependencies (the ``web`` extra)
WEB_MODULES = ("flask", "flask_wtf", "waitress")


@dataclass(frozen=True)
class WebOptions:
    """What the console runs with: ``daemon.web`` as validated (monitor.config.daemon), its
    token file resolved against the config file's folder."""

    enabled: bool = False
    bind: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    public_url: str | None = None
    token_file: str | None = None
    require_login: bool = False

    @property
    def loopback(self) -> bool:
        """Whether ``bind`` is a loopback address (127.0.0.0/8, ``::1``)."""
        return is_loopback(self.bind)

    @property
    def login_for_reads(self) -> bool:
        """Reads need a sign-in too: asked for, or the console is reachable from the network."""
        return self.require_login or not self.loopback


def web_options(config: Any) -> WebOptions:
    """The console's options from a Config (off when ``daemon.web`` is unset)."""
    web = config.daemon.web
    if web is None:
        return WebOptions()
    token_file = web.token_file
    if token_file and not os.path.isabs(token_file):
        token_file = os.path.normpath(os.path.join(config.base_dir, token_file))
    return WebOptions(
        enabled=web.enabled,
        bind=web.bind,
        port=web.port,
        public_url=web.public_url,
        token_file=token_file or None,
        require_login=web.require_login,
    )


def check_web_options(config: Any, *, installed: bool | None = None) -> list[Problem]:
    """What ``validate`` checks of the console beyond the options' types and values: that the
    token file reads (its problems located in it, never showing a token) and that the ``web``
    extra is installed."""
    options = web_options(config)
    if not options.enabled:
        return []
    problems: list[Problem] = []
    if options.token_file:
        try:
            load_tokens(options.token_file)
        except ConfigError as exc:
            problems.extend(exc.problems)
    have = installed if installed is not None else web_extra_installed()
    if not have:
        problems.append(
            Problem(
                config.where,
                0,
                0,
                "daemon.web: the console needs the web extra: "
                "pip install 'customs-monitor[web]' (or set daemon.web.enabled: false)",
            )
        )
    return problems


def web_extra_installed() -> bool:
    """Whether the ``web`` extra (flask, flask_wtf, waitress) can be imported; imports none."""
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


_UNREAD = (-1, -1)  # no file has a negative size


class TokenFile:
    """The token file, re-read when it changes (size or modification time), so a token can be
    added or revoked without a restart. A file that cannot be read or parsed any more allows
    no write until it is fixed (logged, without its content)."""

    def __init__(self, path: str) -> None:
        self.path = path
        # Not read yet: unlike any stamp, a missing file's None too, so a file missing or
        # refused at start is logged like one that turns bad later.
        self._stamp: tuple[int, int] | None = _UNREAD
        self._tokens = Tokens()
        self._lock = threading.Lock()
        self.current()

    def current(self) -> Tokens:
        """The tokens in force, re-read when the file's size or modification time changed (a missing
        file at every call). A file that cannot be read or parsed gives no tokens, so no writes; it
        is logged (naming the file, never its content) at start and when it turns bad, once until
        it changes again. Thread-safe."""
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
