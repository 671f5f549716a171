"""Network failures say what happened: a DNS failure is "cannot resolve host", a refused
connection is "connection refused", a slow server "timed out"; no log line carries a request's
path or query.

The machine's resolver is not on 127.0.0.1, so a DNS failure is made where it happens, in
``socket.getaddrinfo``, for one reserved name (RFC 6761 ``.invalid``) only: no query leaves the
machine. Everything else talks to real sockets on 127.0.0.1.
"""

from __future__ import annotations

import logging
import re
import socket

import pytest

from monitor.errors import DeliveryError
from monitor.http import connection_problem, make_session
from monitor.notify.email import EmailChannel
from monitor.notify.slack import SlackWebhookChannel
from tests.notify.realdata import digest, july_notices
from tests.notify.servers import Reply, free_port

UNKNOWN = "customs-monitor-test.invalid"
SECRET = "hookSECRET"


@pytest.fixture
def unknown_host(monkeypatch):
    """getaddrinfo fails for UNKNOWN as a resolver answering NXDOMAIN does."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == UNKNOWN:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return UNKNOWN


def test_webhook_dns_failure_says_cannot_resolve_host(unknown_host, templates, frame) -> None:
    """A webhook host that does not resolve: 'cannot resolve host', retryable, no secret."""
    url = f"https://{unknown_host}/services/T1/B1/{SECRET}"
    ch = SlackWebhookChannel("slack", {"webhook_url": url}, templates=templates)
    with pytest.raises(DeliveryError) as err:
        ch.send(ch.render(digest(july_notices(frame))))
    text = str(err.value)
    assert f"cannot resolve host {unknown_host}" in text
    assert "timed out" not in text and SECRET not in text and "/services" not in text
    assert not err.value.permanent


def test_webhook_refused_connection_says_refused(templates, frame) -> None:
    """Nothing listening on the port: 'connection refused by 127.0.0.1:PORT'."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/services/T1/B1/{SECRET}"
    ch = SlackWebhookChannel("slack", {"webhook_url": url}, templates=templates)
    with pytest.raises(DeliveryError, match=rf"connection refused by 127\.0\.0\.1:{port}") as err:
        ch.send(ch.render(digest(july_notices(frame))))
    assert SECRET not in str(err.value)


def test_slow_webhook_still_says_timed_out(peer, templates, frame) -> None:
    """A server that accepts but answers too late is the one case that 'timed out'."""
    peer.default = Reply(200, "ok", delay=1.0)
    url = f"{peer.url}/services/T1/B1/{SECRET}"
    ch = SlackWebhookChannel("slack", {"webhook_url": url, "timeout": 0.3}, templates=templates)
    with pytest.raises(DeliveryError, match=r"timed out waiting for 127\.0\.0\.1"):
        ch.send(ch.render(digest(july_notices(frame))))


def test_smtp_dns_failure_says_cannot_resolve_host(unknown_host, templates, frame) -> None:
    """An SMTP relay whose name does not resolve: 'cannot resolve host'."""
    ch = EmailChannel(
        "mail",
        {"host": unknown_host, "port": 25, "starttls": False, "from": "m@x.org", "to": "a@x.org"},
        templates=templates,
    )
    with pytest.raises(
        DeliveryError, match=f"cannot resolve host {re.escape(unknown_host)}"
    ) as err:
        ch.send(ch.render(digest(july_notices(frame))))
    assert "timed out" not in str(err.value)


def test_get_with_retries_logs_no_path_or_query(unknown_host, caplog) -> None:
    """urllib3's 'Retrying ...' warnings name the failure, not the URL's path or API key."""
    session = make_session(retries=2, backoff=0.0)
    url = f"http://{unknown_host}/data/v1/get/C/M/HS?subscription-key={SECRET}"
    with caplog.at_level(logging.DEBUG, logger="urllib3"), pytest.raises(Exception) as err:
        session.get(url, timeout=1)
    retries = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(retries) == 2
    for record in retries:
        line = record.getMessage()
        assert SECRET not in line and "/data/v1" not in line
        assert f"cannot resolve host {unknown_host}" in line
    assert connection_problem(err.value, url) == f"cannot resolve host {unknown_host}"


def test_refused_get_is_not_reported_as_a_timeout() -> None:
    """urllib3 files a refused connection under its timeout errors; it is still 'refused'."""
    port = free_port()
    session = make_session(retries=0)
    with pytest.raises(Exception) as err:
        session.get(f"http://127.0.0.1:{port}/x", timeout=1)
    assert connection_problem(err.value) == f"connection refused by 127.0.0.1:{port}"


def test_untrusted_certificate_with_retries_is_named_and_logged_cleanly(tmp_path, caplog) -> None:
    """A self-signed HTTPS server behind retries: 'TLS certificate ... not trusted', and the
    retry warnings (which carry an SSLError) are rewritten without failing or the path."""
    from tests.notify.servers import http_peer, self_signed_cert

    with http_peer(tls=self_signed_cert(tmp_path)) as peer:
        url = f"{peer.url}/feed.csv?key={SECRET}"
        session = make_session(retries=1, backoff=0.0)
        with caplog.at_level(logging.WARNING, logger="urllib3"), pytest.raises(Exception) as err:
            session.get(url, timeout=5)
    assert "TLS certificate of 127.0.0.1" in connection_problem(err.value, url)
    assert "not trusted" in connection_problem(err.value, url)
    lines = [r.getMessage() for r in caplog.records]
    assert lines and all(SECRET not in line and "/feed.csv" not in line for line in lines)
