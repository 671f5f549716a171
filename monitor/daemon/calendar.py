"""When each source polls: a release calendar (GACC) or a plain crontab line.

GACC publishes a preliminary summary around the 7th-14th and the detailed tables from the 18th
(the query platform on the 20th); January and February come out together in March. Polling every
10 minutes all month would hammer a server for nothing, so ``GaccCalendarTrigger`` polls densely
only inside those windows during Beijing office hours, and once a day otherwise.

Config on a source (``calendar:`` and ``schedule:`` are exclusive)::

    calendar: gacc                      # the defaults below
    calendar:
      name: gacc
      every_minutes: 10
      hours: "09:00-18:00"              # Asia/Shanghai
      daily_at: "09:30"                 # outside the windows
      holidays: [2026-10-01, 2026-10-02]   # no release on these days; the window stretches
    schedule: "*/30 * * * *"            # crontab, standard day-of-week (0 or 7 = Sunday)
    schedule: "@every 5m"               # a fixed interval (s, m or h; at least 5 s)

The options are validated by ``monitor.config.daemon.ScheduleOptions``; a ``schedule:`` line
means what ``monitor.config.schedule`` says (crontab weekdays as in cron, ``@every``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from monitor.config.daemon import CalendarOptions, ScheduleOptions
from monitor.config.schedule import (
    DEFAULT_SCHEDULE,
    crontab_trigger,
    every_trigger,
    parse_hhmm,
    schedule_trigger,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
PRELIMINARY_WINDOW = (7, 14)
DETAIL_WINDOW = (18, 22)


@dataclass(frozen=True)
class GaccCalendar:
    """GACC poll times (Beijing): every ``every_minutes`` from ``start`` to ``end`` on days in a
    release window, once at ``daily_at`` on other days; ``holidays`` stretch the windows."""

    every_minutes: int = 10
    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(18, 0)
    daily_at: dt.time = dt.time(9, 30)
    holidays: frozenset[dt.date] = frozenset()

    def _window_days(self, year: int, month: int, first: int, last: int) -> set[int]:
        """Working days of a window; each holiday inside it pushes the end one working day on."""
        days: set[int] = set()
        owed = 0
        day = first
        month_len = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
        while day <= month_len and (day <= last or owed > 0):
            date = dt.date(year, month, day)
            if date in self.holidays:
                owed += 1 if day <= last else 0
            else:
                days.add(day)
                if day > last:
                    owed -= 1
            day += 1
        return days

    def is_release_day(self, date: dt.date) -> bool:
        """A day inside a window where GACC may publish (local Beijing date)."""
        if date in self.holidays:
            return False
        if date.month == 2:
            # January is not published on its own: Jan+Feb arrive together in March.
            return False
        windows = (PRELIMINARY_WINDOW, DETAIL_WINDOW)
        return any(date.day in self._window_days(date.year, date.month, a, b) for a, b in windows)

    def fire_times(self, date: dt.date) -> list[dt.datetime]:
        """Every poll time (aware, Asia/Shanghai) on one local date, in order."""
        if not self.is_release_day(date):
            return [dt.datetime.combine(date, self.daily_at, SHANGHAI)]
        times = []
        when = dt.datetime.combine(date, self.start, SHANGHAI)
        end = dt.datetime.combine(date, self.end, SHANGHAI)
        step = dt.timedelta(minutes=self.every_minutes)
        while when <= end:
            times.append(when)
            when += step
        return times

    def expected_release(self, period: str) -> dt.date:
        """The day the detailed tables for ``period`` (YYYY-MM) are expected (for missing_release).

        The 20th of the next month (query platform day), January's in March with February's.
        """
        year, month = int(period[:4]), int(period[5:7])
        month += 1
        if month == 13:
            year, month = year + 1, 1
        if month == 2:  # January data
            month = 3
        return dt.date(year, month, 20)


class GaccCalendarTrigger(BaseTrigger):
    """APScheduler 3 trigger following ``GaccCalendar``; fire times are aware datetimes."""

    def __init__(self, calendar: GaccCalendar | None = None) -> None:
        self.calendar = calendar or GaccCalendar()

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime | None:
        """The first calendar time at or after ``now`` and after ``previous_fire_time``; None
        only if none is found within 400 days (a bug)."""
        after = (
            now
            if previous_fire_time is None
            else max(now, previous_fire_time + dt.timedelta(microseconds=1))
        )
        local = after.astimezone(SHANGHAI)
        date = local.date()
        for _ in range(400):  # a fire time exists every day; the bound only guards bugs
            for when in self.calendar.fire_times(date):
                if when >= after:
                    return when
            date += dt.timedelta(days=1)
        return None

    def __str__(self) -> str:
        return f"gacc calendar (every {self.calendar.every_minutes} min in release windows)"

    def __repr__(self) -> str:
        return f"<GaccCalendarTrigger {self.calendar!r}>"


def gacc_calendar(options: CalendarOptions) -> GaccCalendar:
    """The calendar a source's validated ``calendar:`` options describe."""
    start, _, end = options.hours.partition("-")
    return GaccCalendar(
        every_minutes=options.every_minutes,
        start=parse_hhmm(start),
        end=parse_hhmm(end),
        daily_at=parse_hhmm(options.daily_at),
        holidays=frozenset(options.holidays),
    )


def trigger_for_source(options: ScheduleOptions) -> BaseTrigger:
    """The trigger a source's validated schedule options ask for."""
    if options.calendar is not None:
        return GaccCalendarTrigger(gacc_calendar(options.calendar))
    return schedule_trigger(options.schedule or DEFAULT_SCHEDULE, options.timezone)


def expected_interval(options: ScheduleOptions, now: dt.datetime) -> dt.timedelta:
    """How long a healthy source may go between successful polls at ``now`` (for /readyz).

    Twice the gap to the trigger's next-but-one fire time: one missed poll is noise, two in a
    row is a problem. (A slow poll that does not fail gets longer: ``health.STUCK_AFTER``.)
    """
    trigger = trigger_for_source(options)
    first = trigger.get_next_fire_time(None, now)
    if first is None:
        return dt.timedelta(days=2)
    second = trigger.get_next_fire_time(first, first)
    gap = (second - first) if second is not None else dt.timedelta(days=1)
    # A calendar's quiet days are 24 h apart even inside a dense window's evening.
    if isinstance(trigger, GaccCalendarTrigger):
        gap = max(gap, dt.timedelta(days=1))
    return 2 * gap


__all__ = [
    "DEFAULT_SCHEDULE",
    "GaccCalendar",
    "GaccCalendarTrigger",
    "crontab_trigger",
    "every_trigger",
    "expected_interval",
    "gacc_calendar",
    "schedule_trigger",
    "trigger_for_source",
]
