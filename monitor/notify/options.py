"""Option helpers shared by channels: secrets from files/env, lists, booleans, and HTTP posting.

A secret option ``X`` may be given as ``X`` (already ``${VAR}``-resolved by the config loader),
``X_file`` (read the file, trailing newline stripped: Docker/systemd credentials) or ``X_env``
(the name of an environment variable). Errors name the channel and option, never the value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from monitor.errors import ConfigError, DeliveryError, Problem
from monitor.http import DEFAULT_TIMEOUT, connection_problem, make_session, retry_after_seconds


def secret_keys(*names: str) -> set[str]:
    """The option names a secret may arrive under: ``name``, ``name_file``, ``name_env``."""
    return {f"{n}{suffix}" for n in names for suffix in ("", "_file", "_env")}


def secret(options: dict[str, Any], key: str, channel: str, *, required: bool = True) -> str | None:
    if options.get(key):
        return str(options[key])
    path = options.get(f"{key}_file")
    if path:
        try:
            return Path(str(path)).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                Problem(
                    str(path),
                    0,
                    0,
                    f"channel {channel!r}: cannot read {key}_file: {exc.strerror or exc}",
                )
            ) from None
    var = options.get(f"{key}_env")
    if var:
        value = os.environ.get(str(var))
        if value:
            return value
        raise ConfigError(f"channel {channel!r}: environment variable {var} ({key}_env) is not set")
    if required:
        raise ConfigError(f"channel {channel!r}: missing {key} (or {key}_file / {key}_env)")
    return None


def option_problems(
    name: str,
    options: dict[str, Any],
    path: str,
    *,
    secrets: tuple[str, ...] = (),
    choices: dict[str, tuple[str, ...]] | None = None,
) -> list[Problem]:
    """Located checks ``validate`` runs beyond known/required keys: each secret in ``secrets``
    given one way (``X``, ``X_file`` or ``X_env``), and list/choice options within ``choices``."""
    from monitor.config_checks import problem_at

    problems: list[Problem] = []
    if not isinstance(options, dict):
        return problems
    for key in secrets:
        given = [k for k in (key, f"{key}_file", f"{key}_env") if options.get(k)]
        if not given:
            problems.append(
                problem_at(
                    options,
                    None,
                    path,
                    f"channel {name!r}: missing {key} (or {key}_file / {key}_env)",
                )
            )
        elif len(given) > 1:
            problems.append(
                problem_at(
                    options,
                    given[1],
                    path,
                    f"channel {name!r}: give {key} one way only (found {', '.join(given)})",
                )
            )
    for key, allowed in (choices or {}).items():
        for value in as_list(options.get(key)):
            if value not in allowed:
                problems.append(
                    problem_at(
                        options,
                        key,
                        path,
                        f"channel {name!r}: {key} {value!r} is not one of {', '.join(allowed)}",
                    )
                )
    return problems


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple | set):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]  # a number or boolean where text was expected: let checks say so


def as_bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if hasattr(value, "as_bool"):
        return value.as_bool()
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on", "y"}
    return bool(value)


def timeout_of(options: dict[str, Any]) -> tuple[float, float] | float:
    value = options.get("timeout")
    return float(value) if value is not None else DEFAULT_TIMEOUT


def session_of(channel: Any) -> requests.Session:
    """The channel's injected session, else one made (and kept) for it. Channels retry through
    the outbox, so the session never retries a POST by itself. ``ca_bundle`` trusts a private
    CA for this channel only (TLS verification is never turned off)."""
    session = channel.transports.get("session")
    if session is None:
        session = make_session(retries=0, ca_bundle=channel.options.get("ca_bundle") or None)
        channel.transports["session"] = session
    return session


def verify_of(options: dict[str, Any]) -> Any:
    """Per-request ``verify`` so ``ca_bundle`` also applies to an injected session."""
    return str(options["ca_bundle"]) if options.get("ca_bundle") else True


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

    2xx accepted; 429 and 408 retry (Retry-After honoured); other 4xx are permanent (a wrong or
    revoked URL, refused credentials, a payload the server will never accept); 5xx retry.
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
