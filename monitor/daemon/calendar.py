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

APScheduler 3's ``CronTrigger.from_crontab`` numbers weekdays from Monday (``1`` is Tuesday);
``crontab_trigger`` converts the day-of-week field to names so crontab lines mean what they say.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:  # the options are validated with the functions of this module
    from monitor.daemon.options import ScheduleOptions

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: a source with neither ``schedule`` nor ``calendar`` polls every 30 minutes
DEFAULT_SCHEDULE = "*/30 * * * *"
PRELIMINARY_WINDOW = (7, 14)
DETAIL_WINDOW = (18, 22)
_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class GaccCalendar:
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


def _dow_to_names(field: str) -> str:
    """Crontab day-of-week (0-7, 0 and 7 Sunday, names, ranges, steps) -> APScheduler names."""
    days: set[int] = set()
    for part in field.split(","):
        part = part.strip().lower()
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in day-of-week {field!r}")
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            lo, hi = _dow_value(a), _dow_value(b)
            if hi == 0 and b.strip() == "7":
                hi = 7
        else:
            lo = _dow_value(rng)
            hi = 6 if step_text else lo
        if lo > hi:
            raise ValueError(f"day-of-week range {rng!r} runs backwards")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    if days == set(range(7)):
        return "*"
    # APScheduler weekday order starts on Monday; emit names so the numbering cannot matter.
    return ",".join(_DOW_NAMES[d] for d in sorted(days, key=lambda d: (d + 6) % 7))


def _dow_value(text: str) -> int:
    text = text.strip().lower()
    if text in _DOW_NAMES:
        return _DOW_NAMES.index(text)
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text) % 7 if int(text) != 7 else 0
    raise ValueError(f"not a day of week: {text!r}")


_EVERY = re.compile(r"^@every\s+(\d+)\s*(s|m|h)$")


def every_trigger(expr: str) -> IntervalTrigger | None:
    """``@every 30s`` / ``@every 10m`` / ``@every 2h``: a fixed interval (None if not that form).

    For sources that are cheap to ask (a checksum endpoint, a local drop folder) and for tests;
    at least 5 seconds so a typo cannot hammer a server.
    """
    m = _EVERY.match(expr.strip())
    if not m:
        return None
    seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
    if seconds < 5:
        raise ValueError("@every needs at least 5 seconds")
    return IntervalTrigger(seconds=seconds, timezone=dt.UTC)


def schedule_trigger(expr: str, timezone: str | dt.tzinfo = "UTC") -> BaseTrigger:
    """A ``schedule:`` value: ``@every N(s|m|h)`` or a 5-field crontab line."""
    return every_trigger(expr) or crontab_trigger(expr, timezone)


def crontab_trigger(expr: str, timezone: str | dt.tzinfo = "UTC") -> CronTrigger:
    """A CronTrigger with standard crontab semantics (day-of-week 0/7 = Sunday)."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"a crontab line has 5 fields (minute hour day month weekday), got {len(fields)}"
        )
    minute, hour, day, month, dow = fields
    tz = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=_dow_to_names(dow), timezone=tz
    )


def parse_hhmm(text: str) -> dt.time:
    """``HH:MM`` as a time; ValueError otherwise."""
    m = _HHMM.match(text.strip())
    if not m:
        raise ValueError(f"expected HH:MM, got {text.strip()!r}")
    return dt.time(int(m.group(1)), int(m.group(2)))


def trigger_for_source(options: ScheduleOptions) -> BaseTrigger:
    """The trigger a source's validated schedule options ask for."""
    if options.calendar is not None:
        return GaccCalendarTrigger(options.calendar.calendar())
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
