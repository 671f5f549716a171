"""The daemon's jobs: poll a source (then evaluate and deliver), evaluate pending releases,
deliver the outbox, and ``run_once`` over every source (``customs-monitor run --once``).

``Daemon`` opens what the jobs need (rules, channels, the store, the pipeline) and keeps their
locks and counters: one evaluation and one delivery at a time. It schedules nothing and imports
nothing of the service: ``monitor.daemon.service.Service`` puts these jobs on its scheduler
(each source on its own trigger), and observes deliveries through ``delivery_observers``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.config.sources import SourceOptions
from monitor.daemon import calendar
from monitor.errors import MonitorError
from monitor.notify.deliver import DeliveryReport, deliver_due
from monitor.pipeline import EvaluationOutcome, Pipeline, PollOutcome
from monitor.runtime import build_channels, load_rules, open_state, template_env
from monitor.store import SqlStore

log = logging.getLogger(__name__)


@dataclass
class DaemonStats:
    polls: int = 0
    poll_failures: int = 0
    releases: int = 0
    release_failures: int = 0
    evaluation_pass_failures: int = 0
    alerts: int = 0
    messages_sent: int = 0


def evaluation_error(outcome: Any) -> str | None:
    """Why a release failed to evaluate (``EvaluationOutcome.error``), None when it did not."""
    error = getattr(outcome, "error", None)
    return str(error) if error else None


def rejected_rows(outcome: Any) -> int:
    """Rows a poll refused while storing the rest (``PollOutcome.rejected_rows``: bad rows
    skipped under ``bad_rows: skip``, each located in the log); 0 when it reports none."""
    return int(getattr(outcome, "rejected_rows", 0) or 0)


def _not_stopping() -> float | None:
    return None


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        store: SqlStore | None = None,
        scheduler: BaseScheduler | None = None,
        channels: dict[str, Any] | None = None,
        rules: Any = None,
        session_factory: Any = None,
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
        self.scheduler = scheduler or BlockingScheduler(timezone=UTC)
        self.stats = DaemonStats()
        #: why the last pass over pending releases failed as a whole (None: it worked)
        self.evaluation_error: str | None = None
        #: why the most recent failed pass failed (kept after a pass works again)
        self.last_evaluation_failure: str | None = None
        self._poll_errors: dict[str, str] = {}  # source -> last unexpected poll error
        #: the monotonic time by which running jobs must be done, once the service is stopping
        self.stop_deadline: Callable[[], float | None] = _not_stopping
        #: called with the report of every delivery, wherever it runs (metrics observe here)
        self.delivery_observers: list[Callable[[DeliveryReport], None]] = []
        # Every schedule is checked now, so a bad one fails the start (before READY=1), not
        # the first poll.
        for name, options in config.sources.items():
            self.trigger_for(name, options)
        # One evaluation and one delivery at a time: two sources polling together must not
        # evaluate the same pending release twice or send the same outbox message twice.
        self._evaluate_lock = threading.Lock()
        self._deliver_lock = threading.Lock()

    # -- jobs ------------------------------------------------------------------------------
    def trigger_for(self, name: str, options: SourceOptions) -> Any:
        """The source's trigger: a release calendar, ``@every N``, or a crontab line."""
        return calendar.trigger_for_source(options)

    def poll_job(self, name: str) -> tuple[PollOutcome | None, list[EvaluationOutcome]]:
        try:
            outcome = self.pipeline.poll(name)
        except MonitorError as exc:  # e.g. the store is locked: this poll failed
            log.error("poll of %s failed: %s", name, exc)
            self.stats.poll_failures += 1
            return PollOutcome(name, ok=False, error=str(exc)), []
        except Exception as exc:  # a bug: recorded as a failed poll, so it shows everywhere
            text = f"{type(exc).__name__}: {exc}"
            first = self._poll_errors.get(name) != text
            log.error("poll of %s failed: %s", name, text, exc_info=exc if first else None)
            self._poll_errors[name] = text
            self.stats.poll_failures += 1
            try:
                self.store.record_poll(name, now=self.clock.now(), error=text)
            except MonitorError as store_exc:
                log.error("poll of %s: cannot record the failure: %s", name, store_exc)
            return PollOutcome(name, ok=False, error=text), []
        self._poll_errors.pop(name, None)
        self.stats.polls += 1
        self.stats.poll_failures += 0 if outcome.ok else 1
        evaluations = self.evaluate_job()
        self.deliver_job()
        return outcome, evaluations

    def evaluate_job(self) -> list[EvaluationOutcome]:
        with self._evaluate_lock:
            try:
                evaluations = self.pipeline.evaluate_pending()
            except Exception as exc:
                # The pipeline isolates each release; what still escapes (the store failing, a
                # bug) fails the whole pass. Said once while it lasts, not at every poll.
                self._evaluation_failed(exc)
                return []
            if self.evaluation_error is not None:
                log.info("evaluating pending releases works again")
                self.evaluation_error = None
        self.stats.releases += len(evaluations)
        self.stats.release_failures += sum(1 for e in evaluations if evaluation_error(e))
        self.stats.alerts += sum(e.new + e.revised + e.resolved for e in evaluations)
        return evaluations

    def _evaluation_failed(self, exc: Exception) -> None:
        text = str(exc) if isinstance(exc, MonitorError) else f"{type(exc).__name__}: {exc}"
        if text != self.evaluation_error:
            # A MonitorError says what happened; anything else is a bug worth its traceback.
            log.error(
                "evaluating pending releases failed (retried at the next poll): %s",
                text,
                exc_info=None if isinstance(exc, MonitorError) else exc,
            )
        else:
            log.debug("evaluating pending releases failed again: %s", text)
        self.evaluation_error = self.last_evaluation_failure = text
        self.stats.evaluation_pass_failures += 1

    def deliver_job(self) -> DeliveryReport | None:
        with self._deliver_lock:
            try:
                # deliver_due directly rather than Pipeline.deliver: the stop deadline reaches
                # the channel threads this way.
                report = deliver_due(
                    self.store, self.channels, clock=self.clock, stop_deadline=self.stop_deadline
                )
            except MonitorError as exc:
                log.error("delivery failed: %s", exc)
                return None
        self.stats.messages_sent += report.sent
        for observe in self.delivery_observers:
            observe(report)
        return report

    # -- lifecycle -------------------------------------------------------------------------
    def run_once(self) -> tuple[list[PollOutcome], list[EvaluationOutcome], int]:
        """One cycle over every source: (poll outcomes, evaluations, messages sent)."""
        sent_before = self.stats.messages_sent
        polls, evaluations = [], []
        for name in self.config.sources:
            outcome, evaluated = self.poll_job(name)
            evaluations.extend(evaluated)
            if outcome is not None:
                polls.append(outcome)
        evaluations.extend(self.evaluate_job())  # releases left pending by an earlier crash
        self.deliver_job()
        return polls, evaluations, self.stats.messages_sent - sent_before

    def stop(self) -> None:
        if self.scheduler.running:
            # wait=False: called from a signal handler or a job; running jobs finish on their
            # own, and anything not yet sent stays in the outbox for the next start.
            self.scheduler.shutdown(wait=False)

    def close(self) -> None:
        self.pipeline.close()
        self.store.close()
