"""What a source's ``schedule:`` means: a crontab line with standard weekdays, or ``@every N``.

APScheduler 3's ``CronTrigger.from_crontab`` numbers weekdays from Monday (``1`` is Tuesday);
``crontab_trigger`` converts the day-of-week field to names so crontab lines mean what they say.
The daemon's triggers (``monitor.daemon.calendar``) and the config's validation share these.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

#: a source with neither ``schedule`` nor ``calendar`` polls every 30 minutes
DEFAULT_SCHEDULE = "*/30 * * * *"
_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


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
