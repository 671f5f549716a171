"""Typed options of the daemon: the ``daemon:`` section and each source's schedule.

Every key has a default, so a config without ``daemon:`` runs a sensible single instance.

    daemon:
      instance_id: host-a            # default: the host name; shown in status and STATUS=
      health: {bind: 127.0.0.1, port: 9464, enabled: true}
      watchdog_seconds: 30           # ping cadence when systemd asks for none (WATCHDOG_USEC)
      deliver_interval: 10           # seconds between outbox drains
      release_retry_seconds: 60      # first retry of a release that failed to evaluate
      ops:
        channels: [ops-email]        # where self-monitoring notices go (empty: log only)
        source_failures: 3           # consecutive failed polls before a notice
        outbox_stuck_minutes: 60     # a pending message older than this raises a notice
      ha:
        lease_name: customs-monitor  # advisory lock name; two deployments on one DB use two
        check_seconds: 5             # the active re-checks its lock, the standby retries
        keepalive_seconds: 5         # TCP keepalive idle/interval for the lock connection
        lost_after_seconds: 10       # no answer from PostgreSQL for this long: lease lost
      web: {bind: 127.0.0.1, port: 9465, public_url: https://..., token_file: tokens}

A new part of the section is one model here and one field of ``DaemonOptions``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from monitor.config.options import FLOAT, INT, TEXT_LIST, Options, check
from monitor.config.schedule import parse_hhmm, schedule_trigger
from monitor.errors import Problem


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("option", "must not be empty")
    return value


NonBlank = Annotated[str, AfterValidator(_not_blank)]

#: PostgreSQL keeps 63 bytes of a session's application_name, which the HA lease sets to
#: "customs-monitor <instance_id>", and replaces anything but printable ASCII with "?"
INSTANCE_ID_MAX = 63 - len("customs-monitor ")


def _instance_id(value: str) -> str:
    if not all(" " <= c <= "~" for c in value):
        raise PydanticCustomError(
            "option", "must be printable ASCII (PostgreSQL shows the HA lease holder by it)"
        )
    if len(value) > INSTANCE_ID_MAX:
        raise PydanticCustomError(
            "option",
            "must be at most {limit} characters (PostgreSQL shows the HA lease holder by it)",
            {"limit": INSTANCE_ID_MAX},
        )
    return value


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise PydanticCustomError("option", "must be an IP address such as 127.0.0.1") from None
    return value


class HealthOptions(Options):
    """The health and metrics endpoint (``/healthz``, ``/readyz``, ``/metrics``)."""

    enabled: bool = True
    #: loopback by default: metrics are not for the internet
    bind: Annotated[str, AfterValidator(_ip_address)] = "127.0.0.1"
    #: the port Prometheus' exporter registry lists as unused
    port: Annotated[int, Field(ge=0, le=65535), INT] = 9464


class OpsOptions(Options):
    """Self-monitoring: failing sources and a stuck outbox become notices."""

    channels: Annotated[tuple[str, ...], TEXT_LIST] = Field(
        default=(), description="channels for the monitor's own troubles (empty: log only)"
    )
    source_failures: Annotated[int, Field(ge=1), INT] = 3
    outbox_stuck_minutes: Annotated[float, Field(ge=1), FLOAT] = 60.0


class HaOptions(Options):
    """The PostgreSQL advisory-lock lease of an active/standby pair."""

    lease_name: NonBlank = "customs-monitor"
    check_seconds: Annotated[float, Field(ge=1, le=10), FLOAT] = 5.0
    keepalive_seconds: Annotated[int, Field(ge=1, le=10), INT] = 5
    # The active must give up (fence) before PostgreSQL drops its dead connection and frees the
    # lock for the standby: check + lost_after < 4 * keepalive (the server's detection time).
    lost_after_seconds: Annotated[float, Field(ge=2, le=25), FLOAT] = 10.0

    @model_validator(mode="after")
    def _fencing(self) -> Self:
        server_drop = 4 * self.keepalive_seconds
        found = []
        if self.check_seconds + self.lost_after_seconds >= server_drop:
            found.append(
                f"check_seconds + lost_after_seconds "
                f"({self.check_seconds + self.lost_after_seconds:g}) must be below "
                f"4 x keepalive_seconds ({server_drop}), or a cut-off active could "
                f"still be sending when the standby takes over"
            )
        if server_drop + self.check_seconds > 30:
            found.append(
                f"4 x keepalive_seconds + check_seconds "
                f"({server_drop + self.check_seconds:g}) exceeds the 30 s takeover promise"
            )
        if found:
            raise PydanticCustomError("sentence", "; ".join(found))
        return self


def public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the console's public address (None when it can)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.username or parts.password:
        return "must not carry a user name or password (links are shown to everyone)"
    if parts.query or parts.fragment:
        return "must not have a query or fragment (alert paths are appended to it)"
    return None


def _public_url(value: str) -> str:
    why = public_url_problem(value)
    if why:
        raise PydanticCustomError("option", why)
    return value.rstrip("/")


def is_loopback(address: str) -> bool:
    """Whether ``address`` is a loopback IP (127.0.0.0/8, ::1); a host name is never one."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class WebOptions(Options):
    """The web console (``monitor.web``; the ``web`` extra): where it listens, who may write."""

    enabled: bool = Field(default=True, description="the console runs when daemon.web is set")
    bind: Annotated[str, AfterValidator(_ip_address)] = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535), INT] = 9465
    public_url: Annotated[str, AfterValidator(_public_url)] | None = Field(
        default=None, description="the console's address as readers reach it: messages link here"
    )
    token_file: str | None = Field(
        default=None, description="NAME:TOKEN per line; a write needs one (relative: config folder)"
    )
    require_login: bool = Field(default=False, description="reads need a sign-in too")

    @model_validator(mode="after")
    def _reachable_needs_tokens(self) -> Self:
        if self.enabled and not self.token_file and not is_loopback(self.bind):
            raise PydanticCustomError(
                "sentence",
                f"bind {self.bind} is reachable from the network: set daemon.web.token_file "
                "(then every page needs a sign-in), or bind to 127.0.0.1",
            )
        return self


