"""Helpers shared by the HTTP connectors: polite requests, located errors, secrets, paths, codes.

Every failure becomes a ``SourceError`` naming the source and the (redacted) URL; nothing here
ever puts a key into a message: keys travel in headers or in query parameters that
``redact_url`` masks.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import requests
import urllib3

from monitor.clock import Clock
from monitor.errors import Problem, SourceError
from monitor.http import DEFAULT_TIMEOUT, make_session, redact_url
from monitor.model import month_to_period, period_to_month

log = logging.getLogger("monitor.sources")

DATA_DIR = Path(__file__).resolve().parent / "data"

# Retry-After longer than this is not waited for inside one fetch: the scheduler retries later.
DEFAULT_MAX_WAIT = 60.0


def check_choice(
    name: str,
    options: dict[str, Any],
    path: str,
    key: str,
    choices: tuple[str, ...],
    *,
    many: bool = False,
) -> list[Problem]:
    """A located problem when ``options[key]`` is not one of ``choices``."""
    from monitor.config_checks import problem_at

    if key not in options:
        return []
    value = options[key]
    values = value if many and isinstance(value, list | tuple) else [value]
    bad = [v for v in values if str(v) not in choices]
    if not bad:
        return []
    return [
        problem_at(
            options,
            key,
            path,
            f"source {name!r}: {key} must be one of {', '.join(choices)}, not {bad[0]!r}",
        )
    ]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def full_url(url: str, params: dict[str, Any] | None) -> str:
    """The URL requests would send (for messages; always pass it through ``redact_url``)."""
    return requests.Request("GET", url, params=params or {}).prepare().url or url


def read_secret(source: str, options: dict[str, Any], base_dir: str | None) -> str | None:
    """The API key from ``key`` (config resolves ${VAR}) or ``key_file`` (first line)."""
    key = options.get("key")
    if key:
        return str(key).strip()
    key_file = options.get("key_file")
    if not key_file:
        return None
    path = resolve_path(source, str(key_file), base_dir)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SourceError(
            source, f"cannot read key_file {path}: {exc.strerror}", retryable=False
        ) from None
    if not text:
        raise SourceError(source, f"key_file {path} is empty", retryable=False)
    return text.splitlines()[0].strip()


def resolve_path(source: str, path: str, base_dir: str | None) -> Path:
    """Relative paths resolve against the config file's folder and may not escape it."""
    candidate = Path(os.path.expanduser(path))
    if candidate.is_absolute():
        return candidate
    base = Path(base_dir or ".").resolve()
    resolved = (base / candidate).resolve()
    if not resolved.is_relative_to(base):
        raise SourceError(
            source,
            f"path {path!r} escapes the configuration folder {base} (use an absolute path)",
            retryable=False,
        )
    return resolved


def month_range(start: str, end: str) -> list[str]:
    a, b = period_to_month(start), period_to_month(end)
    return [month_to_period(m) for m in range(a, b + 1)]


def recent_months(now: datetime, count: int) -> list[str]:
    """The ``count`` calendar months before ``now``'s month, oldest first."""
    current = now.year * 12 + now.month - 1
    return [month_to_period(m) for m in range(current - count, current)]


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@cache
def code_table(name: str, key: str, value: str) -> dict[str, str]:
    """A two-column lookup from a bundled CSV code table (see data/PROVENANCE.md)."""
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {row[key].strip(): row[value].strip() for row in rows if row[key].strip()}


def iso3_to_iso2(code: str) -> str | None:
    return code_table("iso3166.csv", "alpha3", "alpha2").get(code.strip().upper())


class HttpClient:
    """One source's polite HTTP: rate limit, timeouts, Retry-After, located errors."""

    def __init__(
        self,
        source: str,
        options: dict[str, Any],
        clock: Clock,
        session: requests.Session | None,
        *,
        default_interval: float = 0.0,
    ) -> None:
        self.source = source
        self.clock = clock
        self.session = session or make_session(ca_bundle=options.get("ca_bundle"))
        timeout = options.get("timeout")
        self.timeout: tuple[float, float] = (
            (float(timeout), float(timeout)) if timeout is not None else DEFAULT_TIMEOUT
        )
        self.interval = float(options.get("rate_limit", default_interval))
        self.max_wait = float(options.get("max_wait", DEFAULT_MAX_WAIT))
        self._last: datetime | None = None
        self.calls = 0
        self.secrets: set[str] = set()

    def _pace(self) -> None:
        if self._last is not None and self.interval > 0:
            waited = (self.clock.now() - self._last).total_seconds()
            if waited < self.interval:
                self.clock.sleep(self.interval - waited)
        self._last = self.clock.now()

    def error(self, message: str, url: str, **kw: Any) -> SourceError:
        # A server may echo the key in its error text: scrub every known secret.
        for secret in self.secrets:
            message = message.replace(secret, "***")
        return SourceError(self.source, message, url=redact_url(url), **kw)

    def get(
        self,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> requests.Response:
        """GET with pacing; 429/403 Retry-After waited for once when short; errors located."""
        shown = full_url(url, params)
        for attempt in range(3):
            self._pace()
            self.calls += 1
            try:
                resp = self.session.get(url, params=params, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                if _timed_out(exc):
                    raise self.error(
                        f"timed out (timeouts {self.timeout[0]:g} s connect, "
                        f"{self.timeout[1]:g} s read)",
                        shown,
                    ) from None
                raise self.error(f"connection failed: {type(exc).__name__}", shown) from None
            if resp.status_code in ok:
                return resp
            retry_after = _retry_after(resp)
            if resp.status_code in (429, 403) and retry_after is not None:
                if retry_after <= self.max_wait and attempt < 2:
                    log.warning(
                        "source %r: HTTP %s, waiting %.0f s as asked (%s)",
                        self.source,
                        resp.status_code,
                        retry_after,
                        redact_url(shown),
                    )
                    self.clock.sleep(retry_after)
                    continue
                raise self.error(
                    f"HTTP {resp.status_code}: rate limited, retry after {retry_after:g} s",
                    shown,
                    retry_after=retry_after,
                )
            raise self.error(
                f"HTTP {resp.status_code} {resp.reason or ''}".strip() + _snippet(resp),
                shown,
                retryable=resp.status_code >= 500 or resp.status_code == 429,
            )
        raise self.error("rate limited repeatedly", shown)  # pragma: no cover - loop exits above

    def json(self, resp: requests.Response) -> Any:
        """Decode JSON, naming HTML error pages and truncated bodies as such."""
        text = resp.text
        ctype = resp.headers.get("Content-Type", "")
        if "html" in ctype.lower() or text.lstrip()[:1] == "<":
            raise self.error("expected JSON but got an HTML page" + _snippet(resp), resp.url)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise self.error(f"malformed JSON (truncated body?): {exc}", resp.url) from None


def _timed_out(exc: requests.RequestException) -> bool:
    """Timeouts, also when urllib3's retries wrap them into a ConnectionError."""
    if isinstance(exc, requests.Timeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, TimeoutError | urllib3.exceptions.TimeoutError)


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())


def _snippet(resp: requests.Response) -> str:
    """A short, single-line hint of the server's message (never our request)."""
    text = " ".join(resp.text.split())[:160] if resp.text else ""
    if text.startswith("<"):
        return " (HTML page)"
    return f": {text}" if text else ""
