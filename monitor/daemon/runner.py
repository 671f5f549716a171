"""What the daemon's jobs work with, opened once per configuration: the rules, templates,
channels, store and pipeline (``Components``); and how a job reads an outcome.

Opening them validates the rules and channels and opens (and migrates) the store, so a broken
configuration fails here, before the service says it is ready. ``Components`` schedules
nothing, runs no job and keeps no counters: ``monitor.daemon.service.Service`` owns the
scheduler, the jobs, their locks and statistics, and swaps in new components on reload.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.daemon import calendar
from monitor.pipeline import Pipeline
from monitor.runtime import build_channels, load_rules, open_state, template_env
from monitor.store import SqlStore

if TYPE_CHECKING:
    from monitor.engine.rules import RuleSet
    from monitor.notify.base import Channel
    from monitor.pipeline import SessionFactory


def evaluation_error(outcome: Any) -> str | None:
    """Why a release failed to evaluate (``EvaluationOutcome.error``), None when it did not."""
    error = getattr(outcome, "error", None)
    return str(error) if error else None


def rejected_rows(outcome: Any) -> int:
    """Rows a poll refused while storing the rest (``PollOutcome.rejected_rows``: bad rows
    skipped under ``bad_rows: skip``, each located in the log); 0 when it reports none."""
    return int(getattr(outcome, "rejected_rows", 0) or 0)


class Components:
    """The opened parts of one configuration: rules, templates, channels, store, pipeline."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        store: SqlStore | None = None,
        channels: dict[str, Channel] | None = None,
        rules: RuleSet | None = None,
        session_factory: SessionFactory | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.rules = rules if rules is not None else load_rules(config)
        self.templates = template_env(config)
        self.channels = channels if channels is not None else build_channels(config, self.templates)
        self.store = store or open_state(config)
        self.pipeline = Pipeline(
            config,
            self.store,
            rules=self.rules,
            channels=self.channels,
            clock=self.clock,
            session_factory=session_factory,
            retry_first=timedelta(seconds=config.daemon.release_retry_seconds),
        )
        # Every schedule is checked now, so a bad one fails the start (before READY=1) or the
        # reload, not the first poll.
        for options in config.sources.values():
            calendar.trigger_for_source(options)

    def close(self) -> None:
        """Close the pipeline's sources and channels, then the store."""
        self.pipeline.close()
        self.store.close()
