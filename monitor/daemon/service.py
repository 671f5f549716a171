"""The daemon: one ``Service`` owns the scheduler, the jobs, their locks and statistics, and
everything an operator relies on.

The jobs (poll a source, then evaluate and deliver; evaluate pending releases; deliver the
outbox; ``run_once`` over every source for ``customs-monitor run --once``) run the pure
``Pipeline`` of the opened ``runner.Components``: one evaluation and one delivery at a time.
Around them the service adds: calendar-aware poll triggers (jobs never overlap, late runs
coalesce, and the schedule is rebuilt from the config at every start and reload), the HA lease
(standby until it holds it; fenced when it loses it), sd_notify
READY/WATCHDOG/STATUS/RELOADING/STOPPING, the health endpoint with metrics (which observe
deliveries through ``delivery_observers``), the ops incidents (one notice when a failure
begins, one when it clears), SIGHUP reload (a broken config is rejected, the old one keeps
running) and a SIGTERM stop with a deadline.

The stop deadline (``STOP_TIMEOUT``, 45 s, below the unit's TimeoutStopSec=60) holds whatever a
source or receiver does: no job starts after SIGTERM; running ones get until the deadline minus
``CLOSE_MARGIN``; a delivery still waiting for its server is abandoned then (its message stays
in the outbox and is sent again after the restart); and, in the real process, a timer ends the
process at the deadline if anything still holds it up. Every commit is atomic, so ending there
loses nothing: it is the crash the pipeline is built to survive.

Exit codes of ``run``: 0 stopped on request, 1 the lease was lost (systemd restarts us, and we
come back as the standby).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.clock import Clock, SystemClock, utc_iso
from monitor.config import Config
from monitor.config.daemon import DaemonOptions
from monitor.config.routes import Route
from monitor.daemon import calendar, ops
from monitor.daemon.ha import Lease, lease_for, wait_until_active
from monitor.daemon.health import HealthServer, Readiness, readiness
from monitor.daemon.metrics import Metrics
from monitor.daemon.runner import Components, evaluation_error, rejected_rows
from monitor.daemon.systemd import Notifier
from monitor.errors import MonitorError
from monitor.model import Alert
from monitor.notify.base import CHANGE_NEW, CHANGE_RESOLVED, Notice
from monitor.notify.deliver import DeliveryReport, deliver_due
from monitor.pipeline import EvaluationOutcome, Pipeline, PollOutcome
from monitor.store import ALERT_FIRING, ALERT_RESOLVED, AlertUpdate

if TYPE_CHECKING:
    from monitor.engine.rules import RuleSet
    from monitor.notify.base import Channel
    from monitor.render import TemplateEnv

log = logging.getLogger(__name__)
EXIT_OK = 0
EXIT_LEASE_LOST = 1
#: seconds from SIGTERM to exit, whatever a job waits for (below the unit's TimeoutStopSec,
#: which .ci/systemd-check verifies)
STOP_TIMEOUT = 45.0
#: seconds of the stop deadline kept for closing the store and the lease after the jobs
CLOSE_MARGIN = 5.0
#: the process ends itself this long before the deadline, so it is gone by the deadline
EXIT_MARGIN = 1.0


@dataclass
class ServiceStats:
    """What the jobs did since the start (the systemd status line; ``run --once``'s result)."""

    polls: int = 0
    poll_failures: int = 0
    releases: int = 0
    release_failures: int = 0
    evaluation_pass_failures: int = 0
    alerts: int = 0
    messages_sent: int = 0


class Closable(Protocol):
    """What the service closes at the end besides its own parts (the web console)."""

    def close(self) -> None:
        """Stop serving and free what it holds."""


#: starts the web console for a service (``monitor.web.server.start_console``); None when the
#: console is off or cannot listen
ConsoleFactory = Callable[["Service"], Closable | None]


class LeaseLost(MonitorError):
    """This instance lost the HA lease and stopped; systemd restarts it as the standby."""


def run_daemon(service: Service) -> None:
    """Run an opened service until SIGTERM/SIGINT as the production daemon (HA lease, systemd
    notify, health endpoint, the console, SIGHUP reload); raises ``LeaseLost`` (exit 1) if the
    lease was lost."""
    log.info(
        "customs-monitor starting: %d source(s), %d rule(s), %d channel(s), state %s",
        len(service.config.sources),
        len(list(service.rules)),
        len(service.channels),
        service.store._shown_url,
    )
    code = service.run()
    if code == EXIT_LEASE_LOST:
        raise LeaseLost(
            "ha: the lease was lost; exiting so that this instance restarts as the standby"
        )


class Service:
    """The daemon of one configuration (see the module docstring): ``run`` it, ``stop`` it from any
    thread, ``reload`` it; ``close`` releases the lease and closes everything."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: str | None = None,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
        components: Components | None = None,
        scheduler: BaseScheduler | None = None,
        stop_timeout: float = STOP_TIMEOUT,
        exit_at_deadline: bool = False,
        start_console: ConsoleFactory | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.clock = components.clock if components is not None else (clock or SystemClock())
        self.options: DaemonOptions = config.daemon
        self.notifier = Notifier(environ)
        self.stop_timeout = stop_timeout
        # Only the real process ends itself at the deadline; in-process users (tests) do not.
        self.exit_at_deadline = exit_at_deadline
        self._stop_at: float | None = None  # monotonic time of the stop request
        # Opening the components validates rules, channels and schedules and opens (and
        # migrates) the store: READY=1 is only sent after this succeeded.
        self.components = components or Components(config, clock=self.clock)
        self.scheduler = scheduler or BlockingScheduler(timezone=dt.UTC)
        self.metrics = Metrics(self.components.store)
        self.store = self.components.store
        self._reset_job_state()
        #: called with the report of every delivery, wherever it runs (metrics observe here)
        self.delivery_observers: list[Callable[[DeliveryReport], None]] = [self._observe_delivery]
        # One evaluation and one delivery at a time: two sources polling together must not
        # evaluate the same pending release twice or send the same outbox message twice.
        self._evaluate_lock = threading.Lock()
        self._deliver_lock = threading.Lock()
        self.lease: Lease = lease_for(config.state, self.options.ha, self.options.instance_id)
        self.started_at = self.clock.now()
        self.stopping = threading.Event()
        self.lease_lost = False
        self.active = False
        self.health: HealthServer | None = None
        #: starts the console (``daemon.web``) for this service; None: no console
        self._start_console = start_console
        self.console: Closable | None = None
        self._running = 0
        self._idle = threading.Condition()
        self._reload_lock = threading.Lock()
        self._ops_lock = threading.Lock()
        self._closed = False

    # -- job bookkeeping: SIGTERM waits for running jobs, not for the scheduler's threads ----
    def _tracked(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            with self._idle:
                self._running += 1
            try:
                return fn(*args)
            finally:
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()

        run.__name__ = getattr(fn, "__name__", "job")
        return run

    def _reset_job_state(self) -> None:
        self.stats = ServiceStats()
        #: why the last pass over pending releases failed as a whole (None: it worked)
        self.evaluation_error: str | None = None
        #: why the most recent failed pass failed (kept after a pass works again)
        self.last_evaluation_failure: str | None = None
        self._poll_errors: dict[str, str] = {}  # source -> last unexpected poll error

    # -- the opened components (swapped whole on reload) -------------------------------------
    @property
    def rules(self) -> RuleSet:
        """The rules the jobs evaluate; replaced whole by a reload."""
        return self.components.rules

    @property
    def templates(self) -> TemplateEnv:
        """The template environment messages render with; replaced whole by a reload."""
        return self.components.templates

    @property
    def channels(self) -> dict[str, Channel]:
        """The channels by name the jobs deliver to; replaced whole by a reload."""
        return self.components.channels

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline the jobs run; replaced whole by a reload."""
        return self.components.pipeline

    # -- the pipeline's jobs: one evaluation and one delivery at a time -----------------------
    def poll_job(self, name: str) -> tuple[PollOutcome | None, list[EvaluationOutcome]]:
        """Poll one source, then evaluate what it brought and deliver."""
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
        """Evaluate every pending release (a pass that fails as a whole is retried later)."""
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
        """Send what is due in the outbox; every ``delivery_observers`` sees the report."""
        with self._deliver_lock:
            try:
                # The stop deadline reaches the channel threads through deliver_due.
                report = deliver_due(
                    self.store, self.channels, clock=self.clock, stop_deadline=self.jobs_deadline
                )
            except MonitorError as exc:
                log.error("delivery failed: %s", exc)
                return None
        self.stats.messages_sent += report.sent
        for observe in self.delivery_observers:
            observe(report)
        return report

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

    # -- scheduled jobs ----------------------------------------------------------------------
    def poll(self, name: str) -> None:
        """The scheduled job of source ``name``: ``poll_job``, then metrics, ops incidents (a store
        refusal is logged, not raised) and the systemd status line."""
        failed_passes = self.stats.evaluation_pass_failures
        outcome, evaluations = self.poll_job(name)
        self.metrics.observe_rejections(name, rejected_rows(outcome))
        for _ in range(self.stats.evaluation_pass_failures - failed_passes):
            self.metrics.observe_evaluation_failure(ops.ALL_SOURCES)
        try:
            self.observe_evaluations(evaluations, self.evaluation_error)
            self.check_ops()
        except MonitorError as exc:  # the store refused: the next poll or ops check retries
            log.error("ops: incidents not updated: %s", exc)
        self._update_status(name, outcome)

    def observe_evaluations(self, evaluations: list[Any], pass_error: str | None) -> int:
        """Metrics and incidents of one evaluation pass (``pass_error``: why the last pass
        failed as a whole, None if it worked). Returns ops messages queued."""
        for evaluation in evaluations:
            if evaluation_error(evaluation):
                self.metrics.observe_evaluation_failure(evaluation.release.source)
                continue
            self.metrics.observe_release(evaluation.release)
            self.metrics.evaluation.observe(evaluation.seconds)
            self.metrics.observe_alerts(
                n.alert for n in evaluation.notices if n.change == CHANGE_NEW
            )
        return self.record_evaluation_incidents(evaluations, pass_error)

    def deliver(self) -> None:
        """The scheduled delivery job: ``deliver_job`` every ``deliver_interval`` seconds."""
        self.deliver_job()

    def _observe_delivery(self, report: DeliveryReport) -> None:
        for channel, rep in report.per_channel.items():
            for _ in range(rep.sent):
                self.metrics.observe_delivery(channel, ok=True)
            for _ in range(rep.retried):
                self.metrics.observe_delivery(channel, ok=False)
            for _ in range(rep.failed):
                self.metrics.observe_delivery(channel, ok=False, permanent=True)

    def watchdog(self) -> None:
        """The scheduled job sending WATCHDOG=1 (a no-op outside systemd)."""
        self.notifier.watchdog()

    def check_lease(self) -> None:
        """The scheduled fence: when the lease is no longer held, go inactive and ``stop``, so
        ``run`` returns ``EXIT_LEASE_LOST``."""
        if self.lease.still_held():
            return
        log.critical("ha: lease lost; stopping all work now (systemd restarts us as standby)")
        self.lease_lost = True
        self.active = False
        self.metrics.active.set(0)
        self.stop()

    def ops_job(self) -> None:
        """The scheduled ``check_ops``, every minute; a store refusal is logged and retried."""
        try:
            self.check_ops()
        except MonitorError as exc:  # the store refused: the next check retries
            log.error("ops: incidents not updated: %s", exc)

    def check_ops(self) -> int:
        """Open an incident for each failure that began (failing source, stuck outbox) and
        clear those that ended; one notice each to the ops channels. Returns messages queued."""
        with self._ops_lock:
            changes = ops.check(
                self.store,
                self.options.ops,
                self.clock.now(),
                thresholds=ops.thresholds_from_sources(self.config.sources),
                sources=set(self.config.sources),
            )
            return self._notify_ops(changes)

    def record_evaluation_incidents(self, evaluations: list[Any], pass_error: str | None) -> int:
        """Incidents from an evaluation pass: each release that failed (cleared when it
        evaluates), and the pass as a whole failing (cleared by the next pass that works)."""
        now = self.clock.now()
        failed: list[Alert] = []
        worked: list[tuple[str, int]] = []
        for evaluation in evaluations:
            release = evaluation.release
            error = evaluation_error(evaluation)
            if error:
                failed.append(ops.release_failed_alert(release.source, release.id, error, now))
            else:
                worked.append((release.source, release.id))
        failing = [
            ops.template_failing_alert(f.template, f.rule, f.error, now)
            for evaluation in evaluations
            for f in getattr(evaluation, "template_failures", ())
        ]
        rendered = {
            rule for evaluation in evaluations for rule in getattr(evaluation, "rendered_rules", ())
        }
        with self._ops_lock:
            changes = ops.evaluation_changes(self.store, failed, worked, pass_error, now)
            templates = ops.template_changes(self.store, failing, rendered, now)
            changes.opened += templates.opened
            changes.cleared += templates.cleared
            runs = [e.cluster for e in evaluations if getattr(e, "cluster", None) is not None]
            cluster = ops.cluster_changes(self.store, runs, now)
            changes.opened += cluster.opened
            changes.cleared += cluster.cleared
            return self._notify_ops(changes)

    def _notify_ops(self, changes: ops.Changes) -> int:
        if not changes.opened and not changes.cleared:
            return 0
        for alert in changes.opened:
            log.warning("ops: incident: %s", ops.describe(alert))
        for alert, _ in changes.cleared:
            log.warning("ops: cleared: %s", ops.describe(alert))
        notices = [Notice(a) for a in changes.opened] + [
            Notice(a, CHANGE_RESOLVED, previous=previous) for a, previous in changes.cleared
        ]
        channels = tuple(c for c in self.options.ops.channels if c in self.channels)
        updates = [AlertUpdate(a, ALERT_FIRING, None) for a in changes.opened]
        updates += [AlertUpdate(a, ALERT_RESOLVED, None) for a, _ in changes.cleared]
        # Incidents and their notices in one transaction: each is notified exactly once. One
        # route takes them all (with no ops channels: recorded and logged, nothing sent).
        _, queued = self.pipeline.notify(
            notices, updates, source=ops.OPS_SOURCE, routes=[Route(name="ops", channels=channels)]
        )
        return queued

    def check_missing_releases(self) -> int:
        """The scheduled job of ``Pipeline.notify_missing_releases``: messages queued."""
        return self.pipeline.notify_missing_releases()

    def _update_status(self, name: str | None = None, outcome: Any = None) -> None:
        stats = self.stats
        last = ""
        if name is not None:
            ok = "ok" if outcome is not None and getattr(outcome, "ok", False) else "failed"
            last = f"last poll {name} {ok} at {utc_iso(self.clock.now())}; "
        self.notifier.status(
            f"active; {last}{stats.polls} polls, {stats.poll_failures} failed, "
            f"{stats.alerts} alerts, {stats.messages_sent} sent"
        )

    # -- schedule --------------------------------------------------------------------------
    def schedule_jobs(self, *, start_now: bool = True) -> None:
        """(Re)build every job from the config: nothing persistent can go stale."""
        now = self.clock.now()
        wanted = set()
        for name, options in self.config.sources.items():
            job_id = f"poll:{name}"
            wanted.add(job_id)
            self.scheduler.add_job(
                self._tracked(self.poll),
                calendar.trigger_for_source(options),
                args=[name],
                id=job_id,
                name=f"poll {name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
                replace_existing=True,
                **({"next_run_time": now} if start_now else {}),
            )
        for job in self.scheduler.get_jobs():
            if job.id.startswith("poll:") and job.id not in wanted:
                job.remove()
        every = {
            "deliver": self.options.deliver_interval,
            "watchdog": self.notifier.watchdog_interval(self.options.watchdog_seconds),
            "lease": self.options.ha.check_seconds,
            "ops": 60.0,
            "missing": 3600.0,
        }
        jobs = {
            "deliver": self.deliver,
            "watchdog": self.watchdog,
            "lease": self.check_lease,
            "ops": self.ops_job,
            "missing": self.check_missing_releases,
        }
        for job_id, fn in jobs.items():
            # The watchdog and lease checks must not wait behind a slow poll: they have their
            # own instances limit and are cheap.
            self.scheduler.add_job(
                self._tracked(fn),
                IntervalTrigger(seconds=every[job_id]),
                id=job_id,
                name=job_id,
                max_instances=1,
                coalesce=True,
                replace_existing=True,
                misfire_grace_time=None,
                # A late release is checked once right at start (after the first polls).
                **(
                    {"next_run_time": now + dt.timedelta(minutes=1)}
                    if job_id == "missing" and start_now
                    else {}
                ),
            )

    def readiness(self) -> Readiness:
        """What /readyz answers now: the store reachable, every source fresh (``health.readiness``),
        no failing evaluation pass and no open release incident."""
        now = self.clock.now()
        intervals = {
            name: calendar.expected_interval(opts, now)
            for name, opts in self.config.sources.items()
        }
        problems = []
        if self.evaluation_error is not None:
            problems.append(f"evaluating pending releases fails: {self.evaluation_error}")
        with contextlib.suppress(Exception):  # readiness() reports an unreachable store
            problems += ops.release_problems(self.store)
        return readiness(self.store, intervals, now, self.started_at, problems)

    # -- lifecycle -------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT ``stop``, SIGHUP ``reload``, each on its own thread (main thread
        only: ``signal.signal``)."""
        # Handlers only start a thread: the real work takes scheduler locks that the
        # interrupted main thread may be holding.
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=self.stop).start())
        signal.signal(signal.SIGINT, lambda *_: threading.Thread(target=self.stop).start())
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload).start())

    def start_health(self) -> None:
        """Start the health endpoint if ``daemon.health`` enables it, and the console if a factory
        was given (it may decline: None)."""
        h = self.options.health
        if h.enabled:
            self.health = HealthServer(
                self.metrics, self.readiness, bind=h.bind, port=h.port
            ).start()
        if self._start_console is not None:
            self.console = self._start_console(self)

    def wait_for_lease(self) -> bool:
        """Wait as the standby until the lease is held (True) or ``stop`` is called (False), feeding
        systemd's watchdog and naming the active in the status line."""
        return wait_until_active(
            self.lease,
            self.stopping,
            self.options.ha.check_seconds,
            on_standby=lambda holder: self.notifier.status(f"standby; active instance: {holder}"),
            on_wait=self.notifier.watchdog,
        )

    def run(self) -> int:
        """Run in this thread until stopped: signals, health, READY=1, the lease, the scheduler;
        closes everything and returns ``EXIT_OK`` or ``EXIT_LEASE_LOST``."""
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # APScheduler logs every run of every job at INFO: the deliver job alone would
            # write 8,640 lines a day. Our own jobs log what matters.
            logging.getLogger("apscheduler").setLevel(logging.WARNING)
        self.install_signal_handlers()
        self.start_health()
        self.notifier.ready(f"started; {len(self.config.sources)} sources; waiting for lease")
        try:
            if not self.wait_for_lease():
                return EXIT_OK
            self.active = True
            self.metrics.active.set(1)
            log.info(
                "customs-monitor active as %s: %d source(s), %d channel(s)",
                self.options.instance_id,
                len(self.config.sources),
                len(self.channels),
            )
            self.notifier.status(f"active; {len(self.config.sources)} sources")
            self.schedule_jobs()
            # A SIGTERM between here and start() finds no running scheduler to shut down; this
            # first job catches it.
            self.scheduler.add_job(self._stop_if_requested, id="stop-check")
            if not self.stopping.is_set():
                self.scheduler.start()
            self._wait_for_jobs()
            return EXIT_LEASE_LOST if self.lease_lost else EXIT_OK
        finally:
            self.close()

    def stop(self) -> None:
        """Begin stopping, from any thread (only the first call acts): no new jobs, STOPPING=1,
        the scheduler shut down without waiting; with ``exit_at_deadline`` a timer ends the
        process just before ``stop_timeout``."""
        if self.stopping.is_set():
            return
        self._stop_at = time.monotonic()
        self.stopping.set()
        self.notifier.stopping()
        log.info(
            "stopping: no new jobs; letting running ones finish (exit within %gs)",
            self.stop_timeout,
        )
        if self.exit_at_deadline:
            timer = threading.Timer(max(0.0, self.stop_timeout - EXIT_MARGIN), self._exit_now)
            timer.daemon = True
            timer.start()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def jobs_deadline(self) -> float | None:
        """The monotonic time by which running jobs must be done; None until stopping."""
        if self._stop_at is None:
            return None
        return self._stop_at + max(0.0, self.stop_timeout - CLOSE_MARGIN)

    def _exit_now(self) -> None:
        """The stop deadline passed and something (a source, a receiver, the interpreter
        joining a job thread) still holds the process: end it the way systemd would, minus the
        SIGKILL. Every commit is atomic and the outbox keeps what was not marked sent."""
        log.error(
            "stop deadline of %gs: %d job(s) still running; exiting now (unsent messages stay "
            "in the outbox and go out after the restart)",
            self.stop_timeout,
            self._running,
        )
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(EXIT_LEASE_LOST if self.lease_lost else EXIT_OK)

    def _stop_if_requested(self) -> None:
        if self.stopping.is_set() and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _wait_for_jobs(self) -> None:
        deadline = self.jobs_deadline() or time.monotonic() + self.stop_timeout - CLOSE_MARGIN
        with self._idle:
            while self._running and time.monotonic() < deadline:
                self._idle.wait(min(1.0, max(0.0, deadline - time.monotonic())))
            if self._running:
                log.warning(
                    "%d job(s) still running at the stop deadline; closing without them "
                    "(what they had not committed is redone after the restart)",
                    self._running,
                )

    def reload(self) -> bool:
        """Reload config and rules; a broken new config is logged and the old one kept."""
        from monitor.config import load_config

        with self._reload_lock:
            self.notifier.reloading()
            try:
                config = load_config(self.config_path)
                components = Components(config, clock=self.clock, store=self.store)
            except MonitorError as exc:
                log.error("reload rejected, the running configuration stays in force:\n%s", exc)
                self.notifier.ready("reload rejected; running the previous configuration")
                return False
            old_options = self.options
            if config.state != self.config.state:
                log.warning("a new state store takes effect at the next restart")
            # The old components' sources and channels are left to the garbage collector: a job
            # started before the reload may still be using them.
            self.config, self.components = config, components
            # The counters and the last errors are the running configuration's: the status
            # line and readiness start afresh with the new one.
            self._reset_job_state()
            self.options = config.daemon
            if old_options.health != self.options.health or old_options.ha != self.options.ha:
                log.warning("daemon.health and daemon.ha changes take effect at the next restart")
                self.options = self.options.model_copy(
                    update={
                        "instance_id": old_options.instance_id,
                        "health": old_options.health,
                        "ha": old_options.ha,
                    }
                )
            if self.active and not self.stopping.is_set():
                self.schedule_jobs(start_now=False)
            log.info(
                "reloaded %s: %d source(s), %d channel(s)",
                config.where,
                len(config.sources),
                len(components.channels),
            )
            self.notifier.ready(f"reloaded; {len(config.sources)} sources")
            return True

    def close(self) -> None:
        """Close the endpoints, the lease and the components (once; again does nothing)."""
        if self._closed:
            return
        self._closed = True
        if self.health is not None:
            self.health.close()
        if self.console is not None:
            self.console.close()
        self.lease.release()
        self.components.close()
