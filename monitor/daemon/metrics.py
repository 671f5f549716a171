"""Prometheus metrics of one daemon, on a registry of its own (tests stay independent).

Two kinds: what the store already keeps (polls, failures, last success per source; outbox depth
and permanent failures per channel; open ops incidents per rule) is read at scrape time, so
counters survive restarts and a standby reports the same numbers as the active; what only this
process sees (releases and revisions detected, alerts fired, deliveries, evaluation time,
evaluation failures, rejected input) is counted in memory.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as TallyCounter
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.clock import Clock
from monitor.daemon import ops
from monitor.model import Alert, Release
from monitor.store.base import OUTBOX_FAILED, OUTBOX_PENDING, Store

log = logging.getLogger(__name__)
PREFIX = "customs_monitor"


class StoreCollector(Collector):
    """Reads per-source and outbox figures from the store on every scrape."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock

    def collect(self) -> Iterator[Any]:
        """The store's figures at this scrape: polls and failures per source, the outbox per
        channel, open incidents per ops rule (zeros too); a failing store yields ``store_up`` 0."""
        polls = CounterMetricFamily(f"{PREFIX}_source_polls", "Polls per source", labels=["source"])
        failures = CounterMetricFamily(
            f"{PREFIX}_source_poll_failures", "Failed polls per source", labels=["source"]
        )
        streak = GaugeMetricFamily(
            f"{PREFIX}_source_consecutive_failures",
            "Failed polls in a row per source",
            labels=["source"],
        )
        last_ok = GaugeMetricFamily(
            f"{PREFIX}_source_last_success_timestamp_seconds",
            "Unix time of the last successful poll",
            labels=["source"],
        )
        depth = GaugeMetricFamily(
            f"{PREFIX}_outbox_depth", "Messages waiting to be delivered", labels=["channel"]
        )
        oldest = GaugeMetricFamily(
            f"{PREFIX}_outbox_oldest_pending_timestamp_seconds",
            "Creation time of the oldest waiting message",
            labels=["channel"],
        )
        dead = GaugeMetricFamily(
            f"{PREFIX}_outbox_failed", "Messages that failed permanently", labels=["channel"]
        )
        incidents = GaugeMetricFamily(
            f"{PREFIX}_incidents_open",
            "Open ops incidents (failing source, stuck channel, release failing to evaluate...)",
            labels=["rule"],
        )
        up = GaugeMetricFamily(f"{PREFIX}_store_up", "1 if the state store answered this scrape")
        try:
            states = self.store.source_states()
            pending = self.store.outbox(state=OUTBOX_PENDING)
            failed = self.store.outbox(state=OUTBOX_FAILED)
            open_ = ops.open_incidents(self.store)
        except Exception as exc:  # a scrape must answer even when the store won't
            log.warning("metrics: store unreachable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for st in states:
            polls.add_metric([st.source], st.polls)
            failures.add_metric([st.source], st.failures)
            streak.add_metric([st.source], st.consecutive_failures)
            if st.last_success_at is not None:
                last_ok.add_metric([st.source], st.last_success_at.timestamp())
        for channel, n in sorted(TallyCounter(m.channel for m in pending).items()):
            depth.add_metric([channel], n)
        firsts: dict[str, datetime] = {}
        for m in pending:
            if m.created_at is not None and (
                m.channel not in firsts or m.created_at < firsts[m.channel]
            ):
                firsts[m.channel] = m.created_at
        for channel, when in sorted(firsts.items()):
            oldest.add_metric([channel], when.timestamp())
        for channel, n in sorted(TallyCounter(m.channel for m in failed).items()):
            dead.add_metric([channel], n)
        per_rule = TallyCounter(rule for rule, _ in open_)
        for rule in ops.RULES:  # zeros too: `== 0` and absent series differ in alerting
            incidents.add_metric([rule], per_rule.get(rule, 0))
        yield from (up, polls, failures, streak, last_ok, depth, oldest, dead, incidents)


class Metrics:
    """The daemon's registry plus the in-process counters the service's jobs feed."""

    def __init__(self, store: Store | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.releases = Counter(
            f"{PREFIX}_releases", "Releases (new periods) detected", ["source"], registry=r
        )
        self.revisions = Counter(
            f"{PREFIX}_revisions", "Revisions (changed periods) detected", ["source"], registry=r
        )
        self.alerts = Counter(
            f"{PREFIX}_alerts_fired", "Alerts fired per rule", ["rule"], registry=r
        )
        self.deliveries = Counter(
            f"{PREFIX}_deliveries", "Messages delivered per channel", ["channel"], registry=r
        )
        self.delivery_failures = Counter(
            f"{PREFIX}_delivery_failures",
            "Failed delivery attempts per channel",
            ["channel", "permanent"],
            registry=r,
        )
        self.evaluation_failures = Counter(
            f"{PREFIX}_evaluation_failures",
            "Releases that failed to evaluate (source 'all': a whole pass failed)",
            ["source"],
            registry=r,
        )
        self.rejections = Counter(
            f"{PREFIX}_rejections",
            "Rows a poll refused to store while it stored the rest (bad_rows: skip)",
            ["source"],
            registry=r,
        )
        self.evaluation = Histogram(
            f"{PREFIX}_evaluation_duration_seconds",
            "Time to evaluate the rules on one release",
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.active = Gauge(
            f"{PREFIX}_ha_active",
            "1 while this instance holds the lease and does the work",
            registry=r,
        )
        self.started = Gauge(
            f"{PREFIX}_start_time_seconds", "Unix time the daemon started", registry=r
        )
        self.started.set(time.time())
        if store is not None:
            r.register(StoreCollector(store))

    def observe_release(self, release: Release) -> None:
        """Count a release once as a release if it has new periods, once as a revision if it has
        revised ones; an empty release counts nothing."""
        if release.is_empty:
            return
        if release.new_periods:
            self.releases.labels(release.source).inc()
        if release.revised_periods:
            self.revisions.labels(release.source).inc()

    def observe_alerts(self, alerts: Iterable[Alert]) -> None:
        """Count each alert as fired under its rule (the service passes only new ones)."""
        for alert in alerts:
            self.alerts.labels(alert.rule_id).inc()

    def observe_evaluation_failure(self, source: str) -> None:
        """Count a release of ``source`` that failed to evaluate (``ops.ALL_SOURCES``: a pass
        that failed as a whole)."""
        self.evaluation_failures.labels(source).inc()

    def observe_rejections(self, source: str, count: int) -> None:
        """Add ``count`` rows a poll of ``source`` refused, storing the rest (bad_rows: skip)."""
        if count:
            self.rejections.labels(source).inc(count)

    def observe_delivery(self, channel: str, *, ok: bool, permanent: bool = False) -> None:
        """Count one delivery attempt on ``channel``: a delivery when ``ok``, else a failure
        labelled by ``permanent``."""
        if ok:
            self.deliveries.labels(channel).inc()
        else:
            self.delivery_failures.labels(channel, "true" if permanent else "false").inc()

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format, as /metrics serves it; reads the store."""
        return generate_latest(self.registry)
