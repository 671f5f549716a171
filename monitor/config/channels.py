"""Typed options of every channel type, chosen by ``type`` (see docs/delivery.md).

A secret option ``X`` may be given one way only: as ``X`` (already ``${VAR}``-resolved by the
config loader), ``X_file`` (the file's first line, stripped, as the sources' ``key_file`` and
systemd/Docker credentials; Apprise's ``urls_file`` is read whole, one URL a line) or ``X_env``
(the name of an environment variable). Errors name the channel and option, never the value.

A new channel type is one model here (``type: Literal["name"]``, ``implementation``) added to
``AnyChannelOptions``; the channel class sets ``Options`` to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, SecretStr

from monitor.config.options import (
    FLOAT,
    INT,
    TEXT_LIST,
    Options,
    secret_problems,
    text_list_schema,
)
from monitor.errors import ConfigError, Problem


@dataclass(frozen=True)
class Secret:
    """One secret option as given: its value, a file holding it, or a variable naming it."""

    name: str
    value: SecretStr | None
    file: str | None
    env: str | None
    #: the file's whole text (a list, one item a line), not only its first line
    whole_file: bool = False

    def read(self, channel: str, *, required: bool = True) -> str | None:
        """The secret's text, read now (a rotated file or variable takes effect at once); from
        a file, its first line, stripped."""
        if self.value is not None and self.value.get_secret_value():
            return self.value.get_secret_value()
        if self.file:
            try:
                text = Path(self.file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    Problem(
                        self.file,
                        0,
                        0,
                        f"channel {channel!r}: cannot read {self.name}_file: {exc.strerror or exc}",
                    )
                ) from None
            return text if self.whole_file or not text else text.splitlines()[0].strip()
        if self.env:
            value = os.environ.get(self.env)
            if value:
                return value
            raise ConfigError(
                f"channel {channel!r}: environment variable {self.env} ({self.name}_env) is not set"
            )
        if required:
            raise ConfigError(
                f"channel {channel!r}: missing {self.name} (or {self.name}_file / {self.name}_env)"
            )
        return None


Seconds = Annotated[float, Field(gt=0), FLOAT]


class ChannelOptions(Options):
    """Options every channel accepts besides its own."""

    #: "module:Class" of the channel, imported only when the channel is built
    implementation: ClassVar[str]

    type: str = ""  # each type's model fixes it (a Literal)
    template: str | None = Field(default=None, description="template variant (a folder)")
    max_per_second: Annotated[float, Field(gt=0), FLOAT] | None = Field(
        default=None, description="messages a second at most (Slack's default: 1)"
    )
    digest_cap: Annotated[int, Field(ge=1), INT] | None = Field(
        default=None, description="alerts listed in one message before '... and N more'"
    )


class HttpChannelOptions(ChannelOptions):
    """Options of the channels that send over HTTP(S): request timeout and a private CA."""

    timeout: Seconds | None = Field(
        default=None, description="seconds for connect and read (default 10 s and 60 s)"
    )
    ca_bundle: str | None = Field(default=None, description="trust a private CA (file)")


class SlackOptions(HttpChannelOptions):
    """A Slack incoming webhook (``type: slack``); the URL is a secret."""

    implementation: ClassVar[str] = "monitor.notify.slack:SlackWebhookChannel"
    type: Literal["slack"] = "slack"
    webhook_url: SecretStr | None = None
    webhook_url_file: str | None = None
    webhook_url_env: str | None = None

    @classmethod
    def key_problems(cls, data: Mapping[str, Any]) -> list[tuple[str | None, str]]:
        return super().key_problems(data) + secret_problems(data, "webhook_url", required=True)

    @property
    def webhook_url_secret(self) -> Secret:
        """The webhook URL however it was given; the channel reads it at start and each send."""
        return Secret("webhook_url", self.webhook_url, self.webhook_url_file, self.webhook_url_env)


class SlackApiOptions(HttpChannelOptions):
    """Slack's Web API with a bot token (``type: slack_api``): posts to ``channel``, charts in
    the message's thread."""

    implementation: ClassVar[str] = "monitor.notify.slack:SlackApiChannel"
    type: Literal["slack_api"] = "slack_api"
    channel: str = Field(min_length=1, description="channel ID or name")
    api_url: str = "https://slack.com/api/"
    charts: bool = Field(
        default=True, description="upload the email's charts into the message's thread"
    )
    token: SecretStr | None = None
    token_file: str | None = None
    token_env: str | None = None

    @classmethod
    def key_problems(cls, data: Mapping[str, Any]) -> list[tuple[str | None, str]]:
        return super().key_problems(data) + secret_problems(data, "token", required=True)

    @property
    def token_secret(self) -> Secret:
        """The bot token however it was given; the channel reads it at start and each send."""
        return Secret("token", self.token, self.token_file, self.token_env)


