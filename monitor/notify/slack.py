"""Slack: incoming webhooks (``slack``) and the Web API's chat.postMessage (``slack_api``).

Both send the same Block Kit message (see ``rendering.render_slack``). The webhook URL and the bot
token are secrets: from the option, ``*_file`` or ``*_env``; errors show only a redacted URL.
The Web API is called through the same injectable ``requests.Session`` as every other HTTP
channel (rather than slack_sdk's urllib client) so timeouts, proxies and tests work alike.
"""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.errors import DeliveryError, Problem
from monitor.http import retry_after_seconds
from monitor.notify.base import Channel, Digest, RenderedMessage
from monitor.notify.options import (
    option_problems,
    post,
    raise_for_status,
    secret,
    secret_keys,
    session_of,
    timeout_of,
    verify_of,
)
from monitor.notify.rendering import render_slack
from monitor.notify.slack_files import share_charts, upload_charts, with_charts

# Slack allows about one message per second per webhook/channel; bursts are answered with 429.
SLACK_MIN_INTERVAL = 1.0

# chat.postMessage errors that retrying cannot fix (https://docs.slack.dev/reference/methods/chat.postMessage)
PERMANENT_API_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_too_long",
    "no_text",
    "restricted_action",
    "org_login_required",
    "ekm_access_denied",
    "invalid_arguments",
    "team_access_not_granted",
}


def _min_interval(options: dict[str, Any]) -> float:
    rate = options.get("max_per_second")
    return 1.0 / float(rate) if rate else SLACK_MIN_INTERVAL


class SlackWebhookChannel(Channel):
    type = "slack"
    OPTIONS: ClassVar[set[str]] = {"ca_bundle", "timeout", *secret_keys("webhook_url")}

    @classmethod
    def check_options(cls, name: str, options: dict[str, Any], path: str) -> list[Problem]:
        return super().check_options(name, options, path) + option_problems(
            name, options, path, secrets=("webhook_url",)
        )

    def __init__(
        self, name: str, options: dict[str, Any], *, templates: Any = None, **transports: Any
    ) -> None:
        super().__init__(name, options, templates=templates, **transports)
        self.min_interval = _min_interval(options)
        secret(options, "webhook_url", name)  # fail at start-up, not at the first alert

    def render(self, digest: Digest) -> RenderedMessage:
        return render_slack(self, digest)

    def send(self, message: RenderedMessage) -> None:
        url = secret(self.options, "webhook_url", self.name) or ""
        body = {
            "text": message.payload.get("text", message.text),
            "blocks": message.payload.get("blocks", []),
        }
        response = post(
            self.name,
            session_of(self),
            url,
            json=body,
            timeout=timeout_of(self.options),
            verify=verify_of(self.options),
        )
        raise_for_status(self.name, url, response)


class SlackApiChannel(Channel):
    type = "slack_api"
    OPTIONS: ClassVar[set[str]] = {
        "ca_bundle",
        "channel",
        "timeout",
        "api_url",
        "charts",
        *secret_keys("token"),
    }
    REQUIRED: ClassVar[set[str]] = {"channel"}

    @classmethod
    def check_options(cls, name: str, options: dict[str, Any], path: str) -> list[Problem]:
        return super().check_options(name, options, path) + option_problems(
            name, options, path, secrets=("token",)
        )

    def __init__(
        self, name: str, options: dict[str, Any], *, templates: Any = None, **transports: Any
    ) -> None:
        super().__init__(name, options, templates=templates, **transports)
        self.min_interval = _min_interval(options)
        secret(options, "token", name)
        self.api_url = str(options.get("api_url") or "https://slack.com/api/").rstrip("/") + "/"

    def render(self, digest: Digest) -> RenderedMessage:
        return with_charts(self, digest, render_slack(self, digest))

    def send(self, message: RenderedMessage) -> None:
        token = secret(self.options, "token", self.name) or ""
        charts = upload_charts(self, message, token)
        url = self.api_url + "chat.postMessage"
        body = {
            "channel": str(self.options.get("channel")),
            "text": message.payload.get("text", message.text),
            "blocks": message.payload.get("blocks", []),
            "unfurl_links": False,
        }
        response = post(
            self.name,
            session_of(self),
            url,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_of(self.options),
            verify=verify_of(self.options),
        )
        raise_for_status(self.name, url, response)
        # The Web API answers 200 with {"ok": false, "error": ...} for most failures.
        try:
            data = response.json()
        except ValueError:
            raise DeliveryError(self.name, "chat.postMessage answered with non-JSON") from None
        if data.get("ok"):
            share_charts(self, charts, data, token)
            return
        error = str(data.get("error") or "unknown_error")
        raise DeliveryError(
            self.name,
            f"chat.postMessage: {error}",
            permanent=error in PERMANENT_API_ERRORS,
            retry_after=retry_after_seconds(response),
        )
