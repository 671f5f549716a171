"""``customs-monitor demo``: the real daemon on an accelerated clock over the bundled data.

A replay source publishes China's rare-earth magnet exports one month per tick (each month on
its GACC release day); the real scheduler, store, engine, templates and notifiers run; every
message is printed as it would reach Slack and email and written to an outbox folder.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.runner import Components
from monitor.daemon.service import Service
from monitor.errors import ConfigError, Problem
from monitor.render.text import alert_text
from monitor.runtime import build_channels, template_env
from monitor.sources.replay import ReplaySource


@dataclass
class DemoSummary:
    """What a demo run saw: releases and their new periods, notices by change, one line per
    notice, messages sent and still queued."""

    out_dir: Path
    releases: int = 0
    periods: list[str] = field(default_factory=list)
    alerts: Counter[str] = field(default_factory=Counter)
    fired: list[str] = field(default_factory=list)
    messages_sent: int = 0
    messages_pending: int = 0


def demo_config(out_dir: Path) -> dict[str, Any]:
    """The demo's config overrides: a SQLite store and file channels under ``out_dir``, the replay
    source, console channels for Slack and email, and one route to all four."""
    return {
        "state": f"sqlite:///{out_dir / 'state.db'}",
        "state_dir": str(out_dir),
        "initial": "alert_latest",
        "sources": {"magnets": {"type": "replay", "schedule": "0 0 1 1 *"}},
        "channels": {
            "slack-preview": {"type": "console", "format": "slack"},
            "email-preview": {"type": "console", "format": "email"},
            "slack-outbox": {
                "type": "file",
                "format": "slack",
                "path": str(out_dir / "outbox" / "slack"),
            },
            "email-outbox": {
                "type": "file",
                "format": "email",
                "path": str(out_dir / "outbox" / "email"),
            },
        },
        "routes": [
            {
                "name": "everything",
                "channels": ["slack-preview", "email-preview", "slack-outbox", "email-outbox"],
            }
        ],
        "daemon": {"deliver_interval": 3600},
    }


MARKER = ".customs-monitor-demo"
MARKER_TEXT = (
    "This folder was created by `customs-monitor demo`. The next demo run with this folder as\n"
    "--out deletes what the demo wrote here (state.db, outbox/) and nothing else.\n"
)
#: What one demo run writes (besides the marker): the store and the file channels' messages.
_STATE_FILES = {"state.db", "state.db-journal", "state.db-wal", "state.db-shm", "state.db.lock"}
_OUTBOX_FOLDERS = ("slack", "email")
_OUTBOX_SUFFIXES = (".json", ".eml")


def prepare_out_dir(out: Path) -> None:
    """Make ``out`` an empty demo folder without deleting anything the demo did not write.

    A missing or empty folder is (re)used and marked; a folder carrying the marker has the
    previous run's files removed; anything else, or anything unexpected inside a marked folder,
    is refused with a ConfigError (exit 2) and nothing is touched.
    """
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ConfigError(Problem(str(out), 0, 0, "--out must be a folder (not a file or link)"))
    if not out.exists():
        out.mkdir(parents=True)
    entries = sorted(os.listdir(out))
    if entries:
        marker = out / MARKER
        if MARKER not in entries or marker.is_symlink() or not marker.is_file():
            raise ConfigError(
                Problem(
                    str(out),
                    0,
                    0,
                    "--out names a folder that is not empty and was not created by the demo "
                    f"(no {MARKER} file in it); the demo only ever clears its own folders: "
                    "choose a new or empty folder",
                )
            )
        ours, foreign = _demo_files(out)
        if foreign:
            shown = ", ".join(str(p.relative_to(out)) for p in foreign[:5])
            more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            raise ConfigError(
                Problem(
                    str(out),
                    0,
                    0,
                    f"this demo folder also holds files the demo did not write ({shown}{more}); "
                    "move them out or choose another --out",
                )
            )
        for path in ours:  # files first, then the folders they emptied (deepest first)
            path.rmdir() if path.is_dir() else path.unlink()
    (out / MARKER).write_text(MARKER_TEXT, encoding="utf-8")


def _demo_files(out: Path) -> tuple[list[Path], list[Path]]:
    """(what a demo run wrote, in deletion order; everything else) inside a marked folder."""
    ours: list[Path] = []
    foreign: list[Path] = []
    for entry in sorted(out.iterdir()):
        if entry.name == MARKER:
            continue
        if entry.name in _STATE_FILES and entry.is_file() and not entry.is_symlink():
            ours.append(entry)
        elif entry.name == "outbox" and entry.is_dir() and not entry.is_symlink():
            folders = []
            for sub in sorted(entry.iterdir()):
                if sub.name in _OUTBOX_FOLDERS and sub.is_dir() and not sub.is_symlink():
                    for item in sorted(sub.iterdir()):
                        written = item.suffix in _OUTBOX_SUFFIXES or item.name.startswith(".tmp-")
                        if written and item.is_file() and not item.is_symlink():
                            ours.append(item)
                        else:
                            foreign.append(item)
                    folders.append(sub)
                else:
                    foreign.append(sub)
            ours += [*folders, entry]
        else:
            foreign.append(entry)
    return ours, foreign


def run_demo(
    out_dir: str | Path = "customs-monitor-demo",
    *,
    tick: float = 0.05,
    stream: TextIO | None = None,
) -> DemoSummary:
    """Replay the bundled releases through a real ``Service`` on a ``ManualClock``, one release day
    every ``tick`` seconds, printing each message to ``stream`` (default stdout), then the
    summary, which it returns. ``out_dir`` is prepared by ``prepare_out_dir`` first; a failed
    tick is re-raised once the service is closed."""
    out = Path(out_dir).resolve()
    stream = stream or sys.stdout
    prepare_out_dir(out)
    config = load_config(None, overrides=demo_config(out), env={})
    releases = ReplaySource("magnets", config.sources["magnets"]).schedule()
    clock = ManualClock(releases[0] - timedelta(days=1))
    channels = build_channels(config, template_env(config), stream=stream)
    service = Service(
        config,
        components=Components(config, clock=clock, channels=channels),
        scheduler=BlockingScheduler(timezone="UTC"),
        environ={},
    )
    summary = DemoSummary(out_dir=out)
    pending = list(releases)

    failures: list[BaseException] = []

    def tick_job() -> None:
        try:
            tick_once()
        except BaseException as exc:  # stop the loop; re-raised in the main thread below
            failures.append(exc)
            finish()

    def finish() -> None:
        # The replay is over (or failed): end the scheduler loop; nothing else is running.
        if service.scheduler.running:
            service.scheduler.shutdown(wait=False)

    def tick_once() -> None:
        # One tick = the clock jumps to the next release day; the replay source publishes that
        # month and the daemon's own poll job polls, evaluates and delivers it.
        if not pending:
            finish()
            return
        clock.set(pending.pop(0))
        _outcome, evaluations = service.poll_job("magnets")
        for ev in evaluations:
            summary.releases += 1
            summary.periods.extend(ev.release.new_periods)
            for notice in ev.notices:
                summary.alerts[notice.change] += 1
                a = notice.alert
                text = alert_text(a)
                summary.fired.append(
                    f"{a.period}  {a.partner:<6}{text.value or '':>9}  {text.why}  [{a.rule_id}]"
                    + ("" if notice.change == "new" else f" ({notice.change})")
                )
        # Chain the next tick once this one is done: a slow tick (rendering charts) delays the
        # replay instead of overlapping it.
        service.scheduler.add_job(
            tick_job,
            DateTrigger(datetime.now(UTC) + timedelta(seconds=tick)),
            id=f"demo-tick-{len(pending)}",
            misfire_grace_time=None,
        )

    service.scheduler.add_job(
        tick_job, DateTrigger(datetime.now(UTC)), id="demo-tick-start", misfire_grace_time=None
    )
    print(
        f"customs-monitor demo: replaying {len(releases)} monthly releases of China's "
        f"rare-earth magnet exports (GACC 85051110)\n",
        file=stream,
    )
    try:
        service.scheduler.start()
    finally:
        summary.messages_sent = service.stats.messages_sent
        summary.messages_pending = len(service.store.outbox(state="pending"))
        service.close()
    if failures:
        raise failures[0]
    print_summary(summary, stream)
    return summary


def print_summary(summary: DemoSummary, stream: TextIO) -> None:
    """Print ``run_demo``'s closing summary to ``stream``."""
    line = "=" * 72
    print(line, file=stream)
    print("customs-monitor demo: summary", file=stream)
    print(line, file=stream)
    periods = summary.periods
    span = f" ({periods[0]} .. {periods[-1]})" if periods else ""
    print(f"releases seen:     {summary.releases}{span}", file=stream)
    print(f"alerts fired:      {sum(summary.alerts.values())}", file=stream)
    for entry in summary.fired:
        print(f"  {entry}", file=stream)
    print(
        f"messages sent:     {summary.messages_sent} ({summary.messages_pending} still queued)",
        file=stream,
    )
    print(f"rendered messages: {summary.out_dir / 'outbox'}", file=stream)
    print(f"state store:       {summary.out_dir / 'state.db'}", file=stream)
