"""Email over SMTP: multipart/alternative (plain text + HTML with inline chart images).

Transport: STARTTLS (port 587, the default), implicit TLS (``ssl: true``, port 465) or plain
(``starttls: false``: a local relay). Optional AUTH with ``username`` and ``password`` (or
``password_file`` / ``password_env``). ``ca_file`` trusts a private CA (and the tests' self-signed
certificate). The SMTP connection comes from an injectable ``smtp_factory`` so tests talk to a
real aiosmtpd server.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import socket
import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from monitor.config.channels import ChannelOptions, EmailOptions
from monitor.errors import DeliveryError
from monitor.http import connection_problem
from monitor.notify.base import Channel, Digest, RenderedMessage
from monitor.notify.rendering import render_email

log = logging.getLogger(__name__)

SmtpFactory = Callable[..., smtplib.SMTP]


def default_smtp_factory(
    host: str, port: int, *, implicit_tls: bool, timeout: float, context: ssl.SSLContext | None
) -> smtplib.SMTP:
    """A connected ``smtplib.SMTP`` (``SMTP_SSL`` with ``context`` for implicit TLS); the
    ``smtp_factory`` transport replaces it in tests."""
    if implicit_tls:
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    return smtplib.SMTP(host, port, timeout=timeout)


def build_mime(
    message: RenderedMessage,
    *,
    sender: str,
    recipients: list[str],
    list_id: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """The full message: headers, text part, HTML part with its inline images (CID)."""
    mime = EmailMessage()
    mime["Subject"] = message.subject
    mime["From"] = sender
    mime["To"] = ", ".join(recipients)
    mime["Date"] = format_datetime(date or datetime.now(UTC))
    if message.payload.get("message_id"):
        mime["Message-ID"] = message.payload["message_id"]
    if list_id:
        mime["List-Id"] = list_id
    # Tells autoresponders and mail rules this is machine-generated (RFC 3834).
    mime["Auto-Submitted"] = "auto-generated"
    mime["X-Mailer"] = "customs-monitor"
    mime.set_content(message.text)
    html = message.payload.get("html")
    if html:
        mime.add_alternative(html, subtype="html")
        html_part = list(mime.iter_parts())[-1]
        for image in message.payload.get("images", []):
            # inline + Content-ID: shown where the HTML references it, not again as a download
            # (with only a filename the email library would mark it an attachment).
            html_part.add_related(
                base64.b64decode(image["png_b64"]),
                maintype="image",
                subtype="png",
                cid=f"<{image['cid']}>",
                disposition="inline",
                filename=image.get("filename"),
            )
    return mime


class EmailChannel(Channel):
    """Sends each message over SMTP to the ``to`` addresses (STARTTLS, implicit TLS or plain)."""

    type = "email"
    Options = EmailOptions
    options: EmailOptions

    def __init__(
        self,
        name: str,
        options: ChannelOptions | Mapping[str, Any],
        *,
        templates: Any = None,
        **transports: Any,
    ) -> None:
        super().__init__(name, options, templates=templates, **transports)
        o = self.options
        self.host = o.host
        self.implicit_tls = o.ssl
        self.port = o.port or (465 if self.implicit_tls else 587)
        self.starttls = (not self.implicit_tls) and o.starttls
        self.sender = o.sender
        self.recipients = list(o.to)
        self.username = o.username
        self.timeout = o.timeout
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "customs-monitor.local"
        self.domain = domain
        self.list_id = o.list_id or f"customs-monitor alerts <{name}.{domain}>"
        self.smtp_factory: SmtpFactory = transports.get("smtp_factory") or default_smtp_factory

    def render(self, digest: Digest) -> RenderedMessage:
        """The email rendering: text, HTML and charts (unless ``charts: false``), with a stable
        Message-ID in the sender's domain."""
        return render_email(self, digest, charts=self.options.charts, domain=self.domain)

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.options.ca_file or None)

    def send(self, message: RenderedMessage) -> None:
        """Connect, STARTTLS and log in as configured, and hand the message over. Refused auth,
        every recipient refused or a 5xx is permanent; a 4xx, TLS or network failure is retried.
        Some recipients refused while others took it is only logged: a retry would duplicate."""
        password = self.options.password_secret.read(self.name, required=False)
        mime = build_mime(
            message, sender=self.sender, recipients=self.recipients, list_id=self.list_id
        )
        where = f"SMTP {self.host}:{self.port}"
        try:
            # Loading the system CA store costs ~0.2 s: only when TLS is used.
            context = self._context() if (self.implicit_tls or self.starttls) else None
            with self.smtp_factory(
                self.host,
                self.port,
                implicit_tls=self.implicit_tls,
                timeout=self.timeout,
                context=context,
            ) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=context)  # verified against ca_file / system CAs
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, password or "")
                refused = smtp.send_message(
                    mime,
                    from_addr=parseaddr(self.sender)[1],
                    to_addrs=[parseaddr(r)[1] for r in self.recipients],
                )
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                self.name, f"{where}: authentication refused ({exc.smtp_code})", permanent=True
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                self.name,
                f"{where}: every recipient refused: {', '.join(sorted(exc.recipients))}",
                permanent=True,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(
                self.name, f"{where}: {exc} (check starttls/ssl/username)", permanent=True
            ) from None
        except smtplib.SMTPResponseException as exc:
            # 5xx: the server will never take it (bad sender, message refused); 4xx: try later.
            raise DeliveryError(
                self.name,
                f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}",
                permanent=exc.smtp_code >= 500,
            ) from None
        except ssl.SSLError as exc:
            raise DeliveryError(self.name, f"{where}: TLS failed: {exc.reason or exc}") from None
        except (socket.gaierror, ConnectionRefusedError, TimeoutError) as exc:
            problem = connection_problem(exc, host=self.host)
            raise DeliveryError(self.name, f"{where}: {problem}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                self.name, f"{where}: {type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        if refused:
            # The message was accepted for the others; retrying would duplicate it for them.
            log.warning("channel %r: recipients refused: %s", self.name, ", ".join(sorted(refused)))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
