"""HTTP sessions for sources and channels: one ``requests.Session`` per source/channel.

Timeouts on every call, retries with backoff on connection errors and 5xx (never on POSTs that a
server may have applied: channels retry through the outbox instead), a descriptive User-Agent,
proxies from the environment (requests' default), TLS verification always on with an optional
custom CA bundle.

``connection_problem`` says in words why a request never got an answer (DNS, refused, timed
out), for sources and channels alike. urllib3's own WARNING lines name the request's path and
query (API keys, webhook tokens): a filter installed here rewrites them without it.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from monitor import __version__

USER_AGENT = f"customs-monitor/{__version__} (+https://github.com/customs-monitor/customs-monitor)"
DEFAULT_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds

_SECRET_PARAMS = re.compile(
    r"(key|token|secret|password|passwd|sig|signature|auth|apikey)", re.IGNORECASE
)


class _Session(requests.Session):
    """A Session whose own ``verify`` (a configured CA bundle) beats $REQUESTS_CA_BUNDLE.

    requests merges environment settings over the session's (psf/requests#3829), so a CA bundle
    configured for one source would silently lose to a machine-wide variable.
    """

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[no-untyped-def]
        if verify is None and self.verify is not True:
            verify = self.verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def make_session(
    *,
    retries: int = 3,
    backoff: float = 0.5,
    ca_bundle: str | None = None,
    retry_methods: frozenset[str] = frozenset({"GET", "HEAD"}),
    user_agent: str = USER_AGENT,
) -> requests.Session:
    """A session retrying ``retry_methods`` ``retries`` times on connection errors and 5xx
    (exponential ``backoff``; the last 5xx response is returned, not raised; Retry-After is
    never slept), verifying TLS against ``ca_bundle`` if given, even over $REQUESTS_CA_BUNDLE.
    It sets no timeout: callers pass one on each request."""
    session = _Session()
    session.headers["User-Agent"] = user_agent
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=retry_methods,
        # Never sleep a server's Retry-After inside a request (a 429 may ask for an hour): the
        # callers turn it into a bounded wait or a retryable error with retry_after.
        respect_retry_after_header=False,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = ca_bundle if ca_bundle else True
    return session


def redact_url(url: str) -> str:
    """Hide credentials, secret query parameters and secret-bearing paths (webhooks) of a URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode(
        [
            (k, "***" if _SECRET_PARAMS.search(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    path = parts.path
    # Slack/Teams/Discord webhook URLs carry their secret in the path.
    if (
        any(h in netloc for h in ("hooks.slack.com", "discord", "webhook.office"))
        or "/hooks/" in path
        or "/services/" in path
        or "/webhook" in path
    ):
        path = "/".join(path.split("/")[:3]) + "/***" if path.count("/") > 2 else path
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def retry_after_seconds(response: requests.Response) -> float | None:
    """A response's Retry-After in seconds (delta-seconds or HTTP-date form), else None."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, what requests wrapped (MaxRetryError and its reason), and its causes."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        reason = getattr(e, "reason", None)  # ssl errors keep a string here
        todo += [reason if isinstance(reason, BaseException) else None, e.__cause__, e.__context__]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
    return seen


def connection_problem(exc: BaseException, url: str | None = None, host: str | None = None) -> str:
    """Why a request got no answer: "cannot resolve host X", "connection refused by X:port",
    "timed out connecting to X", "timed out waiting for X to answer", "connection to X failed:
    ...". Never the path or query of the request."""
    where = host
    port = None
    if url:
        try:
            parts = urlsplit(url)
            where, port = where or parts.hostname, parts.port
        except ValueError:
            pass
    causes = _causes(exc)
    conn = next((getattr(e, "conn", None) for e in causes if getattr(e, "conn", None)), None)
    if where is None and conn is not None:  # urllib3 knows the connection it tried
        where, port = getattr(conn, "host", None), getattr(conn, "port", None)
    where = where or "the server"
    for e in causes:
        if isinstance(e, urllib3.exceptions.NameResolutionError | socket.gaierror):
            return f"cannot resolve host {getattr(e, '_host', None) or where}"
    target = f"{where}:{port}" if port else where
    for e in causes:
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"TLS certificate of {target} not trusted ({e.verify_message})"
        if isinstance(e, ConnectionRefusedError):
            return f"connection refused by {target}"
    for e in causes:
        # urllib3's NewConnectionError subclasses its ConnectTimeoutError: a failed connect
        # (DNS, refused, unreachable) is not a timeout unless its own cause is one.
        if isinstance(e, urllib3.exceptions.NewConnectionError):
            continue
        if isinstance(e, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
            return f"timed out waiting for {target} to answer"
        if isinstance(
            e, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError | TimeoutError
        ):
            return f"timed out connecting to {target}"
    for e in causes:
        if isinstance(e, OSError) and e.strerror:
            return f"cannot connect to {target}: {e.strerror}"
    return f"connection to {target} failed ({type(exc).__name__})"


_URLISH = re.compile(r"^/|://")


class _HideRequestUrls(logging.Filter):
    """urllib3's WARNING/INFO lines ("Retrying (...) after connection broken by ...: /path?key=",
    "Failed to parse headers (url=...)", "Redirecting ... -> ...") without paths and queries."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO or not isinstance(record.args, tuple):
            return True
        if isinstance(record.msg, str) and record.msg.startswith("Retrying ("):
            err = next((a for a in record.args if isinstance(a, BaseException)), None)
            try:
                problem = connection_problem(err) if err else "unknown"
            except Exception:  # a log filter must never raise; say less rather than fail
                problem = type(err).__name__
            record.msg = "retrying after a connection failure: %s"
            record.args = (problem,)
            return True
        record.args = tuple(
            "<request path hidden>" if isinstance(a, str) and _URLISH.search(a) else a
            for a in record.args
        )
        return True


def _install_url_filter() -> None:
    for name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _HideRequestUrls) for f in logger.filters):
            logger.addFilter(_HideRequestUrls())


_install_url_filter()
