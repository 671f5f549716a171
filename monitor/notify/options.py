"""Helpers HTTP channels share: sessions, timeouts, posting and status mapping. (Each channel
type's options are a model in ``monitor.config.channels``.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from monitor.config.channels import HttpChannelOptions
from monitor.errors import DeliveryError
from monitor.http import DEFAULT_TIMEOUT, connection_problem, make_session, retry_after_seconds

if TYPE_CHECKING:
    from monitor.notify.base import Channel


def timeout_of(options: HttpChannelOptions) -> tuple[float, float] | float:
    """The ``timeout`` option in seconds (connect and read alike), else ``DEFAULT_TIMEOUT``."""
    return options.timeout if options.timeout is not None else DEFAULT_TIMEOUT


def session_of(channel: Channel, options: HttpChannelOptions) -> requests.Session:
    """The channel's injected session, else one made for it and kept until ``Channel.close``
    closes it. Channels retry through the outbox, so the session never retries a POST by
    itself. ``ca_bundle`` trusts a private CA for this channel only (TLS verification is never
    turned off)."""
    session: requests.Session | None = channel.transports.get("session")
    if session is None:
        session = channel.opened.get("session")
    if session is None:
        session = make_session(retries=0, ca_bundle=options.ca_bundle or None)
        channel.opened["session"] = session
    return session


def verify_of(options: HttpChannelOptions) -> str | bool:
    """Per-request ``verify`` so ``ca_bundle`` also applies to an injected session."""
    return options.ca_bundle or True


def shown_url(url: str) -> str:
    """Scheme, host and port only. Channel URLs often carry their secret in the path (Slack
    ``/services/T/B/token``, Teams, Discord, proxies in front of them), so errors and logs never
    show more than where the request went."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    return f"{parts.scheme}://{host}{port}/…"


def post(
    channel: str, session: requests.Session, url: str, *, timeout: Any, **kwargs: Any
) -> requests.Response:
    """POST, turning network failures into retryable DeliveryErrors with a redacted URL."""
    try:
        return session.post(url, timeout=timeout, **kwargs)
    except requests.exceptions.SSLError:
        raise DeliveryError(
            channel,
            f"cannot connect to {shown_url(url)}: TLS certificate "
            "not trusted (for a private CA set ca_bundle)",
        ) from None
    except (requests.Timeout, requests.ConnectionError) as exc:
        # "cannot resolve host ...", "connection refused by ...", "timed out ...": never the path
        raise DeliveryError(
            channel, f"{connection_problem(exc, url)} (posting to {shown_url(url)})"
        ) from None
    except requests.RequestException as exc:
        raise DeliveryError(
            channel, f"request to {shown_url(url)} failed: {type(exc).__name__}"
        ) from None


def raise_for_status(channel: str, url: str, response: requests.Response) -> None:
    """Map an HTTP answer to the outbox's decision: accepted, retry later, or give up.

    2xx accepted; 408, 425 (Too Early) and 429 retry (Retry-After honoured); other 4xx are
    permanent (a wrong or revoked URL, refused credentials, a payload the server will never
    accept); 5xx retry (Retry-After honoured too, e.g. a 503 during maintenance).
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = (response.text or "").strip().replace("\n", " ")[:200]
    where = f"HTTP {status} from {shown_url(url)}" + (f": {detail}" if detail else "")
    if status in (408, 425, 429):
        raise DeliveryError(channel, where, retry_after=retry_after_seconds(response))
    if 400 <= status < 500:
        raise DeliveryError(channel, where, permanent=True)
    raise DeliveryError(channel, where, retry_after=retry_after_seconds(response))
