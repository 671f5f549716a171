"""Charts for the ``slack_api`` channel: the email's charts, uploaded into the digest's thread.

Slack's upload flow (https://docs.slack.dev/messaging/working-with-files): ``files.
getUploadURLExternal`` (file name and size) answers an upload URL and a file id; the bytes are
POSTed to that URL; ``files.completeUploadExternal`` shares the files in a channel, here as
replies in the digest message's thread (``thread_ts``).

Order, for the outbox's promise (a message is sent once, never lost):
1. the charts are uploaded *before* the message is posted: uploading shows nothing to anyone,
   so a network failure there fails the send and the outbox retries it with nothing duplicated;
2. the message is posted (``chat.postMessage``);
3. the uploads are completed into its thread. A failure here is logged, not raised: the
   message is already in the channel, and a retry would post it a second time.
A refusal retrying cannot fix (uploads disabled, no ``files:write`` scope) drops the charts,
logged, and the message still goes out: the text is the alert, the chart its illustration.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from monitor.errors import DeliveryError
from monitor.http import retry_after_seconds
from monitor.notify.base import Channel, Digest, RenderedMessage
from monitor.notify.options import (
    post,
    raise_for_status,
    session_of,
    timeout_of,
    verify_of,
)

log = logging.getLogger(__name__)

#: errors of the files methods that retrying cannot fix
PERMANENT_FILE_ERRORS = {
    "file_uploads_disabled",
    "file_uploads_except_images_disabled",
    "file_type_not_allowed",
    "file_upload_size_restricted",
    "missing_scope",
    "not_allowed_token_type",
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "no_permission",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_arguments",
    "missing_argument",
}


def with_charts(channel: Channel, digest: Digest, message: RenderedMessage) -> RenderedMessage:
    """``message`` plus the email's charts of this digest (``payload["files"]``), unless the
    channel says ``charts: false``. The same drawing code and inputs as the email: one chart
    per alert shown with a history, the top alerts only."""
    if not getattr(channel.options, "charts", True):
        return message
    from monitor.notify.rendering import render_email

    images = render_email(channel, digest).payload.get("images") or []
    if not images:
        return message
    files = [
        {
            "filename": image["filename"],
            "title": f"{message.subject} (chart {i + 1} of {len(images)})"[:250],
            "png_b64": image["png_b64"],
        }
        for i, image in enumerate(images)
    ]
    return RenderedMessage(message.subject, message.text, {**message.payload, "files": files})


def web_api(
    channel: Any,
    method: str,
    token: str,
    *,
    permanent: set[str] = PERMANENT_FILE_ERRORS,
    **kwargs: Any,
) -> dict[str, Any]:
    """One Slack Web API call: its JSON answer, or a DeliveryError. The API answers 200 with
    ``{"ok": false, "error": ...}`` for most failures; those in ``permanent`` are not retried."""
    url = channel.api_url + method
    response = post(
        channel.name,
        session_of(channel, channel.options),
        url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout_of(channel.options),
        verify=verify_of(channel.options),
        **kwargs,
    )
    raise_for_status(channel.name, url, response)
    try:
        data: dict[str, Any] = response.json()
    except ValueError:
        raise DeliveryError(channel.name, f"{method} answered with non-JSON") from None
    if not data.get("ok"):
        error = str(data.get("error") or "unknown_error")
        raise DeliveryError(
            channel.name,
            f"{method}: {error}",
            permanent=error in permanent,
            retry_after=retry_after_seconds(response),
        )
    return data


def upload_charts(channel: Any, message: RenderedMessage, token: str) -> list[dict[str, str]]:
    """Steps 1: upload each chart; ``[{"id", "title"}]`` to complete after the post.

    Raises DeliveryError when retrying may help (nothing is visible yet); returns [] (logged)
    when Slack refuses uploads for good."""
    files = message.payload.get("files") or []
    uploaded: list[dict[str, str]] = []
    try:
        for f in files:
            data = base64.b64decode(f["png_b64"])
            answer = web_api(
                channel,
                "files.getUploadURLExternal",
                token,
                data={"filename": f["filename"], "length": str(len(data))},
            )
            upload_url, file_id = answer.get("upload_url"), answer.get("file_id")
            if not upload_url or not file_id:
                raise DeliveryError(
                    channel.name,
                    "files.getUploadURLExternal answered without upload_url or file_id",
                    permanent=True,
                )
            # The upload URL is pre-signed: the bot token is not sent to it.
            response = post(
                channel.name,
                session_of(channel, channel.options),
                str(upload_url),
                files={"filename": (f["filename"], data, "image/png")},
                timeout=timeout_of(channel.options),
                verify=verify_of(channel.options),
            )
            raise_for_status(channel.name, str(upload_url), response)
            uploaded.append({"id": str(file_id), "title": str(f.get("title") or f["filename"])})
    except DeliveryError as exc:
        if not exc.permanent:
            raise
        log.warning("%s; sending the message without its charts", exc)
        return []
    return uploaded


def share_charts(
    channel: Any, uploaded: list[dict[str, str]], posted: dict[str, Any], token: str
) -> bool:
    """Step 3: the uploaded charts as replies in the posted message's thread. Never raises:
    the message is in the channel already. True when Slack accepted them."""
    if not uploaded:
        return False
    where, ts = posted.get("channel"), posted.get("ts")
    if not where or not ts:
        log.warning(
            "channel %r: chat.postMessage answered without channel or ts; charts not shared",
            channel.name,
        )
        return False
    try:
        web_api(
            channel,
            "files.completeUploadExternal",
            token,
            json={"files": uploaded, "channel_id": str(where), "thread_ts": str(ts)},
        )
    except DeliveryError as exc:
        log.warning("%s; the message was sent without its charts", exc)
        return False
    return True
