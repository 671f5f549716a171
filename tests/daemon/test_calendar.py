"""Poll triggers: the GACC release calendar and crontab lines with standard weekdays."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.config.daemon import ScheduleOptions
from monitor.config.options import check
from monitor.daemon.calendar import (
    SHANGHAI,
    GaccCalendar,
    GaccCalendarTrigger,
    crontab_trigger,
    expected_interval,
    trigger_for_source,
)
from monitor.yamlload import load_yaml


def schedule(options: dict) -> ScheduleOptions:
    return ScheduleOptions.model_validate(options)


def check_schedule(name: str, options: dict, path: str):
    """The located problems of a source's schedule options, as ``validate`` reports them."""
    return check(ScheduleOptions, options, path, what=f"source {name!r}")


def bj(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def fires(trigger, start: dt.datetime, n: int) -> list[dt.datetime]:
    out, prev, now = [], None, start
    for _ in range(n):
        nxt = trigger.get_next_fire_time(prev, now)
        out.append(nxt.astimezone(SHANGHAI))
        prev = now = nxt
    return out


def test_release_day_polls_every_ten_minutes_in_office_hours():
    """On the 20th the trigger fires at 09:00, 09:10, 09:20 Beijing time."""
    got = fires(GaccCalendarTrigger(), bj(2025, 8, 20, 8, 55), 3)
    assert got == [bj(2025, 8, 20, 9, 0), bj(2025, 8, 20, 9, 10), bj(2025, 8, 20, 9, 20)]


def test_release_day_ends_at_six_then_next_window_day():
    """After 18:00 on the 20th the next poll is 09:00 on the 21st."""
    got = fires(GaccCalendarTrigger(), bj(2025, 8, 20, 17, 55), 2)
    assert got == [bj(2025, 8, 20, 18, 0), bj(2025, 8, 21, 9, 0)]


def test_quiet_day_polls_once_daily():
    """Outside the windows (the 25th) one poll a day at 09:30."""
    got = fires(GaccCalendarTrigger(), bj(2025, 8, 25, 10, 0), 2)
    assert got == [bj(2025, 8, 26, 9, 30), bj(2025, 8, 27, 9, 30)]


def test_preliminary_window_is_dense():
    """The 7th-14th (preliminary figures) is polled densely too."""
    cal = GaccCalendar()
    assert cal.is_release_day(dt.date(2025, 9, 7))
    assert cal.is_release_day(dt.date(2025, 9, 14))
    assert not cal.is_release_day(dt.date(2025, 9, 15))
    assert not cal.is_release_day(dt.date(2025, 9, 6))


def test_february_has_no_release_days():
    """January is not published on its own: February is polled daily only."""
    cal = GaccCalendar()
    assert not any(cal.is_release_day(dt.date(2026, 2, d)) for d in range(1, 29))
    assert cal.is_release_day(dt.date(2026, 3, 20))


def test_jan_feb_combined_release_expected_in_march():
    """January's and February's figures are both expected on 20 March."""
    cal = GaccCalendar()
    assert cal.expected_release("2026-01") == dt.date(2026, 3, 20)
    assert cal.expected_release("2026-02") == dt.date(2026, 3, 20)
    assert cal.expected_release("2025-12") == dt.date(2026, 1, 20)


def test_holiday_is_skipped_and_window_stretches():
    """A holiday in the window is a quiet day and the window runs one working day longer."""
    cal = GaccCalendar(holidays=frozenset({dt.date(2025, 10, 20)}))
    assert not cal.is_release_day(dt.date(2025, 10, 20))
    assert cal.is_release_day(dt.date(2025, 10, 23))
    assert not GaccCalendar().is_release_day(dt.date(2025, 10, 23))


def test_holiday_fires_once():
    """On a holiday inside the window the trigger fires only at the daily time."""
    trig = GaccCalendarTrigger(GaccCalendar(holidays=frozenset({dt.date(2025, 10, 20)})))
    got = fires(trig, bj(2025, 10, 20, 0, 0), 2)
    assert got == [bj(2025, 10, 20, 9, 30), bj(2025, 10, 21, 9, 0)]


@pytest.mark.parametrize(
    ("line", "weekday"),
    [("0 9 * * 1", 0), ("0 9 * * 0", 6), ("0 9 * * 7", 6), ("0 9 * * 5", 4), ("0 9 * * sat", 5)],
)
def test_crontab_weekday_means_what_cron_means(line, weekday):
    """Day-of-week 1 is Monday, 0 and 7 are Sunday (unlike CronTrigger.from_crontab)."""
    nxt = crontab_trigger(line).get_next_fire_time(None, dt.datetime(2025, 8, 4, tzinfo=dt.UTC))
    assert nxt.weekday() == weekday
    assert (nxt.hour, nxt.minute) == (9, 0)


def test_crontab_weekday_range_and_step():
    """'1-5' is Monday to Friday; '*/2' is Sunday, Tuesday, Thursday, Saturday."""
    start = dt.datetime(2025, 8, 3, tzinfo=dt.UTC)  # a Sunday
    week = [start + dt.timedelta(days=i) for i in range(7)]

    def days(line: str) -> set[int]:
        trig = crontab_trigger(line)
        return {trig.get_next_fire_time(None, d).weekday() for d in week}

    assert days("0 0 * * 1-5") == {0, 1, 2, 3, 4}
    assert days("0 0 * * */2") == {6, 1, 3, 5}


def test_schedule_timezone_is_applied():
    """A schedule with a timezone fires at that zone's wall-clock time."""
    trig = trigger_for_source(schedule({"schedule": "30 9 * * *", "timezone": "Asia/Shanghai"}))
    nxt = trig.get_next_fire_time(None, dt.datetime(2025, 8, 4, tzinfo=dt.UTC))
    assert nxt.astimezone(dt.UTC).hour == 1 and nxt.minute == 30


def test_check_schedule_locates_bad_cron():
    """A malformed schedule is reported at its line."""
    src = load_yaml("gacc:\n  timezone: UTC\n  schedule: '0 9 * *'\n", "m.yaml")["gacc"]
    [problem] = check_schedule("gacc", src, "m.yaml")
    assert (problem.line, problem.column) == (3, 13)
    assert "5 fields" in problem.message


def test_check_schedule_rejects_both_schedule_and_calendar():
    """schedule and calendar on one source is an error."""
    src = load_yaml("s:\n  schedule: '0 9 * * *'\n  calendar: gacc\n", "m.yaml")["s"]
    problems = check_schedule("s", src, "m.yaml")
    assert any("not both" in p.message for p in problems)


def test_check_schedule_locates_bad_holiday_and_key():
    """A bad holiday date and a misspelt calendar key are both reported."""
    src = load_yaml(
        "s:\n  calendar:\n    name: gacc\n    holiday: []\n    holidays: ['2025-13-01']\n", "m.yaml"
    )["s"]
    messages = [p.message for p in check_schedule("s", src, "m.yaml")]
    assert any("did you mean 'holidays'" in m for m in messages)
    assert any("holidays[0] must be a date (YYYY-MM-DD), got '2025-13-01'" in m for m in messages)


def test_calendar_mapping_options_apply():
    """every_minutes, hours and daily_at from the config change the fire times."""
    opts = load_yaml(
        "calendar: {name: gacc, every_minutes: 30, hours: '10:00-11:00', daily_at: '08:00'}",
        "m.yaml",
    )
    trig = trigger_for_source(schedule(opts))
    assert fires(trig, bj(2025, 8, 20, 0, 0), 4) == [
        bj(2025, 8, 20, 10, 0),
        bj(2025, 8, 20, 10, 30),
        bj(2025, 8, 20, 11, 0),
        bj(2025, 8, 21, 10, 0),
    ]
    assert fires(trig, bj(2025, 8, 25, 0, 0), 1) == [bj(2025, 8, 25, 8, 0)]


def test_expected_interval_tracks_the_schedule():
    """A half-hourly cron may go an hour between successes; a calendar source two days."""
    now = dt.datetime(2025, 8, 20, 3, 0, tzinfo=dt.UTC)
    assert expected_interval(schedule({"schedule": "*/30 * * * *"}), now) == dt.timedelta(hours=1)
    assert expected_interval(schedule({"calendar": "gacc"}), now) == dt.timedelta(days=2)


def test_expected_interval_of_a_short_schedule_is_twice_its_gap():
    """'@every 5s' may go 10 seconds between successes (no minutes-long floor)."""
    now = dt.datetime(2025, 8, 20, 3, 0, tzinfo=dt.UTC)
    assert expected_interval(schedule({"schedule": "@every 5s"}), now) == dt.timedelta(seconds=10)


def test_every_schedule_is_a_fixed_interval():
    """'@every 90s' fires every 90 seconds."""
    trig = trigger_for_source(schedule({"schedule": "@every 90s"}))
    start = dt.datetime(2025, 8, 4, tzinfo=dt.UTC)
    first = trig.get_next_fire_time(None, start)
    assert trig.get_next_fire_time(first, first) - first == dt.timedelta(seconds=90)


def test_every_schedule_has_a_floor():
    """'@every 1s' is refused: a typo must not hammer a server."""
    [problem] = check_schedule("s", {"schedule": "@every 1s"}, "m.yaml")
    assert "at least 5 seconds" in problem.message
