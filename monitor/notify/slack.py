"""Slack: incoming webhooks (``slack``) and the Web API's chat.postMessage (``slack_api``).

Both send the same Block Kit message (see ``rendering.render_slack``). The webhook URL and the bot
token are secrets: from the option, ``*_file`` or ``*_env``; errors show only a redacted URL.
The Web API is called through the same injectable ``requests.Session`` as every other HTTP
channel (rather than slack_sdk's urllib client) so timeouts, proxies and tests work alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.config.channels import ChannelOptions, SlackApiOptions, SlackOptions
from monitor.notify.base import Channel, Digest, RenderedMessage
from monitor.notify.options import post, raise_for_status, session_of, timeout_of, verify_of
from monitor.notify.rendering import render_slack
from monitor.notify.slack_files import share_charts, upload_charts, web_api, with_charts

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


class SlackWebhookChannel(Channel):
    """Posts the Block Kit message to an incoming webhook, at most ``max_per_second`` (default
    one a second); a missing URL secret fails when the channel is built, not at the first alert."""

    type = "slack"
    Options = SlackOptions
    options: SlackOptions
    min_interval = SLACK_MIN_INTERVAL

    def __init__(
        self,
        name: str,
        options: ChannelOptions | Mapping[str, Any],
        *,
        templates: Any = None,
        **transports: Any,
    ) -> None:
        super().__init__(name, options, templates=templates, **transports)
        # fail at start-up, not at the first alert
        self.options.webhook_url_secret.read(name)

    def render(self, digest: Digest) -> RenderedMessage:
        """The Block Kit message (``render_slack``) with its plain-text fallback."""
        return render_slack(self, digest)

    def send(self, message: RenderedMessage) -> None:
        """POST the fallback text and blocks to the webhook (its URL read at each send)."""
        url = self.options.webhook_url_secret.read(self.name) or ""
        body = {
            "text": message.payload.get("text", message.text),
            "blocks": message.payload.get("blocks", []),
        }
        response = post(
            self.name,
            session_of(self, self.options),
            url,
            json=body,
            timeout=timeout_of(self.options),
            verify=verify_of(self.options),
        )
        raise_for_status(self.name, url, response)


class SlackApiChannel(Channel):
    """Posts the Block Kit message with ``chat.postMessage`` as a bot, the charts (unless
    ``charts: false``) in its thread; paced, and its token checked when built, like the webhook."""

    type = "slack_api"
    Options = SlackApiOptions
    options: SlackApiOptions
    min_interval = SLACK_MIN_INTERVAL

    def __init__(
        self,
        name: str,
        options: ChannelOptions | Mapping[str, Any],
        *,
        templates: Any = None,
        **transports: Any,
    ) -> None:
        super().__init__(name, options, templates=templates, **transports)
        self.options.token_secret.read(name)
        self.api_url = (self.options.api_url or "https://slack.com/api/").rstrip("/") + "/"

    def render(self, digest: Digest) -> RenderedMessage:
        """The Block Kit message plus the email's charts to upload (``with_charts``)."""
        return with_charts(self, digest, render_slack(self, digest))

    def send(self, message: RenderedMessage) -> None:
        """Upload the charts, post the message, then share the charts in its thread; once the
        message is posted nothing raises (``slack_files`` explains the order)."""
        token = self.options.token_secret.read(self.name) or ""
        charts = upload_charts(self, message, token)
        body = {
            "channel": self.options.channel,
            "text": message.payload.get("text", message.text),
            "blocks": message.payload.get("blocks", []),
            "unfurl_links": False,
        }
        data = web_api(self, "chat.postMessage", token, permanent=PERMANENT_API_ERRORS, json=body)
        share_charts(self, charts, data, token)