Addresses = Annotated[list[str], TEXT_LIST, text_list_schema({"type": "string"})]


class EmailOptions(ChannelOptions):
    """Email over SMTP (``type: email``): server, TLS mode, login, sender and recipients."""

    implementation: ClassVar[str] = "monitor.notify.email:EmailChannel"
    type: Literal["email"] = "email"
    host: str = Field(min_length=1)
    port: Annotated[int, Field(ge=1, le=65535), INT] | None = Field(
        default=None, description="default: 465 with ssl, else 587"
    )
    sender: str = Field(alias="from", min_length=1)
    to: Annotated[list[str], Field(min_length=1), TEXT_LIST, text_list_schema({"type": "string"})]
    starttls: bool = True
    ssl: bool = Field(default=False, description="implicit TLS (port 465)")
    username: str | None = None
    password: SecretStr | None = None
    password_file: str | None = None
    password_env: str | None = None
    timeout: Seconds = 30.0
    list_id: str | None = None
    ca_file: str | None = Field(default=None, description="trust a private CA (file)")
    charts: bool = True

    @classmethod
    def key_problems(cls, data: Mapping[str, Any]) -> list[tuple[str | None, str]]:
        return super().key_problems(data) + secret_problems(data, "password", required=False)

    @property
    def password_secret(self) -> Secret:
        """The SMTP password, optional; used only when ``username`` is set (login)."""
        return Secret("password", self.password, self.password_file, self.password_env)


class AlertmanagerOptions(HttpChannelOptions):
    """Prometheus Alertmanager (``type: alertmanager``): alerts posted to its v2 API."""

    implementation: ClassVar[str] = "monitor.notify.alertmanager:AlertmanagerChannel"
    type: Literal["alertmanager"] = "alertmanager"
    url: str = Field(min_length=1, description="Alertmanager's base URL")
    active_for_hours: Seconds | None = Field(
        default=None, description="endsAt ahead of the release (default 7 days)"
    )
    username: str | None = None
    password: SecretStr | None = None
    password_file: str | None = None
    password_env: str | None = None
    bearer_token: SecretStr | None = None
    bearer_token_file: str | None = None
    bearer_token_env: str | None = None

    @classmethod
    def key_problems(cls, data: Mapping[str, Any]) -> list[tuple[str | None, str]]:
        return (
            super().key_problems(data)
            + secret_problems(data, "password", required=False)
            + secret_problems(data, "bearer_token", required=False)
        )

    @property
    def password_secret(self) -> Secret:
        """The basic-auth password, optional; used with ``username`` when no bearer token is set."""
        return Secret("password", self.password, self.password_file, self.password_env)

    @property
    def bearer_token_secret(self) -> Secret:
        """The bearer token, optional; when set it is sent instead of basic auth."""
        return Secret(
            "bearer_token", self.bearer_token, self.bearer_token_file, self.bearer_token_env
        )


