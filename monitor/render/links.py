"""Addresses of console pages, for messages (under ``daemon.web.public_url``) and the console.

An alert key is ``rule|reporter|partner|commodity|flow|measure|period`` (a notice's is
``rule|name=value|...|period``, its labels): every character that is not safe in a path
segment is percent-encoded, so a key can never break out of its link (in
Slack's ``<url|text>`` syntax a bare ``|`` would end the URL).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlencode

from monitor.model import SERIES_KEY


def alert_path(key: str) -> str:
    """The console path of an alert's page: the whole key percent-encoded (``/`` and ``|`` too)."""
    return "/alerts/" + quote(key, safe="")


def key_text(key: str) -> str:
    """A key in three words: the rule, what it is about (the partner, or a notice's subject)
    and the period."""
    parts = key.split("|")
    subjects = [p.removeprefix("subject=") for p in parts[1:-1] if p.startswith("subject=")]
    about = subjects[0] if subjects else parts[2] if len(parts) == 7 else ""
    return " ".join(p for p in (parts[0], about, parts[-1]) if p)


def series_path(source: str, series: Mapping[str, str]) -> str:
    """The console path of a series' page: the source and its ``SERIES_KEY`` fields as a query."""
    params = {"source": source, **{k: str(series[k]) for k in SERIES_KEY}}
    return "/series?" + urlencode(params)


def alert_url(public_url: str | None, key: str) -> str | None:
    """The alert's page under the console's public address; None when none is configured."""
    if not public_url:
        return None
    return public_url.rstrip("/") + alert_path(key)
