"""HTTP sessions for sources and channels: one ``requests.Session`` per source/channel.

Timeouts on every call, retries with backoff on connection errors and 5xx (never on POSTs that a
server may have applied: channels retry through the outbox instead), a descriptive User-Agent,
proxies from the environment (requests' default), TLS verification always on with an optional
custom CA bundle.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
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
