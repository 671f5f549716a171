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
    @property
    def store(self) -> Any: ...

    @property
    def config(self) -> Any: ...

    @property
    def rules(self) -> Any: ...

    @property
    def templates(self) -> Any: ...

    @property
    def clock(self) -> Clock: ...

    def next_poll(self, source: str) -> datetime | None:
        """When this instance polls the source next (None: it does not, e.g. a standby)."""
        ...


def trigger_next_poll(options: Any, now: datetime) -> datetime | None:
    from monitor.daemon import calendar

    try:
        trigger = calendar.trigger_for_source(options)
    except Exception:  # a schedule validate would refuse: say nothing rather than fail a page
        return None
    when: datetime | None = trigger.get_next_fire_time(None, now)
    return when


@dataclass
class StaticBackend:
    store: Any
    config: Any
    rules: Any
    templates: Any
    clock: Clock = SystemClock()  # noqa: RUF009 - stateless, shared on purpose

    def next_poll(self, source: str) -> datetime | None:
        options = self.config.sources.get(source)
        return trigger_next_poll(options, self.clock.now()) if options is not None else None


class ServiceBackend:
    """The running daemon's parts, read at each request (SIGHUP swaps ``service.components``)."""

    def __init__(self, service: Any) -> None:
        self.service = service

    @property
    def store(self) -> Any:
        return self.service.store

    @property
    def config(self) -> Any:
        return self.service.config

    @property
    def rules(self) -> Any:
        return self.service.rules

    @property
    def templates(self) -> Any:
        return self.service.templates

    @property
    def clock(self) -> Clock:
        clock: Clock = self.service.clock
        return clock

    def next_poll(self, source: str) -> datetime | None:
        if not getattr(self.service, "active", False):
            return None
        scheduler = self.service.scheduler
        job = scheduler.get_job(f"poll:{source}") if scheduler.running else None
        if job is not None and job.next_run_time is not None:
            when: datetime = job.next_run_time
            return when
        options = self.service.config.sources.get(source)
        return trigger_next_poll(options, self.clock.now()) if options is not None else None
