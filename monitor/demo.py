"""``customs-monitor demo``: the real daemon on an accelerated clock over the bundled data.

A replay source publishes China's rare-earth magnet exports one month per tick (each month on
its GACC release day); the real scheduler, store, engine, templates and notifiers run; every
message is printed as it would reach Slack and email and written to an outbox folder.
"""

from __future__ import annotations

import shutil
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
from monitor.daemon.runner import Daemon
from monitor.runtime import build_channels, template_env
from monitor.sources.replay import ReplaySource


@dataclass
class DemoSummary:
    out_dir: Path
    releases: int = 0
    periods: list[str] = field(default_factory=list)
    alerts: Counter[str] = field(default_factory=Counter)
    fired: list[str] = field(default_factory=list)
    messages_sent: int = 0
    messages_pending: int = 0


def demo_config(out_dir: Path) -> dict[str, Any]:
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


def run_demo(
    out_dir: str | Path = "customs-monitor-demo",
    *,
    tick: float = 0.05,
    stream: TextIO | None = None,
) -> DemoSummary:
    out = Path(out_dir).resolve()
    stream = stream or sys.stdout
    if out.exists():
        shutil.rmtree(out)  # the demo starts from nothing every time
    out.mkdir(parents=True)
    config = load_config(None, overrides=demo_config(out), env={})
    releases = ReplaySource("magnets", config.sources["magnets"]).schedule()
    clock = ManualClock(releases[0] - timedelta(days=1))
    channels = build_channels(config, template_env(config), stream=stream)
    daemon = Daemon(
        config, clock=clock, scheduler=BlockingScheduler(timezone="UTC"), channels=channels
    )
    summary = DemoSummary(out_dir=out)
    pending = list(releases)

    failures: list[BaseException] = []

    def tick_job() -> None:
        try:
            tick_once()
        except BaseException as exc:  # stop the loop; re-raised in the main thread below
            failures.append(exc)
            daemon.stop()

    def tick_once() -> None:
        # One tick = the clock jumps to the next release day; the replay source publishes that
        # month and the daemon's own poll job polls, evaluates and delivers it.
        if not pending:
            daemon.stop()
            return
        clock.set(pending.pop(0))
        _outcome, evaluations = daemon.poll_job("magnets")
        for ev in evaluations:
            summary.releases += 1
            summary.periods.extend(ev.release.new_periods)
            for notice in ev.notices:
                summary.alerts[notice.change] += 1
                a = notice.alert
                summary.fired.append(
                    f"{a.period}  {a.partner:<6}{a.value / 1000:>7,.0f} t  "
                    f"{_why(a.context)}  [{a.rule_id}]"
                    + ("" if notice.change == "new" else f" ({notice.change})")
                )
        # Chain the next tick once this one is done: a slow tick (rendering charts) delays the
        # replay instead of overlapping it.
        daemon.scheduler.add_job(
            tick_job,
            DateTrigger(datetime.now(UTC) + timedelta(seconds=tick)),
            id=f"demo-tick-{len(pending)}",
            misfire_grace_time=None,
        )

    daemon.scheduler.add_job(
        tick_job, DateTrigger(datetime.now(UTC)), id="demo-tick-start", misfire_grace_time=None
    )
    print(
        f"customs-monitor demo: replaying {len(releases)} monthly releases of China's "
        f"rare-earth magnet exports (GACC 85051110)\n",
        file=stream,
    )
    try:
        daemon.scheduler.start()
    finally:
        summary.messages_sent = daemon.stats.messages_sent
        summary.messages_pending = len(daemon.store.outbox(state="pending"))
        daemon.close()
    if failures:
        raise failures[0]
    print_summary(summary, stream)
    return summary


def _why(context: dict[str, Any]) -> str:
    """The figure that made a rule fire, in a few words."""
    kind = context.get("condition")
    if kind in ("period_high", "period_low") and "months_known" in context:
        word = "high" if kind == "period_high" else "low"
        return (
            f"{context['window']}-month {word} ({context['months_known']} of "
            f"{context['window']} months known)"
        )
    if kind == "pct_change" and context.get("pct") is not None:
        return f"{context['pct']:+.1f}% vs {context['base_period']}"
    if kind == "share_shift" and context.get("shift_points") is not None:
        return (
            f"share {context['share_before']:.1f}% -> {context['share']:.1f}% "
            f"({context['shift_points']:+.1f} pp)"
        )
    return str(kind or "")


def print_summary(summary: DemoSummary, stream: TextIO) -> None:
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
