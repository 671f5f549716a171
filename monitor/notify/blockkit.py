"""Check a Slack payload against Block Kit before it is sent (render previews, tests).

slack_sdk's models validate each block's fields (``Block.parse`` + ``validate_json``) but
``Block.parse`` silently returns None for an unknown block type and nothing checks the message's
block count, so both are checked here too.
"""

from __future__ import annotations

import warnings
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50
MAX_TEXT = 40_000  # chat.postMessage truncates ``text`` past this


def check_payload(payload: dict[str, Any]) -> list[str]:
    """Problems of a webhook / chat.postMessage body; an empty list means Slack accepts it."""
    problems: list[str] = []
    blocks = payload.get("blocks")
    text = payload.get("text")
    if not blocks and not text:
        problems.append("neither text nor blocks")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
        problems.append("text must be a string of at most 40,000 characters")
    if blocks is None:
        return problems
    if not isinstance(blocks, list):
        return [*problems, "blocks must be a list"]
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks (Slack accepts at most {MAX_BLOCKS})")
    for i, raw in enumerate(blocks):
        try:
            with warnings.catch_warnings():
                # slack_sdk warns about unknown attributes; that is a problem, not noise.
                warnings.simplefilter("error")
                block = Block.parse(raw)
                if block is None:
                    problems.append(f"block {i}: unknown block type {raw.get('type')!r}")
                    continue
                block.validate_json()
                dropped = sorted(set(raw) - set(block.to_dict()))
                if dropped:
                    problems.append(
                        f"block {i} ({raw.get('type')}): unknown field(s) {', '.join(dropped)}"
                    )
        except (SlackObjectFormationError, UserWarning, KeyError, TypeError) as exc:
            problems.append(f"block {i} ({raw.get('type')}): {exc}")
    return problems
