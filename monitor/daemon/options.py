"""The ``daemon:`` section of monitor.yaml: health endpoint, watchdog, ops route, HA lease.

Every key has a default, so a config without ``daemon:`` runs a sensible single instance.
``check_daemon_options`` reports located problems (unknown keys with a suggestion, wrong types);
the lead's config loader calls it, and ``DaemonOptions.from_config`` builds the typed value.

    daemon:
      instance_id: host-a            # default: the host name; shown in status and STATUS=
      health: {bind: 127.0.0.1, port: 9464, enabled: true}
      watchdog_seconds: 30           # ping cadence when systemd asks for none (WATCHDOG_USEC)
      deliver_interval: 10          # seconds between outbox drains
      release_retry_seconds: 60     # first retry of a release that failed to evaluate (doubles)
      ops:
        channels: [ops-email]        # where self-monitoring notices go (empty: log only)
        source_failures: 3           # consecutive failed polls before a notice
        outbox_stuck_minutes: 60     # a pending message older than this raises a notice
      ha:
        lease_name: customs-monitor  # advisory lock name; two deployments on one DB use two
        check_seconds: 5             # the active re-checks its lock, the standby retries
        keepalive_seconds: 5         # TCP keepalive idle/interval for the lock connection
        lost_after_seconds: 10       # no answer from PostgreSQL for this long: lease lost
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

from monitor.config_checks import check_keys, problem_at
from monitor.errors import Problem
from monitor.web.options import check_daemon_web

_TOP = {
    "instance_id",
    "health",
    "watchdog_seconds",
    "deliver_interval",
    "release_retry_seconds",
    "ops",
    "ha",
    "web",
}
_HEALTH = {"enabled", "bind", "port"}
_OPS = {"channels", "source_failures", "outbox_stuck_minutes"}
_HA = {"lease_name", "check_seconds", "keepalive_seconds", "lost_after_seconds"}


@dataclass(frozen=True)
class HealthOptions:
    enabled: bool = True
    bind: str = "127.0.0.1"  # loopback by default: metrics are not for the internet
    port: int = 9464  # the port Prometheus' exporter registry lists as unused


@dataclass(frozen=True)
class OpsOptions:
    channels: tuple[str, ...] = ()
    source_failures: int = 3
    outbox_stuck_minutes: float = 60.0


@dataclass(frozen=True)
class HaOptions:
    lease_name: str = "customs-monitor"
    check_seconds: float = 5.0
    keepalive_seconds: int = 5
    # The active must give up (fence) before PostgreSQL drops its dead connection and frees the
    # lock for the standby: check + lost_after < 4 * keepalive (the server's detection time).
    lost_after_seconds: float = 10.0


@dataclass(frozen=True)
class DaemonOptions:
    instance_id: str = field(default_factory=socket.gethostname)
    health: HealthOptions = field(default_factory=HealthOptions)
    watchdog_seconds: float = 30.0
    deliver_interval: float = 10.0
    release_retry_seconds: float = 60.0
    ops: OpsOptions = field(default_factory=OpsOptions)
    ha: HaOptions = field(default_factory=HaOptions)

    @classmethod
    def from_config(cls, obj: Any) -> DaemonOptions:
        """Typed options from the ``daemon:`` mapping (None or missing keys: defaults).

        Assumes ``check_daemon_options`` found no problems.
        """
        obj = obj or {}
        health = obj.get("health") or {}
        ops = obj.get("ops") or {}
        ha = obj.get("ha") or {}
        d_health, d_ops, d_ha = HealthOptions(), OpsOptions(), HaOptions()
        return cls(
            instance_id=str(obj.get("instance_id") or socket.gethostname()),
            health=HealthOptions(
                enabled=_as_bool(health.get("enabled", d_health.enabled)),
                bind=str(health.get("bind", d_health.bind)),
                port=int(health.get("port", d_health.port)),
            ),
            watchdog_seconds=float(obj.get("watchdog_seconds", cls.watchdog_seconds)),
            deliver_interval=float(obj.get("deliver_interval", cls.deliver_interval)),
            release_retry_seconds=float(
                obj.get("release_retry_seconds", cls.release_retry_seconds)
            ),
            ops=OpsOptions(
                channels=tuple(str(c) for c in ops.get("channels", d_ops.channels)),
                source_failures=int(ops.get("source_failures", d_ops.source_failures)),
                outbox_stuck_minutes=float(
                    ops.get("outbox_stuck_minutes", d_ops.outbox_stuck_minutes)
                ),
            ),
            ha=HaOptions(
                lease_name=str(ha.get("lease_name", d_ha.lease_name)),
                check_seconds=float(ha.get("check_seconds", d_ha.check_seconds)),
                keepalive_seconds=int(ha.get("keepalive_seconds", d_ha.keepalive_seconds)),
                lost_after_seconds=float(ha.get("lost_after_seconds", d_ha.lost_after_seconds)),
            ),
        )


def _as_bool(value: Any) -> bool:
    if hasattr(value, "as_bool"):  # yamlload.YamlBool: "yes"/"no" kept as text
        return bool(value.as_bool())
    return bool(value)


def _number(
    obj: Any,
    key: str,
    path: str,
    what: str,
    *,
    minimum: float,
    maximum: float | None,
    integer: bool = False,
) -> list[Problem]:
    if key not in obj:
        return []
    value = obj[key]
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        noun = "an integer" if integer else "a number"
        return [problem_at(obj, key, path, f"{what}.{key} must be {noun}, got {value!r}")]
    if value < minimum or (maximum is not None and value > maximum):
        bound = (
            f"between {minimum:g} and {maximum:g}"
            if maximum is not None
            else f"at least {minimum:g}"
        )
        return [problem_at(obj, key, path, f"{what}.{key} must be {bound}, got {value!r}")]
    return []


def check_daemon_options(obj: Any, path: str) -> list[Problem]:
    """Located problems with the ``daemon:`` section (None is fine: all defaults)."""
    if obj is None:
        return []
    problems = check_keys(obj, allowed=_TOP, path=path, what="daemon")
    if not isinstance(obj, dict):
        return problems
    problems += _number(obj, "watchdog_seconds", path, "daemon", minimum=1, maximum=3600)
    problems += _number(obj, "deliver_interval", path, "daemon", minimum=1, maximum=86400)
    problems += _number(obj, "release_retry_seconds", path, "daemon", minimum=1, maximum=3600)
    if "instance_id" in obj and not str(obj["instance_id"]).strip():
        problems.append(
            problem_at(obj, "instance_id", path, "daemon.instance_id must not be empty")
        )

    health = obj.get("health")
    if health is not None:
        problems += check_keys(health, allowed=_HEALTH, path=path, what="daemon.health")
        if isinstance(health, dict):
            problems += _number(
                health, "port", path, "daemon.health", minimum=0, maximum=65535, integer=True
            )
            if "bind" in health:
                try:
                    ipaddress.ip_address(str(health["bind"]))
                except ValueError:
                    problems.append(
                        problem_at(
                            health,
                            "bind",
                            path,
                            f"daemon.health.bind must be an IP address such as 127.0.0.1, got "
                            f"{health['bind']!r}",
                        )
                    )

    problems += check_daemon_web(obj, path)

    ops = obj.get("ops")
    if ops is not None:
        problems += check_keys(ops, allowed=_OPS, path=path, what="daemon.ops")
        if isinstance(ops, dict):
            chans = ops.get("channels", [])
            if not isinstance(chans, list) or not all(isinstance(c, str) for c in chans):
                problems.append(
                    problem_at(
                        ops, "channels", path, "daemon.ops.channels must be a list of channel names"
                    )
                )
            problems += _number(
                ops, "source_failures", path, "daemon.ops", minimum=1, maximum=None, integer=True
            )
            problems += _number(
                ops, "outbox_stuck_minutes", path, "daemon.ops", minimum=1, maximum=None
            )

    ha = obj.get("ha")
    if ha is not None:
        problems += check_keys(ha, allowed=_HA, path=path, what="daemon.ha")
        if isinstance(ha, dict):
            problems += _number(ha, "check_seconds", path, "daemon.ha", minimum=1, maximum=10)
            problems += _number(
                ha, "keepalive_seconds", path, "daemon.ha", minimum=1, maximum=10, integer=True
            )
            problems += _number(ha, "lost_after_seconds", path, "daemon.ha", minimum=2, maximum=25)
            if not problems:
                opts = DaemonOptions.from_config(obj).ha
                server_drop = 4 * opts.keepalive_seconds
                if opts.check_seconds + opts.lost_after_seconds >= server_drop:
                    problems.append(
                        problem_at(
                            obj,
                            "ha",
                            path,
                            f"daemon.ha: check_seconds + lost_after_seconds "
                            f"({opts.check_seconds + opts.lost_after_seconds:g}) must be below "
                            f"4 x keepalive_seconds ({server_drop}), or a cut-off active could "
                            f"still be sending when the standby takes over",
                        )
                    )
                if server_drop + opts.check_seconds > 30:
                    problems.append(
                        problem_at(
                            obj,
                            "ha",
                            path,
                            f"daemon.ha: 4 x keepalive_seconds + check_seconds "
                            f"({server_drop + opts.check_seconds:g}) exceeds the 30 s takeover "
                            f"promise",
                        )
                    )
            if "lease_name" in ha and not str(ha["lease_name"]).strip():
                problems.append(
                    problem_at(ha, "lease_name", path, "daemon.ha.lease_name must not be empty")
                )
    return problems


def check_channel_refs(options: DaemonOptions, channels: set[str], path: str) -> list[Problem]:
    """Ops channels must exist in ``channels:`` (called by the config loader once both parsed)."""
    return [
        Problem(path, 0, 0, f"daemon.ops.channels: unknown channel {c!r}")
        for c in options.ops.channels
        if c not in channels
    ]