class WebhookOptions(HttpChannelOptions):
    """A generic webhook (``type: webhook``): JSON POSTed to a secret URL, optionally signed."""

    implementation: ClassVar[str] = "monitor.notify.webhook:WebhookChannel"
    type: Literal["webhook"] = "webhook"
    url: SecretStr | None = None
    url_file: str | None = None
    url_env: str | None = None
    secret: SecretStr | None = Field(default=None, description="signs the body (HMAC-SHA256)")
    secret_file: str | None = None
    secret_env: str | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)

    @classmethod
    def key_problems(cls, data: Mapping[str, Any]) -> list[tuple[str | None, str]]:
        return (
            super().key_problems(data)
            + secret_problems(data, "url", required=True)
            + secret_problems(data, "secret", required=False)
        )

    @property
    def url_secret(self) -> Secret:
        """The URL to POST to however it was given; read at start and at each send."""
        return Secret("url", self.url, self.url_file, self.url_env)

    @property
    def secret_secret(self) -> Secret:
        """The HMAC-SHA256 signing key, optional; without it the body is sent unsigned."""
        return Secret("secret", self.secret, self.secret_file, self.secret_env)


class AppriseOptions(ChannelOptions):
    """Any service Apprise supports (``type: apprise``; the ``apprise`` extra), by URL."""

    implementation: ClassVar[str] = "monitor.notify.apprise:AppriseChannel"
    type: Literal["apprise"] = "apprise"
    urls: Annotated[list[SecretStr], TEXT_LIST] | None = None
    urls_file: str | None = Field(default=None, description="one URL per line")
    urls_env: str | None = None

    @classmethod
    def key_problems(cls, data: Mapping[str, Any]) -> list[tuple[str | None, str]]:
        return super().key_problems(data) + secret_problems(data, "urls", required=True)

    @classmethod
    def unavailable(cls) -> str | None:
        try:
            import apprise  # noqa: F401
        except ImportError:
            return (
                "channel type 'apprise' needs the optional Apprise package: "
                "pip install 'customs-monitor[apprise]'"
            )
        return None

    @property
    def urls_secret(self) -> Secret:
        """``urls_file`` or ``urls_env`` only (``urls`` itself is read as a list by the channel);
        its text holds the URLs separated by newlines or commas."""
        return Secret("urls", None, self.urls_file, self.urls_env, whole_file=True)


ConsoleFormat = Literal["text", "slack", "email"]
CONSOLE_FORMATS: tuple[ConsoleFormat, ...] = ("text", "slack", "email")
FileFormat = Literal["slack", "email"]
FILE_FORMATS: tuple[FileFormat, ...] = ("slack", "email")


class ConsoleOptions(ChannelOptions):
    """Messages printed to stdout or stderr (``type: console``) in the chosen renderings."""

    implementation: ClassVar[str] = "monitor.notify.console:ConsoleChannel"
    type: Literal["console"] = "console"
    format: Annotated[
        list[ConsoleFormat],
        Field(min_length=1),
        TEXT_LIST,
        text_list_schema({"enum": ["text", "slack", "email"]}),
    ] = Field(default_factory=lambda: list(CONSOLE_FORMATS[:1]), description="the renderings shown")
    stream: Literal["stdout", "stderr"] = "stdout"


class FileChannelOptions(ChannelOptions):
    """Messages written into a folder (``type: file``) as Slack JSON and/or ``.eml`` files."""

    implementation: ClassVar[str] = "monitor.notify.file:FileChannel"
    type: Literal["file"] = "file"
    path: str = Field(min_length=1, description="folder the messages are written to")
    format: Annotated[
        list[FileFormat],
        Field(min_length=1),
        TEXT_LIST,
        text_list_schema({"enum": ["slack", "email"]}),
    ] = Field(default_factory=lambda: list(FILE_FORMATS))
    sender: str | None = Field(default=None, alias="from")
    to: Addresses = Field(default_factory=list)
    charts: bool = True


AnyChannelOptions = Annotated[
    SlackOptions
    | SlackApiOptions
    | EmailOptions
    | AlertmanagerOptions
    | WebhookOptions
    | AppriseOptions
    | ConsoleOptions
    | FileChannelOptions,
    Field(discriminator="type"),
]