class DaemonOptions(Options):
    """The ``daemon:`` section of monitor.yaml."""

    instance_id: Annotated[NonBlank, AfterValidator(_instance_id)] = Field(
        default_factory=socket.gethostname,
        description="shown in status and systemd's STATUS= (default: the host name)",
    )
    health: HealthOptions = Field(default_factory=HealthOptions)
    watchdog_seconds: Annotated[float, Field(ge=1, le=3600), FLOAT] = 30.0
    deliver_interval: Annotated[float, Field(ge=1, le=86400), FLOAT] = 10.0
    release_retry_seconds: Annotated[float, Field(ge=1, le=3600), FLOAT] = Field(
        default=60.0,
        description="first retry of a release that failed to evaluate (doubles, at most 1 h)",
    )
    ops: OpsOptions = Field(default_factory=OpsOptions)
    ha: HaOptions = Field(default_factory=HaOptions)
    web: WebOptions | None = Field(default=None, description="the web console (off when unset)")

    @model_validator(mode="after")
    def _console_port(self) -> Self:
        web, health = self.web, self.health
        if web and web.enabled and web.port and health.enabled and web.port == health.port:
            raise PydanticCustomError(
                "sentence",
                f"web.port {web.port} is the health endpoint's port: give the console its own "
                "(default 9465)",
            )
        return self

    @classmethod
    def from_config(cls, obj: Mapping[str, Any] | None) -> DaemonOptions:
        """The options of a ``daemon:`` mapping (None: every default); ConfigError if wrong."""
        return _DaemonSection.parse({"daemon": obj or {}}, what="").daemon


def check_daemon_options(obj: Any, path: str) -> list[Problem]:
    """Located problems of a ``daemon:`` mapping (None is fine: all defaults)."""
    if obj is None:
        return []
    return [*check(_DaemonSection, {"daemon": obj}, path)]


class _DaemonSection(Options):
    # Validating under the section's own name makes messages read "daemon.health.port ...".
    daemon: DaemonOptions


# -- schedules --------------------------------------------------------------------------------


def _hhmm(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("option", "must be a time HH:MM")
    try:
        parse_hhmm(value)
    except ValueError:
        raise PydanticCustomError("option", "must be a time HH:MM") from None
    return value.strip()


def _hours(value: Any) -> str:
    message = "must be 'HH:MM-HH:MM' with start before end"
    if not isinstance(value, str):
        raise PydanticCustomError("option", message)
    start, _, end = value.partition("-")
    try:
        if parse_hhmm(start) >= parse_hhmm(end):
            raise ValueError
    except ValueError:
        raise PydanticCustomError("option", message) from None
    return value.strip()


class CalendarOptions(Options):
    """A release calendar: dense polls inside GACC's release windows, daily otherwise."""

    name: Literal["gacc"] = "gacc"
    every_minutes: Annotated[int, Field(ge=1, le=720), INT] = 10
    hours: Annotated[str, BeforeValidator(_hours)] = Field(
        default="09:00-18:00", description="dense polling hours, Asia/Shanghai"
    )
    daily_at: Annotated[str, BeforeValidator(_hhmm)] = "09:30"
    holidays: list[dt.date] = Field(default_factory=list, description="no release on these days")


def _calendar(value: Any) -> Any:
    if isinstance(value, str):
        if value != "gacc":
            raise PydanticCustomError("option_value", "is not a known calendar (known: gacc)")
        return CalendarOptions()
    return value


def _calendar_schema(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [{"const": "gacc"}, *schema.get("anyOf", [])]


def _schedule(value: Any) -> Any:
    if isinstance(value, str):
        try:
            schedule_trigger(value)
        except ValueError as exc:
            raise PydanticCustomError("option_value", f"is not valid: {exc}") from None
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (KeyError, ValueError):
        raise PydanticCustomError(
            "option_value", "is not a known time zone (e.g. UTC, Asia/Shanghai)"
        ) from None
    return value


class ScheduleOptions(Options):
    """When a source polls: a crontab line, ``@every N(s|m|h)``, or a release calendar."""

    schedule: Annotated[str | None, BeforeValidator(_schedule)] = Field(
        default=None,
        description='crontab line (weekday 1 = Monday) or "@every 5m"; default */30 * * * *',
    )
    calendar: Annotated[CalendarOptions | None, BeforeValidator(_calendar)] = Field(
        default=None,
        description="gacc, or a mapping of calendar options",
        json_schema_extra=_calendar_schema,
    )
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"

    @classmethod
    def key_problems(cls, data: Mapping[str, Any]) -> list[tuple[str | None, str]]:
        found = super().key_problems(data)
        if "schedule" in data and "calendar" in data:
            found.append(("calendar", "give either schedule or calendar, not both"))
        return found


__all__ = [
    "CalendarOptions",
    "DaemonOptions",
    "HaOptions",
    "HealthOptions",
    "OpsOptions",
    "ScheduleOptions",
    "check_daemon_options",
]
