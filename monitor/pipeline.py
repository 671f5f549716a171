"""One poll-evaluate-notify cycle: source -> store -> engine -> dispatch -> outbox -> channel.

Crash safety comes from the order of commits, not from luck:
1. ``Store.ingest`` commits the new vintages, a release marked *pending evaluation* and the
   source cursor in one transaction;
2. evaluation reads the store, and ``Store.commit_evaluation`` records the alerts, queues the
   rendered messages in the outbox and marks the release evaluated in one transaction;
3. delivery sends from the outbox and marks each message sent only after the server accepted it.
A crash between 1 and 2 leaves a pending release that the next cycle evaluates; a crash between
sending and marking sends that one message again at worst; nothing is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.errors import MonitorError, SourceError, StoreError
from monitor.model import SERIES_KEY, Alert, Release, month_to_period, period_to_month
from monitor.notify.base import CHANGE_NEW, CHANGE_RESOLVED, CHANGE_REVISED, Channel, Notice
from monitor.render.history import HISTORY_MONTHS, SHARE_CONDITIONS
from monitor.runtime import build_source
from monitor.store import ALERT_FIRING, ALERT_SILENCED, AlertUpdate, SqlStore

if TYPE_CHECKING:
    import requests

    from monitor.config.routes import Route
    from monitor.engine.cluster.release import ClusterRun
    from monitor.engine.rules import RuleSet
    from monitor.notify.dispatch import DispatchPlan
    from monitor.notify.silences import ActiveSilences
    from monitor.sources import Source

#: a new HTTP session for a source by name (tests pass one that speaks to a local server)
SessionFactory = Callable[[str], "requests.Session"]

log = logging.getLogger(__name__)

#: backoff of a release whose evaluation failed: 1 minute (``daemon.release_retry_seconds``),
#: doubling, at most an hour
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)


def retry_delay(attempts: int, first: timedelta = RETRY_FIRST) -> timedelta:
    """Wait after the n-th failed attempt (1-based)."""
    return min(first * 2 ** max(attempts - 1, 0), RETRY_MAX)


@dataclass
class PollOutcome:
    """What one poll did: ok or its error, the release stored (None: nothing new), rows skipped."""

    source: str
    ok: bool
    release: Release | None = None
    unchanged: bool = False
    error: str | None = None
    rejected_rows: int = 0  # rows skipped under ``bad_rows: skip``


@dataclass
class EvaluationOutcome:
    """What evaluating one release did: counts, messages queued, time, notices; or its ``error``."""

    release: Release
    fired: int = 0
    new: int = 0
    revised: int = 0
    resolved: int = 0
    silenced: int = 0
    queued: int = 0
    seconds: float = 0.0
    notices: list[Notice] = field(default_factory=list)
    #: set when the evaluation failed (the release stays pending and is retried)
    error: str | None = None
    attempts: int = 0
    #: templates or summaries that failed while rendering (messages used a fallback), and the
    #: rules whose notices were rendered: the daemon opens and clears template incidents
    template_failures: list[Any] = field(default_factory=list)
    rendered_rules: set[str] = field(default_factory=set)
    #: the release went to the Dask cluster (``engine.cluster``); its ``error`` says why it was
    #: evaluated in the daemon instead: the daemon opens and clears a cluster incident
    cluster: ClusterRun | None = None


class Pipeline:
    """The poll, evaluate and notify steps of one configuration on one store; no scheduling,
    locks or counters (``Service`` adds them, and delivers the outbox with ``deliver_due``)."""

    def __init__(
        self,
        config: Config,
        store: SqlStore,
        *,
        rules: RuleSet,
        channels: dict[str, Channel],
        clock: Clock | None = None,
        sources: dict[str, Source] | None = None,
        session_factory: SessionFactory | None = None,
        retry_first: timedelta = RETRY_FIRST,
    ) -> None:
        self.config = config
        self.store = store
        self.rules = rules
        self.channels = channels
        self.clock = clock or SystemClock()
        self._sources = dict(sources or {})  # long-lived source objects (keep sessions)
        self._session_factory = session_factory
        self.retry_first = retry_first

    # -- poll ------------------------------------------------------------------------------
    def source(self, name: str) -> Source:
        """The source object ``name``, built on first use (with ``session_factory``'s session)
        and kept for later polls; ``poll`` sets its cursor from the store each time."""
        if name not in self._sources:
            session = self._session_factory(name) if self._session_factory else None
            self._sources[name] = build_source(self.config, name, clock=self.clock, session=session)
        return self._sources[name]

    def poll(self, name: str) -> PollOutcome:
        """Fetch one source and store what changed. Source errors are recorded, not raised."""
        try:
            source = self.source(name)
            source.cursor = self.store.source_state(name).cursor
            result = source.fetch()
            if result.unchanged:
                self.store.record_poll(name, now=self.clock.now(), cursor=result.cursor)
                return PollOutcome(name, ok=True, unchanged=True)
            # A streamed payload is read while it is ingested: its errors surface here too,
            # before anything is written.
            release = self.store.ingest(
                name, result.chunks(), now=self.clock.now(), cursor=result.cursor
            )
        except SourceError as exc:
            log.error("%s", exc)
            self.store.record_poll(name, now=self.clock.now(), error=str(exc))
            return PollOutcome(name, ok=False, error=str(exc))
        if result.on_committed is not None:
            result.on_committed()
        stream = result.stream
        if stream is not None and stream.rejected_rows:
            log.warning(
                "source %s: %d bad row(s) skipped (bad_rows: skip): %s",
                name,
                stream.rejected_rows,
                "; ".join(stream.rejected),
            )
        if release.is_empty:
            log.info("source %s: nothing new (%s)", name, result.description)
        else:
            log.info(
                "source %s: release %d: new periods %s, revised %s (%d observations)",
                name,
                release.id,
                ", ".join(release.new_periods) or "none",
                ", ".join(release.revised_periods) or "none",
                release.observations,
            )
        return PollOutcome(
            name,
            ok=True,
            release=None if release.is_empty else release,
            rejected_rows=stream.rejected_rows if stream is not None else 0,
        )

    # -- evaluate --------------------------------------------------------------------------
    def evaluate_pending(self) -> list[EvaluationOutcome]:
        """Evaluate every release due, oldest first. A release whose evaluation fails is
        recorded as failed with its error and retried with backoff; it never blocks the
        releases and sources after it. The store being unusable (StoreError) stops the round:
        nothing can be recorded then."""
        outcomes = []
        for release in self.store.pending_releases(now=self.clock.now()):
            try:
                outcomes.append(self.evaluate_release(release))
            except StoreError:
                raise
            except Exception as exc:
                outcomes.append(self._failed(release, exc))
        return outcomes

    def _failed(self, release: Release, exc: Exception) -> EvaluationOutcome:
        error = str(exc) if isinstance(exc, MonitorError) else f"{type(exc).__name__}: {exc}"

        def backoff(attempts: int) -> timedelta:
            return retry_delay(attempts, self.retry_first)

        attempts = self.store.mark_release_failed(
            release.id, error=error, now=self.clock.now(), backoff=backoff
        )
        delay = backoff(attempts)
        if attempts == 1:  # the first failure with its traceback, retries in one line
            log.error(
                "release %d (%s): evaluation failed, retrying in %s: %s",
                release.id,
                release.source,
                delay,
                error,
                exc_info=not isinstance(exc, MonitorError),
            )
        else:
            log.warning(
                "release %d (%s): evaluation failed again (attempt %d), retrying in %s: %s",
                release.id,
                release.source,
                attempts,
                delay,
                error,
            )
        return EvaluationOutcome(release=release, error=error, attempts=attempts)

    def periods_to_evaluate(self, release: Release) -> list[str]:
        """The release's new and revised periods, sorted; for a source's initial release, by its
        ``initial``: none (``backfill``), the newest (``alert_latest``) or all (``alert_all``)."""
        periods = sorted(set(release.new_periods) | set(release.revised_periods))
        if not release.initial:
            return periods
        mode = self.config.initial_for(release.source)
        if mode == "backfill":
            return []
        if mode == "alert_latest":
            return periods[-1:]
        return periods

    def evaluate_release(self, release: Release) -> EvaluationOutcome:
        """Evaluate one release and notify what changed: the rules on the source's window (and
        mirror sources') for ``periods_to_evaluate``, on the Dask cluster when configured,
        reconciled with the recorded alerts and committed with the release by ``notify``.
        Errors propagate (``evaluate_pending`` records them); with no period it is only marked
        evaluated."""
        from monitor.engine.cluster.release import evaluate_release
        from monitor.notify.reconcile import reconcile

        started = time.perf_counter()
        periods = self.periods_to_evaluate(release)
        observations = (
            self.store.window(release.source, first=self._window_start(periods), last=periods[-1])
            if periods
            else None
        )
        # mirror_gap rules compare with another source: its window of the same months.
        mirrors = {
            name: self.store.window(name, first=self._window_start(periods), last=periods[-1])
            for name in sorted(self.rules.mirror_sources() - {release.source})
            if periods
        }
        fired, cluster = (
            evaluate_release(self.config.engine, observations, self.rules, periods, mirrors)
            if observations is not None
            else ([], None)
        )
        fired = [_with_source(a, release.source) for a in fired]
        stored = self.store.alerts(source=release.source, periods=periods) if periods else {}
        changes = reconcile(fired, stored, rules={r.id for r in self.rules}, release_id=release.id)
        notices = self._with_history(release.source, changes.notices)
        plan_, queued = self.notify(
            notices,
            changes.updates.values(),
            release=release,
            source=release.source,
            source_url=self._source_url(release.source),
        )
        outcome = EvaluationOutcome(
            release=release,
            fired=len(fired),
            new=sum(n.change == CHANGE_NEW for n in notices),
            revised=sum(n.change == CHANGE_REVISED for n in notices),
            resolved=sum(n.change == CHANGE_RESOLVED for n in notices),
            silenced=len(plan_.silenced),
            queued=queued,
            seconds=time.perf_counter() - started,
            notices=notices,
            template_failures=list(plan_.template_failures),
            rendered_rules={k.split("|", 1)[0] for ks in plan_.routed.values() for k in ks},
            cluster=cluster,
        )
        log.info(
            "release %d (%s): evaluated %s: %d fired, %d new, %d revised, %d resolved, "
            "%d silenced, %d messages queued",
            release.id,
            release.source,
            ", ".join(periods) or "nothing",
            outcome.fired,
            outcome.new,
            outcome.revised,
            outcome.resolved,
            outcome.silenced,
            queued,
        )
        return outcome

    def notify(
        self,
        notices: list[Notice],
        updates: Iterable[AlertUpdate],
        *,
        source: str,
        release: Release | None = None,
        source_url: str | None = None,
        routes: list[Route] | None = None,
    ) -> tuple[DispatchPlan, int]:
        """The one way anything is notified: plan the messages of ``notices`` (silence ->
        route -> group -> render, ``routes`` defaulting to the configured ones), then record
        ``updates`` (an alert a silence muted recorded as silenced), the messages and
        ``release`` as evaluated, all in one transaction. Returns the plan and messages queued."""
        from monitor.notify.dispatch import plan

        now = self.clock.now()
        plan_ = plan(
            notices,
            release=release,
            source=source,
            source_url=source_url,
            routes=self.config.routes if routes is None else routes,
            channels=self.channels,
            silences=self._silences(),
            now=now,
        )
        recorded = []
        for update in updates:
            if update.alert.key in plan_.silenced and update.state == ALERT_FIRING:
                update = AlertUpdate(update.alert, ALERT_SILENCED, update.release_id)
            recorded.append(update)
        release_ids = [release.id] if release is not None else []
        queued = self.store.commit_evaluation(release_ids, recorded, plan_.messages, now=now)
        return plan_, queued

    def notify_missing_releases(self) -> int:
        """Fire ``missing_release`` rules from the clock (no release triggers them).

        Each late period is notified once: it is recorded with its messages in one transaction,
        and periods already recorded are left out. Returns messages queued.
        """
        from monitor.engine import check_missing

        # Each series' newest month: read newest months first, never the whole history.
        late = check_missing(self.store.latest(), self.rules, self.clock.now())
        if not late:
            return 0
        known = self.store.alerts([a.key for a in late])
        late = [a for a in late if a.key not in known]
        queued = 0
        for source in sorted({a.source for a in late}):
            alerts = [a for a in late if a.source == source]
            for alert in alerts:
                log.warning(
                    "missing release: %s %s (source %s)", alert.rule_id, alert.period, source
                )
            _, sent = self.notify(
                [Notice(a) for a in alerts],
                [AlertUpdate(a, ALERT_FIRING, None) for a in alerts],
                source=source,
            )
            queued += sent
        return queued

    def _window_start(self, periods: list[str]) -> str | None:
        """The first month the rules read before the earliest evaluated period: loading only
        that window keeps a release's cost independent of how many years the store holds."""
        if not periods:
            return None
        first = min(period_to_month(p) for p in periods)
        return month_to_period(first - self.rules.lookback_months())

    def _with_history(self, source: str, notices: list[Notice]) -> list[Notice]:
        """Attach each alerted series' last HISTORY_MONTHS months (gaps as None) for charts,
        the partner's share of its total those months for share alerts, and a resolved
        notice's value now: one read of those months for all the alerted series at once."""
        if not notices:
            return notices
        alerts = [n.alert for n in notices]
        keys = pd.DataFrame({k: [getattr(a, k) for a in alerts] for k in SERIES_KEY})
        codes, distinct = pd.factorize(pd.Index([a.period for a in alerts]))
        ends = np.array([period_to_month(p) for p in distinct], dtype=np.int64)[codes]
        first, last = int(ends.min()) - HISTORY_MONTHS + 1, int(ends.max())
        shares = any(a.context.get("condition") in SHARE_CONDITIONS for a in alerts)
        values, totals = self.store.history(
            source, keys, month_to_period(first), month_to_period(last), totals=shares
        )
        self._derived_history(source, alerts, values, first, last)
        labels = [month_to_period(m) for m in range(first, last + 1)]
        rows = _cells(values).tolist()
        share_rows: list[Any] = [None] * len(alerts)
        if totals is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(totals > 0, values / totals * 100.0, np.nan)
            share_rows = _cells(share).tolist()
        out = []
        starts = (ends - first - HISTORY_MONTHS + 1).tolist()
        for notice, lo, row, share_row in zip(notices, starts, rows, share_rows, strict=True):
            shown = labels[lo : lo + HISTORY_MONTHS]
            history = tuple(zip(shown, row[lo : lo + HISTORY_MONTHS], strict=True))
            share_history: tuple[tuple[str, float | None], ...] = ()
            if share_row is not None and notice.alert.context.get("condition") in SHARE_CONDITIONS:
                share_history = tuple(zip(shown, share_row[lo : lo + HISTORY_MONTHS], strict=True))
            current = history[-1][1] if notice.change == CHANGE_RESOLVED else notice.current
            out.append(
                replace(notice, history=history, share_history=share_history, current=current)
            )
        return out

    def _derived_history(
        self, source: str, alerts: list[Alert], values: np.ndarray, first: int, last: int
    ) -> None:
        """Fill the rows of alerts on derived series (sums over codes or partner groups, which
        the store does not hold) with the sums over the same months, as the engine forms them."""
        from monitor.engine.derived import derive
        from monitor.engine.panel import build_panel

        by_aggregate: dict[Any, list[int]] = {}
        for i, alert in enumerate(alerts):
            try:
                aggregate = self.rules.by_id(alert.rule_id).aggregate
            except KeyError:  # a resolved alert of a rule no longer loaded
                continue
            if aggregate is not None:
                by_aggregate.setdefault(aggregate, []).append(i)
        if not by_aggregate:
            return
        window = self.store.window(source, first=month_to_period(first), last=month_to_period(last))
        if window.empty:
            return
        panel = build_panel(window, first, last)
        for aggregate, rows in by_aggregate.items():
            derived = derive(panel, aggregate)
            index = pd.MultiIndex.from_frame(derived.keys[SERIES_KEY].astype("str"))
            wanted = pd.MultiIndex.from_tuples(
                [tuple(getattr(alerts[i], k) for k in SERIES_KEY) for i in rows]
            )
            at = index.get_indexer(wanted)
            found = at >= 0
            offset = derived.month0 - first
            values[np.asarray(rows)[found], offset : offset + derived.n_months] = derived.values[
                at[found]
            ]

    def _source_url(self, source: str) -> str | None:
        url = self.config.source_link(source)
        if url:
            from monitor.http import redact_url

            return redact_url(str(url))
        return None

    def _silences(self) -> ActiveSilences:
        from monitor.notify import silences

        return silences.muting(self.store, self.clock.now())

    def close(self) -> None:
        """Close the source objects it kept and the channels; the store is the caller's to close."""
        for source in self._sources.values():
            source.close()
        for channel in self.channels.values():
            channel.close()


def _cells(values: np.ndarray) -> np.ndarray:
    """An object matrix of the values with None for NaN: a month with no figure is a gap."""
    cells = values.astype(object)
    cells[np.isnan(values)] = None
    return cells


def _with_source(alert: Alert, source: str) -> Alert:
    if alert.source == source:
        return alert
    return replace(alert, source=source)
