"""One exception hierarchy for everything a user can cause or see.

    MonitorError                 base: the CLI prints str(error) and exits 1 (2 for ConfigError)
    ├── ConfigError              bad monitor.yaml, rule pack, template or usage; carries Problems
    ├── SourceError              a source could not be fetched or parsed; names source and URL
    ├── StoreError               the state store is unreachable, locked, read-only or full
    └── DeliveryError            a channel refused a message; ``permanent`` says stop retrying

Messages never contain secrets: callers pass redacted URLs (see ``monitor.secrets.redact_url``).
"""

from __future__ import annotations

from dataclasses import dataclass


class MonitorError(Exception):
    """Base class of every error customs-monitor raises on purpose."""

    exit_code = 1


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem: ``path:line:column: message`` (line and column are 1-based)."""

    path: str
    line: int = 0
    column: int = 0
    message: str = ""

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column or 1}: {self.message}"
        return f"{self.path}: {self.message}"


class ConfigError(MonitorError):
    """Configuration, rule pack, template or usage errors (exit code 2)."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(path="<config>", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SourceError(MonitorError):
    """A source failed: HTTP error, timeout, malformed payload. Nothing of it was stored."""

    def __init__(
        self,
        source: str,
        message: str,
        *,
        url: str | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> None:
        self.source = source
        self.message = message
        self.url = url
        self.retryable = retryable
        self.retry_after = retry_after
        where = f"source {source!r}" + (f" ({url})" if url else "")
        super().__init__(f"{where}: {message}")


class StoreError(MonitorError):
    """The state store cannot be used right now (locked, read-only, full, unreachable)."""


class DeliveryError(MonitorError):
    """A channel did not accept a message.

    ``permanent`` errors (404/410 webhook, auth refused, bad recipient) are not retried;
    ``retry_after`` (seconds) is the server's own request, e.g. Slack's 429 Retry-After.
    """

    def __init__(
        self,
        channel: str,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.channel = channel
        self.permanent = permanent
        self.retry_after = retry_after
        super().__init__(f"channel {channel!r}: {message}")
