"""What the console reads through: the store, the config, the rules, the templates and the clock.

The daemon hands its live parts (``ServiceBackend``: a reload is picked up at the next request,
and "next poll" is the scheduler's own next run); a standalone console or a test hands fixed
ones (``StaticBackend``: the next poll is the trigger's next fire time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from monitor.clock import Clock, SystemClock


class Backend(Protocol):
    """What the console reads through: the daemon's live parts or fixed ones (module docstring)."""

    @property
    def store(self) -> Any:
        """The state store (a SqlStore: the console's queries read its ``engine``)."""
        ...

    @property
    def config(self) -> Any:
        """The Config in force (its sources and ``daemon.web``)."""
        ...

    @property
    def rules(self) -> Any:
        """The loaded rules (their ids fill the rule filter; ids and labels check a silence)."""
        ...

    @property
    def templates(self) -> Any:
        """The TemplateEnv alert summaries are rendered with."""
        ...

    @property
    def clock(self) -> Clock:
        """Where the pages take "now" from (a fixed clock in tests)."""
        ...

    def next_poll(self, source: str) -> datetime | None:
        """When this instance polls the source next (None: it does not, e.g. a standby)."""
        ...


def trigger_next_poll(options: Any, now: datetime) -> datetime | None:
    """When a source's schedule (``options``: its validated options) fires next at or after ``now``;
    None if it never does or its trigger cannot be built."""
    from monitor.daemon import calendar

    try:
        trigger = calendar.trigger_for_source(options)
    except Exception:  # a schedule validate would refuse: say nothing rather than fail a page
        return None
    when: datetime | None = trigger.get_next_fire_time(None, now)
    return when


@dataclass
class StaticBackend:
    """Fixed parts, for a standalone console or a test."""

    store: Any
    config: Any
    rules: Any
    templates: Any
    clock: Clock = SystemClock()  # noqa: RUF009 - stateless, shared on purpose

    def next_poll(self, source: str) -> datetime | None:
        """When the source's schedule fires next at or after the clock's now; None for a source not
        in the config."""
        options = self.config.sources.get(source)
        return trigger_next_poll(options, self.clock.now()) if options is not None else None


class ServiceBackend:
    """The running daemon's parts, read at each request (SIGHUP swaps ``service.components``)."""

    def __init__(self, service: Any) -> None:
        self.service = service

    @property
    def store(self) -> Any:
        """The daemon's state store (``service.store``)."""
        return self.service.store

    @property
    def config(self) -> Any:
        """The daemon's config in force: after a reload, the new one."""
        return self.service.config

    @property
    def rules(self) -> Any:
        """The rules in force: after a reload, the new ones."""
        return self.service.rules

    @property
    def templates(self) -> Any:
        """The TemplateEnv in force: replaced with the other components by a reload."""
        return self.service.templates

    @property
    def clock(self) -> Clock:
        """The daemon's clock."""
        clock: Clock = self.service.clock
        return clock

    def next_poll(self, source: str) -> datetime | None:
        """None unless this instance is the active one (a standby does not poll); else the
        scheduler's next run of the poll job, or the schedule's next fire time while the scheduler
        is not running."""
        if not getattr(self.service, "active", False):
            return None
        scheduler = self.service.scheduler
        job = scheduler.get_job(f"poll:{source}") if scheduler.running else None
        if job is not None and job.next_run_time is not None:
            when: datetime = job.next_run_time
            return when
        options = self.service.config.sources.get(source)
        return trigger_next_poll(options, self.clock.now()) if options is not None else None
